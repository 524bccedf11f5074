package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRoutes(t *testing.T) {
	oldSHA, oldBuilt := sha, built
	sha, built = "abc1234", "2026-01-02T03:04:05Z"
	defer func() { sha, built = oldSHA, oldBuilt }()

	a := newTestApp(testConfig(func(c *config) { c.AppEnv = "staging" }), nil, "", nil)
	tests := []struct {
		method, path string
		status       int
		body         map[string]string // expected JSON fields (subset)
		allow        string
	}{
		{"GET", "/", 200, map[string]string{"sha": "abc1234", "built": "2026-01-02T03:04:05Z", "env": "staging"}, ""},
		{"HEAD", "/", 200, nil, ""},
		{"GET", "/version", 200, map[string]string{"sha": "abc1234", "built": "2026-01-02T03:04:05Z", "go": runtime.Version()}, ""},
		{"GET", "/healthz", 200, map[string]string{"status": "ok"}, ""},
		{"GET", "/readyz", 200, map[string]string{"status": "ok"}, ""},
		{"GET", "/nope", 404, map[string]string{"error": "not found"}, ""},
		{"GET", "/healthz/", 404, nil, ""},
		{"GET", "/index.html", 404, nil, ""},
		{"POST", "/", 405, map[string]string{"error": "method not allowed"}, "GET, HEAD"},
		{"DELETE", "/version", 405, nil, "GET, HEAD"},
		{"PUT", "/healthz", 405, nil, "GET, HEAD"},
		{"OPTIONS", "/readyz", 405, nil, "GET, HEAD"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := do(a, tc.method, tc.path, "192.0.2.1:1000", nil)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if rec.Header().Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			if tc.method != "HEAD" && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type = %q", rec.Header().Get("Content-Type"))
			}
			if tc.body != nil {
				var got map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatalf("body %q: %v", rec.Body, err)
				}
				for k, v := range tc.body {
					if got[k] != v {
						t.Errorf("body[%s] = %q, want %q", k, got[k], v)
					}
				}
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	a := newTestApp(testConfig(nil), nil, "", nil)
	tests := []struct {
		in   string
		echo bool
	}{
		{"", false},
		{"abc-123", true},
		{"Root=1-67891233-abcdef012345678912345678", true},
		{strings.Repeat("x", 128), true},
		{strings.Repeat("x", 129), false},
		{"has space", false},
		{`quote"`, false},
		{"new\nline", false},
		{"ünïcode", false},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Header["X-Request-Id"] = []string{tc.in} // bypass Set's canonicalisation
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-Id")
		if tc.echo && got != tc.in {
			t.Errorf("%q: echoed %q", tc.in, got)
		}
		if !tc.echo {
			if got == tc.in || !validRequestID(got) || seen[got] {
				t.Errorf("%q: generated id %q is not fresh and valid", tc.in, got)
			}
			seen[got] = true
		}
	}
}

func TestAccessLog(t *testing.T) {
	var buf syncBuffer
	a := newTestApp(testConfig(func(c *config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	}), &buf, "", nil)
	do(a, "GET", "/version?x=1", "10.0.0.2:5000", map[string]string{
		"X-Request-Id":    "req-42",
		"X-Forwarded-For": "203.0.113.50",
		"User-Agent":      "tester/1",
		"X-Amzn-Trace-Id": "Root=1-abc",
	})
	var rec map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(buf.String())), &rec); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	want := map[string]any{
		"level": "INFO", "msg": "request", "request_id": "req-42", "method": "GET", "path": "/version",
		"status": 200.0, "client_ip": "203.0.113.50", "peer": "10.0.0.2:5000", "user_agent": "tester/1",
		"trace_id": "Root=1-abc",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("log[%s] = %v, want %v", k, rec[k], v)
		}
	}
	if b, _ := rec["bytes"].(float64); b <= 0 {
		t.Errorf("bytes = %v", rec["bytes"])
	}
	if _, ok := rec["duration_ms"].(float64); !ok {
		t.Errorf("duration_ms = %v", rec["duration_ms"])
	}

	// Health probes are logged at debug level only.
	var buf2 syncBuffer
	quiet := newTestApp(testConfig(nil), &buf2, "info", nil)
	do(quiet, "GET", "/healthz", "", nil)
	do(quiet, "GET", "/readyz", "", nil)
	if buf2.String() != "" {
		t.Errorf("health probes logged at info: %s", buf2.String())
	}
}

