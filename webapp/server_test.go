package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// liveServer is the real server on 127.0.0.1:0, run by serve() as main does.
type liveServer struct {
	addr   string
	app    *app
	cancel context.CancelFunc // what SIGTERM does in main
	done   chan error         // serve's result
	logs   *syncBuffer
}

func startLive(t *testing.T, cfg config, setup func(*app)) *liveServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	sink := newAccessLog(logs)
	logger := testLogger(sink)
	a := newApp(cfg, logger, sink, nil)
	if setup != nil {
		setup(a)
	}
	srv := newServer(cfg, a, logger)
	ctx, cancel := context.WithCancel(context.Background())
	s := &liveServer{addr: ln.Addr().String(), app: a, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { s.done <- serve(ctx, ln, srv, a, cfg, logger) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return s
}

func (s *liveServer) url(path string) string { return "http://" + s.addr + path }

// get uses a fresh connection each time so requests are independent.
func (s *liveServer) get(t *testing.T, path string) (int, http.Header, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(s.url(path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// raw writes bytes on a new TCP connection and returns the status line.
func (s *liveServer) raw(t *testing.T, payload string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, payload); err != nil {
		t.Fatalf("write: %v", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && line == "" {
		return "ERR " + err.Error()
	}
	return strings.TrimSpace(line)
}

func fastConfig(mod func(*config)) config {
	return testConfig(func(c *config) {
		c.ReadHeaderTimeout = 300 * time.Millisecond
		c.ReadTimeout = 2 * time.Second
		c.WriteTimeout = 2 * time.Second
		c.IdleTimeout = 2 * time.Second
		c.MaxHeaderBytes = 8 << 10
		c.DrainTimeout = 5 * time.Second
		c.RateRPS = 0
		if mod != nil {
			mod(c)
		}
	})
}

func TestBadInput(t *testing.T) {
	s := startLive(t, fastConfig(nil), nil)
	huge := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"
	manyHeaders := "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-H: v\r\n", 4000) + "\r\n"
	tests := []struct {
		name, payload, want string
	}{
		{"valid raw request", "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK"},
		{"huge header", huge, "HTTP/1.1 431 Request Header Fields Too Large"},
		{"too many headers", manyHeaders, "HTTP/1.1 431 Request Header Fields Too Large"},
		{"header without colon", "GET / HTTP/1.1\r\nHost: x\r\nnonsense\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"space in header name", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"control char in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"missing Host on 1.1", "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"garbage request line", "HELLO\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"unsupported protocol", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
		{"bad content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"duplicate conflicting content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "HTTP/1.1 400 Bad Request"},
		{"TLS hello on plain HTTP", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "HTTP/1.1 400 Bad Request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.raw(t, tc.payload); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("status line %q, want %q", got, tc.want)
			}
			// The server is still up for everyone else.
			if code, _, _ := s.get(t, "/healthz"); code != 200 {
				t.Fatalf("healthz after bad input: %d", code)
			}
		})
	}
}

func TestSlowloris(t *testing.T) {
	s := startLive(t, fastConfig(nil), nil)

	// Many connections trickle header bytes and never finish.
	const slow = 40
	var closed atomic.Int32
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < slow; i++ {
		conn, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := io.WriteString(conn, "X-Slow: 1\r\n"); err != nil {
						closed.Add(1) // the server hung up on us
						return
					}
				}
			}
		}()
	}

	// Meanwhile normal clients are served promptly.
	for i := 0; i < 10; i++ {
		start := time.Now()
		if code, _, _ := s.get(t, "/"); code != 200 {
			t.Fatalf("normal request during slowloris: %d", code)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("normal request took %s during slowloris", d)
		}
	}

	// ReadHeaderTimeout (300ms) cuts every slow connection off.
	waitFor(t, "slow connections to be closed", 5*time.Second, func() bool { return closed.Load() == slow })
	close(stop)
	wg.Wait()
}

func TestSlowHeaderConnectionIsClosed(t *testing.T) {
	s := startLive(t, fastConfig(nil), nil)
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n") // never finished
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = conn.Read(make([]byte, 512))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server kept a half-sent request open for 5s")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closed after %s, want about ReadHeaderTimeout", d)
	}
}

