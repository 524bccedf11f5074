package main

import (
	"context"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// clientLimiter keeps one token bucket (golang.org/x/time/rate) per client
// address.
//
// Memory stays bounded two ways:
//   - a janitor drops buckets idle for longer than the idle TTL. The TTL is
//     never shorter than the time an empty bucket needs to refill, so dropping
//     one changes nothing: a returning client gets the full bucket it would
//     have had anyway;
//   - a hard cap on tracked buckets. When a shard is full, a new client
//     replaces an arbitrary existing bucket (Go's map iteration order is
//     randomised). The worst an attacker with more addresses than the cap can
//     do is hand some clients a fresh burst; the global concurrency cap still
//     bounds the load.
//
// The clock is injected so tests control time instead of sleeping.
type clientLimiter struct {
	limit rate.Limit
	burst int
	ttl   time.Duration
	now   func() time.Time

	shards    []limiterShard
	evictions atomic.Uint64
}

type limiterShard struct {
	mu  sync.Mutex
	m   map[netip.Addr]*bucket
	max int
	_   [40]byte // keep shards' locks on separate cache lines
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen int64 // unix nanoseconds, guarded by the shard lock
}

const maxLimiterShards = 32

func newClientLimiter(rps float64, burst int, idleTTL time.Duration, maxClients int, now func() time.Time) *clientLimiter {
	if now == nil {
		now = time.Now
	}
	if burst < 1 {
		burst = 1
	}
	if maxClients < 1 {
		maxClients = 1
	}
	// An idle bucket refills completely in burst/rps; keep it at least that
	// long so expiry never hands out extra tokens.
	if rps > 0 {
		if refill := math.Min(float64(burst)/rps, maxWait.Seconds()); refill > idleTTL.Seconds() {
			idleTTL = time.Duration(refill * float64(time.Second))
		}
	}
	n := min(maxLimiterShards, maxClients)
	l := &clientLimiter{
		limit:  rate.Limit(rps),
		burst:  burst,
		ttl:    idleTTL,
		now:    now,
		shards: make([]limiterShard, n),
	}
	// Split the cap exactly: the sum of the shard caps is maxClients.
	for i := range l.shards {
		l.shards[i].max = maxClients / n
		if i < maxClients%n {
			l.shards[i].max++
		}
		l.shards[i].m = make(map[netip.Addr]*bucket)
	}
	return l
}

// limiterKey maps an address to its bucket. IPv6 clients are keyed by their
// /64: one subscriber usually holds a whole /64 and could otherwise rotate
// through addresses to get a fresh bucket per request.
func limiterKey(a netip.Addr) netip.Addr {
	if a.Is6() && !a.Is4In6() {
		p, err := a.WithZone("").Prefix(64)
		if err == nil {
			return p.Addr()
		}
	}
	return a
}

func (l *clientLimiter) shardFor(k netip.Addr) *limiterShard {
	b := k.As16()
	var h uint64
	for _, c := range b {
		h = (h ^ uint64(c)) * 0x100000001b3 // FNV-1a
	}
	return &l.shards[h%uint64(len(l.shards))]
}

// allow takes one token for addr. When there is none it returns false and how
// long until one will be available.
func (l *clientLimiter) allow(addr netip.Addr) (bool, time.Duration) {
	now := l.now()
	k := limiterKey(addr)
	s := l.shardFor(k)

	s.mu.Lock()
	b := s.m[k]
	if b == nil {
		if len(s.m) >= s.max {
			for victim := range s.m {
				delete(s.m, victim)
				l.evictions.Add(1)
				break
			}
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		s.m[k] = b
	}
	b.lastSeen = now.UnixNano()
	s.mu.Unlock()

	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	if l.limit <= 0 {
		return false, maxWait
	}
	secs := math.Min((1-b.lim.TokensAt(now))/float64(l.limit), maxWait.Seconds())
	return false, time.Duration(secs * float64(time.Second))
}

// maxWait bounds Retry-After and the idle TTL, so absurdly slow limits cannot
// overflow a time.Duration.
const maxWait = 24 * time.Hour

// sweep drops buckets idle for longer than the TTL and reports how many it
// dropped. One shard is locked at a time, so requests never wait for a whole
// sweep.
func (l *clientLimiter) sweep() int {
	cutoff := l.now().Add(-l.ttl).UnixNano()
	dropped := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for k, b := range s.m {
			if b.lastSeen < cutoff {
				delete(s.m, k)
				dropped++
			}
		}
		s.mu.Unlock()
	}
	return dropped
}

// size is the number of tracked buckets.
func (l *clientLimiter) size() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// janitor sweeps every interval until ctx is done.
func (l *clientLimiter) janitor(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.sweep()
		}
	}
}

// janitorInterval sweeps a few times per TTL, but not more than once a second.
func (l *clientLimiter) janitorInterval() time.Duration {
	return max(time.Second, l.ttl/4)
}

// retryAfterSeconds renders a wait as a Retry-After value: whole seconds,
// rounded up, at least 1.
func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(s, 1)
}