func TestRateLimitHTTP(t *testing.T) {
	clk := newFakeClock()
	var logs syncBuffer
	a := newTestApp(testConfig(func(c *config) {
		c.RateRPS, c.RateBurst = 1, 3
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	}), &logs, "", clk.Now)

	client := func(xff string) map[string]string { return map[string]string{"X-Forwarded-For": xff} }
	for i := 0; i < 3; i++ {
		if rec := do(a, "GET", "/", "10.0.0.2:1", client("203.0.113.1")); rec.Code != 200 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	rec := do(a, "GET", "/", "10.0.0.2:1", client("203.0.113.1"))
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("4th request: %d, want 429", rec.Code)
	}
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra != 1 {
		t.Fatalf("Retry-After = %q, want 1", rec.Header().Get("Retry-After"))
	}
	// Unknown paths and wrong methods spend tokens too (scanners are limited).
	if rec := do(a, "GET", "/wp-admin", "10.0.0.2:1", client("203.0.113.1")); rec.Code != 429 {
		t.Fatalf("404 path not limited: %d", rec.Code)
	}
	// The same proxy forwarding another client: separate bucket.
	if rec := do(a, "GET", "/", "10.0.0.2:1", client("203.0.113.2")); rec.Code != 200 {
		t.Fatalf("other client: %d", rec.Code)
	}
	// A client cannot escape by writing its own X-Forwarded-For entries.
	if rec := do(a, "GET", "/", "10.0.0.2:1", client("9.9.9.9, 203.0.113.1")); rec.Code != 429 {
		t.Fatalf("spoofed XFF escaped the limit: %d", rec.Code)
	}
	// Health endpoints are exempt, so the ALB health checker never gets 429.
	for i := 0; i < 20; i++ {
		for _, p := range []string{"/healthz", "/readyz"} {
			if rec := do(a, "GET", p, "10.0.0.2:1", client("203.0.113.1")); rec.Code != 200 {
				t.Fatalf("%s: %d", p, rec.Code)
			}
		}
	}
	clk.Advance(time.Second)
	if rec := do(a, "GET", "/", "10.0.0.2:1", client("203.0.113.1")); rec.Code != 200 {
		t.Fatalf("after refill: %d", rec.Code)
	}
	if !strings.Contains(logs.String(), `"status":429`) {
		t.Error("429 not in the access log")
	}
}

func TestRateLimitDisabled(t *testing.T) {
	a := newTestApp(testConfig(func(c *config) { c.RateRPS = 0 }), nil, "", nil)
	for i := 0; i < 500; i++ {
		if rec := do(a, "GET", "/", "192.0.2.1:1", nil); rec.Code != 200 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
}

func TestConcurrencyCap(t *testing.T) {
	a := newTestApp(testConfig(func(c *config) { c.MaxConcurrent = 2; c.RateRPS = 0 }), nil, "", nil)
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	a.handle("/slow", route{methods: []string{"GET"}, handle: func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(200)
	}})

	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- do(a, "GET", "/slow", fmt.Sprintf("192.0.2.%d:1", i+1), nil).Code
		}()
	}
	<-entered
	<-entered

	rec := do(a, "GET", "/", "192.0.2.9:1", nil)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("over the cap: %d Retry-After=%q, want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Health checks still answer while the task is saturated.
	if rec := do(a, "GET", "/healthz", "192.0.2.9:1", nil); rec.Code != 200 {
		t.Fatalf("healthz while saturated: %d", rec.Code)
	}
	if rec := do(a, "GET", "/readyz", "192.0.2.9:1", nil); rec.Code != 200 {
		t.Fatalf("readyz while saturated: %d", rec.Code)
	}
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("slow request: %d", c)
		}
	}
	// Slots are given back.
	for i := 0; i < 5; i++ {
		if rec := do(a, "GET", "/", "192.0.2.9:1", nil); rec.Code != 200 {
			t.Fatalf("after release: %d", rec.Code)
		}
	}
}

