package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Set at build time: -ldflags "-X main.sha=... -X main.built=...".
var (
	sha   = "dev"
	built = "unknown"
)

// route is one path the service answers.
type route struct {
	methods []string // allowed methods; GET implies HEAD
	allow   string   // precomputed Allow header
	handle  http.HandlerFunc
	// exempt routes skip the rate limiter and the concurrency cap: the ALB's
	// health checker (and the container HEALTHCHECK) must never be throttled
	// into declaring a busy task dead — that turns load into an outage.
	exempt bool
	// quiet routes are access-logged at debug level (health probes would
	// otherwise dominate the log).
	quiet bool
}

// app is the whole HTTP behaviour: routing, client identification, rate
// limiting, the concurrency cap, request ids and access logs. It is one
// http.Handler rather than a stack of middlewares so the order of the steps
// is visible in one place (ServeHTTP).
type app struct {
	cfg      config
	log      *slog.Logger // app events; its level also gates access lines
	access   *accessLog
	resolver ipResolver
	limiter  *clientLimiter // nil when RATE_LIMIT_RPS=0
	sem      chan struct{}  // nil when MAX_CONCURRENT=0
	routes   map[string]*route
	draining atomic.Bool
	now      func() time.Time

	// Rejections (429, 503 over the cap) are logged at most rejectLogRate
	// lines a second, so a flood does not turn into a flood of log lines
	// (and a log bill); the next line logged says how many were skipped.
	rejectLog     *rate.Limiter
	rejectSkipped atomic.Uint64

	ridPrefix string
	ridSeq    atomic.Uint64
}

// newApp builds the handler. logger is for events (panics, shutdown) and
// decides the level; access lines go to access, which should be the writer
// behind logger (see accessLog).
func newApp(cfg config, logger *slog.Logger, access *accessLog, now func() time.Time) *app {
	a := &app{
		cfg:       cfg,
		log:       logger,
		access:    access,
		resolver:  ipResolver{trusted: cfg.TrustedProxies},
		routes:    map[string]*route{},
		ridPrefix: randomHex(6),
		now:       now,
		rejectLog: rate.NewLimiter(rejectLogRate, rejectLogBurst),
	}
	if a.now == nil {
		a.now = time.Now
	}
	if cfg.RateRPS > 0 {
		a.limiter = newClientLimiter(cfg.RateRPS, cfg.RateBurst, cfg.RateIdleTTL, cfg.RateMaxClients, a.now)
	}
	if cfg.MaxConcurrent > 0 {
		a.sem = make(chan struct{}, cfg.MaxConcurrent)
	}

	// Static bodies are rendered once.
	greeting := mustJSON(map[string]string{
		"message": "hello from patchwork webapp",
		"sha":     sha,
		"built":   built,
		"env":     cfg.AppEnv,
	})
	version := mustJSON(map[string]string{
		"sha":   sha,
		"built": built,
		"go":    runtime.Version(),
	})
	ok := mustJSON(map[string]string{"status": "ok"})
	draining := mustJSON(map[string]string{"status": "draining"})

	a.handle("/", route{methods: []string{http.MethodGet}, handle: staticJSON(greeting)})
	a.handle("/version", route{methods: []string{http.MethodGet}, handle: staticJSON(version)})
	a.handle("/healthz", route{methods: []string{http.MethodGet}, exempt: true, quiet: true, handle: staticJSON(ok)})
	a.handle("/readyz", route{methods: []string{http.MethodGet}, exempt: true, quiet: true,
		handle: func(w http.ResponseWriter, r *http.Request) {
			if a.draining.Load() {
				writeBody(w, http.StatusServiceUnavailable, draining)
				return
			}
			writeBody(w, http.StatusOK, ok)
		}})
	return a
}

// handle registers a route (tests use it to add slow handlers).
func (a *app) handle(path string, rt route) {
	ms := slices.Clone(rt.methods)
	if slices.Contains(ms, http.MethodGet) && !slices.Contains(ms, http.MethodHead) {
		ms = append(ms, http.MethodHead)
	}
	rt.methods = ms
	rt.allow = strings.Join(ms, ", ")
	a.routes[path] = &rt
}

