package main

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

var (
	ipA = netip.MustParseAddr("203.0.113.1")
	ipB = netip.MustParseAddr("203.0.113.2")
)

func TestLimiterBurstAndRefill(t *testing.T) {
	clk := newFakeClock()
	l := newClientLimiter(2, 3, time.Minute, 100, clk.Now) // 2/s, burst 3

	// A full bucket allows exactly the burst.
	for i := 0; i < 3; i++ {
		if ok, _ := l.allow(ipA); !ok {
			t.Fatalf("request %d of the burst denied", i+1)
		}
	}
	ok, wait := l.allow(ipA)
	if ok {
		t.Fatal("request beyond the burst allowed")
	}
	if wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("wait = %s, want (0, 500ms] at 2 tokens/s", wait)
	}
	// Other clients have their own bucket.
	if ok, _ := l.allow(ipB); !ok {
		t.Fatal("a different client was limited")
	}
	// Refill: after 500ms one token is back, not two.
	clk.Advance(500 * time.Millisecond)
	if ok, _ := l.allow(ipA); !ok {
		t.Fatal("no token after refill")
	}
	if ok, _ := l.allow(ipA); ok {
		t.Fatal("refill produced more than rate*elapsed tokens")
	}
	// The bucket never holds more than the burst, however long the idle time.
	clk.Advance(time.Hour)
	allowed := 0
	for i := 0; i < 10; i++ {
		if ok, _ := l.allow(ipA); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("after a long idle period %d allowed, want burst 3", allowed)
	}
}

func TestLimiterRetryAfter(t *testing.T) {
	tests := []struct {
		rps       float64
		burst     int
		wantRetry int
	}{
		{rps: 10, burst: 1, wantRetry: 1},     // 100ms rounds up to 1s
		{rps: 1, burst: 1, wantRetry: 1},      // exactly 1s
		{rps: 0.25, burst: 1, wantRetry: 4},   // one token every 4s
		{rps: 0.1, burst: 2, wantRetry: 10},   // one token every 10s
		{rps: 0.3, burst: 1, wantRetry: 4},    // 3.33s rounds up
		{rps: 100, burst: 50, wantRetry: 1},   // tiny waits are still 1
		{rps: 0.01, burst: 1, wantRetry: 100}, // slow limits are not capped
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%g/s burst %d", tc.rps, tc.burst), func(t *testing.T) {
			clk := newFakeClock()
			l := newClientLimiter(tc.rps, tc.burst, time.Minute, 10, clk.Now)
			for i := 0; i < tc.burst; i++ {
				l.allow(ipA)
			}
			ok, wait := l.allow(ipA)
			if ok {
				t.Fatal("expected a denial")
			}
			if got := retryAfterSeconds(wait); got != tc.wantRetry {
				t.Fatalf("Retry-After = %d (wait %s), want %d", got, wait, tc.wantRetry)
			}
			// Waiting as long as Retry-After says is always enough.
			clk.Advance(time.Duration(retryAfterSeconds(wait)) * time.Second)
			if ok, _ := l.allow(ipA); !ok {
				t.Fatal("still limited after waiting Retry-After")
			}
		})
	}
}

func TestLimiterExtremeRates(t *testing.T) {
	clk := newFakeClock()
	l := newClientLimiter(1e-12, 1<<40, time.Minute, 10, clk.Now)
	if l.ttl != maxWait {
		t.Fatalf("ttl = %s, want the %s bound", l.ttl, maxWait)
	}
	l = newClientLimiter(1e-12, 1, time.Minute, 10, clk.Now)
	l.allow(ipA)
	ok, wait := l.allow(ipA)
	if ok || wait != maxWait {
		t.Fatalf("allow = %v, %s; want a denial bounded by %s", ok, wait, maxWait)
	}
}

func TestLimiterIdleExpiry(t *testing.T) {
	clk := newFakeClock()
	l := newClientLimiter(10, 5, time.Minute, 1000, clk.Now)
	for i := 0; i < 50; i++ {
		l.allow(netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}))
	}
	clk.Advance(30 * time.Second)
	l.allow(ipA) // recently active
	if n := l.size(); n != 51 {
		t.Fatalf("size = %d, want 51", n)
	}
	if n := l.sweep(); n != 0 {
		t.Fatalf("swept %d before the TTL", n)
	}
	clk.Advance(31 * time.Second) // the 50 are now 61s idle, ipA 31s
	if n := l.sweep(); n != 50 {
		t.Fatalf("swept %d, want 50", n)
	}
	if n := l.size(); n != 1 {
		t.Fatalf("size after sweep = %d, want 1", n)
	}
}

func TestLimiterTTLAtLeastRefillTime(t *testing.T) {
	// Burst 100 at 1/s refills in 100s; a 10s TTL would let a client drain
	// its bucket, wait 10s for expiry and get 100 fresh tokens.
	clk := newFakeClock()
	l := newClientLimiter(1, 100, 10*time.Second, 10, clk.Now)
	if l.ttl != 100*time.Second {
		t.Fatalf("ttl = %s, want 100s", l.ttl)
	}
	for i := 0; i < 100; i++ {
		l.allow(ipA)
	}
	clk.Advance(11 * time.Second)
	l.sweep()
	allowed := 0
	for i := 0; i < 100; i++ {
		if ok, _ := l.allow(ipA); ok {
			allowed++
		}
	}
	if allowed != 11 {
		t.Fatalf("allowed %d after 11s, want 11 (rate * elapsed)", allowed)
	}
}

func TestLimiterHardCap(t *testing.T) {
	for _, maxClients := range []int{1, 7, 32, 100, 1000} {
		clk := newFakeClock()
		l := newClientLimiter(1, 1, time.Hour, maxClients, clk.Now)
		for i := 0; i < 5000; i++ {
			l.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		}
		if n := l.size(); n > maxClients {
			t.Fatalf("max %d: tracking %d buckets", maxClients, n)
		}
		if l.evictions.Load() == 0 {
			t.Fatalf("max %d: no evictions recorded", maxClients)
		}
	}
}

func TestLimiterIPv6Slash64SharesBucket(t *testing.T) {
	clk := newFakeClock()
	l := newClientLimiter(1, 2, time.Minute, 100, clk.Now)
	a1 := netip.MustParseAddr("2001:db8:1:2::1")
	a2 := netip.MustParseAddr("2001:db8:1:2:ffff::9") // same /64
	a3 := netip.MustParseAddr("2001:db8:1:3::1")      // other /64
	l.allow(a1)
	l.allow(a2)
	if ok, _ := l.allow(a1); ok {
		t.Fatal("addresses in one /64 should share a bucket")
	}
	if ok, _ := l.allow(a3); !ok {
		t.Fatal("another /64 should have its own bucket")
	}
}

func TestLimiterConcurrentUse(t *testing.T) {
	// Run with -race: many goroutines, sweeps and evictions at once.
	clk := newFakeClock()
	l := newClientLimiter(1000, 10, time.Second, 64, clk.Now)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				l.allow(netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i)}))
				if i%500 == 0 {
					clk.Advance(time.Second)
					l.sweep()
				}
			}
		}(g)
	}
	wg.Wait()
	if n := l.size(); n > 64 {
		t.Fatalf("size %d exceeds the cap", n)
	}
}