// blockingRoute adds /slow, which signals entry and waits for release.
func blockingRoute(entered chan<- struct{}, release <-chan struct{}) func(*app) {
	return func(a *app) {
		a.handle("/slow", route{methods: []string{"GET"}, handle: func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-release
			_, _ = io.WriteString(w, "finished")
		}})
	}
}

func TestGracefulShutdown(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	s := startLive(t, fastConfig(func(c *config) { c.ShutdownDelay = 300 * time.Millisecond }), blockingRoute(entered, release))

	type result struct {
		code int
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Get(s.url("/slow"))
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{resp.StatusCode, string(b), err}
	}()
	<-entered

	s.cancel() // SIGTERM
	// During SHUTDOWN_DELAY the listener is open and readiness is 503,
	// liveness is still 200.
	waitFor(t, "readiness to flip", 2*time.Second, func() bool { return s.app.draining.Load() })
	code, _, body := s.get(t, "/readyz")
	if code != 503 || !strings.Contains(body, "draining") {
		t.Fatalf("readyz during drain: %d %s", code, body)
	}
	if code, _, _ := s.get(t, "/healthz"); code != 200 {
		t.Fatalf("healthz during drain: %d", code)
	}

	// After the delay the listener closes: new connections are refused...
	waitFor(t, "listener to close", 3*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	select {
	case err := <-s.done:
		t.Fatalf("serve returned (%v) while a request was in flight", err)
	default:
	}

	// ...but the in-flight request completes, and then serve returns nil.
	close(release)
	r := <-inflight
	if r.err != nil || r.code != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %d %q %v", r.code, r.body, r.err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
		s.done <- nil // for Cleanup
	case <-time.After(3 * time.Second):
		t.Fatal("serve did not return after the drain")
	}
	if !strings.Contains(s.logs.String(), "shutdown: complete") {
		t.Error("no shutdown log")
	}
}

func TestDrainTimeout(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release)
	s := startLive(t, fastConfig(func(c *config) { c.DrainTimeout = 300 * time.Millisecond }), blockingRoute(entered, release))
	go func() {
		if resp, err := http.Get(s.url("/slow")); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	start := time.Now()
	s.cancel()
	select {
	case err := <-s.done:
		if err == nil || !strings.Contains(err.Error(), "DRAIN_TIMEOUT") {
			t.Fatalf("serve = %v, want a drain timeout error", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("drain took %s with a 300ms bound", d)
		}
		s.done <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("drain not bounded by DRAIN_TIMEOUT")
	}
}

func TestKeepAliveClientDuringDrain(t *testing.T) {
	// A keep-alive client (like the ALB) is told to close during the drain.
	s := startLive(t, fastConfig(func(c *config) { c.ShutdownDelay = 500 * time.Millisecond }), nil)
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(s.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("connection closed before shutdown")
	}
	s.cancel()
	waitFor(t, "drain", time.Second, func() bool { return s.app.draining.Load() })
	resp, err = client.Get(s.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("during drain: status %d close=%v, want 200 and Connection: close", resp.StatusCode, resp.Close)
	}
}

func TestSignalStartsDrain(t *testing.T) {
	// A real SIGTERM to this process, caught the way main catches it. A guard
	// subscription is registered first so the signal can never kill the
	// test binary.
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGTERM)
	defer signal.Stop(guard)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg := fastConfig(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := newTestApp(cfg, nil, "", nil)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	blockingRoute(entered, release)(a)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, newServer(cfg, a, testLogger(nil)), a, cfg, testLogger(nil)) }()

	inflight := make(chan int, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/slow", ln.Addr()))
		if err != nil {
			inflight <- -1
			return
		}
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	<-entered
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "SIGTERM to flip readiness", 2*time.Second, func() bool { return a.draining.Load() })
	close(release)
	if code := <-inflight; code != 200 {
		t.Fatalf("in-flight request after SIGTERM: %d", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return")
	}
}