// ServeHTTP runs, in order: request id → client address → route lookup →
// rate limit → concurrency cap → method check → handler, and logs the result.
func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rid := r.Header.Get("X-Request-Id")
	if !validRequestID(rid) {
		rid = a.newRequestID()
	}
	h := w.Header()
	// Canonical keys and shared value slices (net/http only reads them): these
	// headers are on every response, so skip Set's canonicalisation and
	// allocations.
	h["X-Request-Id"] = []string{rid}
	h["X-Content-Type-Options"] = hdrNosniff
	h["Cache-Control"] = hdrNoStore
	if a.draining.Load() {
		// Ask keep-alive clients (the ALB) to move off this task.
		h["Connection"] = hdrClose
	}
	rec := &recorder{ResponseWriter: w}
	client := a.resolver.clientIP(r)
	rt := a.routes[r.URL.Path]
	rejected := false

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.log.LogAttrs(r.Context(), slog.LevelError, "panic", slog.String("request_id", rid), slog.Any("panic", p))
			if !rec.wrote {
				writeError(rec, http.StatusInternalServerError, "internal error", rid)
			}
		}
		a.logRequest(r, rec, rt, rid, client, start, rejected)
	}()

	if rt == nil || !rt.exempt {
		if a.limiter != nil {
			if ok, wait := a.limiter.allow(client); !ok {
				rejected = true
				h.Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
				writeError(rec, http.StatusTooManyRequests, "rate limited", rid)
				return
			}
		}
		if a.sem != nil {
			select {
			case a.sem <- struct{}{}:
				defer func() { <-a.sem }()
			default:
				rejected = true
				h.Set("Retry-After", "1")
				writeError(rec, http.StatusServiceUnavailable, "server busy", rid)
				return
			}
		}
	}
	if rt == nil {
		writeError(rec, http.StatusNotFound, "not found", rid)
		return
	}
	if !slices.Contains(rt.methods, r.Method) {
		h.Set("Allow", rt.allow)
		writeError(rec, http.StatusMethodNotAllowed, "method not allowed", rid)
		return
	}
	rt.handle(rec, r)
}

const (
	rejectLogRate  = 10 // lines per second
	rejectLogBurst = 20
)

func (a *app) logRequest(r *http.Request, rec *recorder, rt *route, rid string, client netip.Addr, start time.Time, rejected bool) {
	level := slog.LevelInfo
	if rt != nil && rt.quiet && rec.status < 500 {
		level = slog.LevelDebug
	}
	if !a.log.Enabled(r.Context(), level) {
		return
	}
	var skipped uint64
	if rejected {
		if !a.rejectLog.AllowN(a.now(), 1) {
			a.rejectSkipped.Add(1)
			return
		}
		skipped = a.rejectSkipped.Swap(0)
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	now := time.Now()
	a.access.write(&accessEntry{
		time:      now,
		level:     level,
		requestID: rid,
		method:    r.Method,
		path:      r.URL.Path,
		status:    status,
		bytes:     rec.bytes,
		duration:  now.Sub(start),
		client:    client,
		peer:      r.RemoteAddr,
		proto:     r.Proto,
		userAgent: r.UserAgent(),
		traceID:   r.Header.Get("X-Amzn-Trace-Id"),
		skipped:   skipped,
	})
}

// newRequestID is a per-process random prefix plus a counter: unique across
// tasks for practical purposes and much cheaper than random bytes per request.
func (a *app) newRequestID() string {
	n := a.ridSeq.Add(1)
	b := make([]byte, 0, len(a.ridPrefix)+1+16)
	b = append(b, a.ridPrefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, n, 10)
	return string(b)
}

// validRequestID accepts ids an upstream (ALB, gateway, caller) set, as long
// as they are short and cannot inject anything into logs or headers.
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=', c == '@':
		default:
			return false
		}
	}
	return true
}

// recorder captures status and size for the access log.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status = code
		r.wrote = code >= 200 // 1xx are informational
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func staticJSON(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeBody(w, http.StatusOK, body) }
}

var (
	hdrJSON    = []string{"application/json"}
	hdrNosniff = []string{"nosniff"}
	hdrNoStore = []string{"no-store"}
	hdrClose   = []string{"close"}
)

func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, msg, rid string) {
	writeBody(w, status, mustJSON(map[string]string{"error": msg, "request_id": rid}))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on Linux (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// drain flips readiness; called once shutdown starts.
func (a *app) drain() { a.draining.Store(true) }

// runJanitor expires idle limiter buckets until ctx is done.
func (a *app) runJanitor(ctx context.Context) {
	if a.limiter != nil {
		a.limiter.janitor(ctx, a.limiter.janitorInterval())
	}
}