func TestPanicRecovered(t *testing.T) {
	var logs syncBuffer
	a := newTestApp(testConfig(func(c *config) { c.MaxConcurrent = 1 }), &logs, "", nil)
	a.handle("/boom", route{methods: []string{"GET"}, handle: func(http.ResponseWriter, *http.Request) { panic("kaboom") }})
	if rec := do(a, "GET", "/boom", "", nil); rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	if !strings.Contains(logs.String(), "kaboom") {
		t.Error("panic not logged")
	}
	// The concurrency slot was released despite the panic.
	if rec := do(a, "GET", "/", "", nil); rec.Code != 200 {
		t.Fatalf("after panic: %d", rec.Code)
	}
}

func TestReadinessWhileDraining(t *testing.T) {
	a := newTestApp(testConfig(nil), nil, "", nil)
	a.drain()
	rec := do(a, "GET", "/readyz", "", nil)
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "draining") {
		t.Fatalf("readyz while draining: %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("Connection") != "close" {
		t.Error("no Connection: close while draining")
	}
	if rec := do(a, "GET", "/healthz", "", nil); rec.Code != 200 {
		t.Fatalf("healthz while draining (liveness must stay up): %d", rec.Code)
	}
	if rec := do(a, "GET", "/", "", nil); rec.Code != 200 {
		t.Fatalf("/ while draining: %d", rec.Code)
	}
}

func BenchmarkServeHTTP(b *testing.B) {
	for _, bc := range []struct {
		name  string
		mod   func(*config)
		level string
	}{
		{"bare", func(c *config) { c.RateRPS = 0; c.MaxConcurrent = 0 }, "warn"},
		{"limiter+cap", func(c *config) { c.RateRPS, c.RateBurst = 1e9, 1e9 }, "warn"},
		{"limiter+cap+accesslog", func(c *config) { c.RateRPS, c.RateBurst = 1e9, 1e9 }, "info"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a := newTestApp(testConfig(bc.mod), io.Discard, bc.level, nil)
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = "192.0.2.1:1234"
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w := httptest.NewRecorder()
					a.ServeHTTP(w, req)
				}
			})
		})
	}
}

func TestRejectionLogsAreSampled(t *testing.T) {
	clk := newFakeClock()
	var logs syncBuffer
	a := newTestApp(testConfig(func(c *config) { c.RateRPS, c.RateBurst = 1, 1 }), &logs, "info", clk.Now)
	do(a, "GET", "/", "192.0.2.1:1", nil) // the one allowed request
	for i := 0; i < 500; i++ {
		if rec := do(a, "GET", "/", "192.0.2.1:1", nil); rec.Code != 429 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	count := func() int { return strings.Count(logs.String(), `"status":429`) }
	if n := count(); n != rejectLogBurst {
		t.Fatalf("%d rejection lines for 500 rejections, want the burst %d", n, rejectLogBurst)
	}
	// Later, the next logged rejection reports how many were skipped.
	clk.Advance(time.Second)
	do(a, "GET", "/", "192.0.2.1:1", nil) // allowed again (refill)
	do(a, "GET", "/", "192.0.2.1:1", nil) // rejected, logged
	want := fmt.Sprintf(`"rejections_not_logged":%d`, 500-rejectLogBurst)
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("no %s in the log", want)
	}
	// Successful requests are never sampled away.
	if n := strings.Count(logs.String(), `"status":200`); n != 2 {
		t.Fatalf("%d lines for 2 successful requests", n)
	}
}
