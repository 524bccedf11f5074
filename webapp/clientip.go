package main

import (
	"net/http"
	"net/netip"
	"strings"
)

// ipResolver decides which address a request is "from" for rate limiting and
// logs.
//
// X-Forwarded-For is written by whoever the client is, so it is only believed
// when the direct peer is a trusted proxy (TRUSTED_PROXIES, e.g. the VPC CIDR
// the ALB lives in). Each proxy appends the address it received the
// connection from, so the list is read right to left: skip addresses that are
// themselves trusted proxies and take the first (rightmost) untrusted one.
// Anything the client wrote further left is never looked at, so it cannot
// choose its own rate-limit bucket.
type ipResolver struct {
	trusted []netip.Prefix
}

// maxForwardedHops bounds the right-to-left walk so a long header made only
// of trusted addresses cannot cost more than a few parses.
const maxForwardedHops = 16

func (r ipResolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address of the TCP peer. The zero Addr when RemoteAddr is
// not parseable (never the case for a real listener).
func peerAddr(req *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.RemoteAddr)
	if err != nil {
		// httptest and some wrappers use a bare IP.
		a, err := netip.ParseAddr(req.RemoteAddr)
		if err != nil {
			return netip.Addr{}
		}
		return a.Unmap().WithZone("")
	}
	return ap.Addr().Unmap().WithZone("")
}

// clientIP returns the client address as described on ipResolver.
func (r ipResolver) clientIP(req *http.Request) netip.Addr {
	peer := peerAddr(req)
	if len(r.trusted) == 0 || !peer.IsValid() || !r.isTrusted(peer) {
		return peer
	}
	values := req.Header.Values("X-Forwarded-For")
	// candidate is the leftmost trusted hop seen so far: if the chain ends, or
	// turns into something unparseable, that hop is the best we can vouch for.
	candidate := peer
	hops := 0
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			var item string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				item, v = v[j+1:], v[:j]
			} else {
				item, v = v, ""
			}
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			hops++
			a, ok := parseForwardedAddr(item)
			if !ok || hops > maxForwardedHops {
				return candidate
			}
			if !r.isTrusted(a) {
				return a
			}
			candidate = a
		}
	}
	return candidate
}

// parseForwardedAddr accepts an IP, optionally with a port ("1.2.3.4:80",
// "[2001:db8::1]:443"), as some proxies write them.
func parseForwardedAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}
