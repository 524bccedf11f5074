package main

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted, err := parsePrefixes("10.0.0.0/16,127.0.0.1,2001:db8:aa::/48")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		trusted bool // resolver configured with TRUSTED_PROXIES
		remote  string
		xff     []string // one entry per header line
		want    string
	}{
		{"no proxies configured: XFF ignored", false, "10.0.1.5:1234", []string{"203.0.113.9"}, "10.0.1.5"},
		{"untrusted peer: XFF ignored", true, "198.51.100.7:5555", []string{"203.0.113.9"}, "198.51.100.7"},
		{"trusted peer, no XFF", true, "10.0.1.5:1234", nil, "10.0.1.5"},
		{"trusted peer: rightmost entry", true, "10.0.1.5:1234", []string{"203.0.113.9"}, "203.0.113.9"},
		{"client-supplied entries left of the real one are ignored", true, "10.0.1.5:1234",
			[]string{"1.1.1.1, 2.2.2.2, 203.0.113.9"}, "203.0.113.9"},
		{"trusted hops are skipped", true, "10.0.1.5:1234",
			[]string{"6.6.6.6, 203.0.113.9, 10.0.7.7, 10.0.3.3"}, "203.0.113.9"},
		{"several header lines read right to left", true, "10.0.1.5:1234",
			[]string{"6.6.6.6", "203.0.113.9, 10.0.3.3"}, "203.0.113.9"},
		{"all hops trusted: leftmost trusted", true, "10.0.1.5:1234",
			[]string{"10.0.9.9, 10.0.3.3"}, "10.0.9.9"},
		{"garbage after trusted hops: last verified hop", true, "10.0.1.5:1234",
			[]string{"203.0.113.9, not-an-ip, 10.0.3.3"}, "10.0.3.3"},
		{"garbage as the only entry: the peer", true, "10.0.1.5:1234", []string{"unknown"}, "10.0.1.5"},
		{"empty items are skipped", true, "10.0.1.5:1234", []string{"203.0.113.9,, ,"}, "203.0.113.9"},
		{"entry with port", true, "10.0.1.5:1234", []string{"203.0.113.9:4711"}, "203.0.113.9"},
		{"IPv6 entry with port", true, "10.0.1.5:1234", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"IPv6 trusted peer", true, "[2001:db8:aa::5]:80", []string{"2001:db8:bb::1"}, "2001:db8:bb::1"},
		{"IPv4-mapped peer is unmapped", true, "[::ffff:10.0.1.5]:80", []string{"203.0.113.9"}, "203.0.113.9"},
		{"IPv4-mapped entry is unmapped", true, "10.0.1.5:80", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"loopback proxy (benchmarks)", true, "127.0.0.1:5000", []string{"198.18.3.4"}, "198.18.3.4"},
		{"unparseable RemoteAddr", true, "pipe", []string{"203.0.113.9"}, "invalid IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ipResolver{}
			if tc.trusted {
				r.trusted = trusted
			}
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := r.clientIP(req).String(); got != tc.want {
				t.Fatalf("clientIP = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestClientIPHopLimit(t *testing.T) {
	r := ipResolver{trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.0.1:1"
	xff := "203.0.113.9"
	for i := 0; i < maxForwardedHops+5; i++ {
		xff += ", 10.1.1.1"
	}
	req.Header.Set("X-Forwarded-For", xff)
	// The walk stops after maxForwardedHops and answers with a trusted hop.
	if got := r.clientIP(req); got != netip.MustParseAddr("10.1.1.1") {
		t.Fatalf("clientIP = %s", got)
	}
}
