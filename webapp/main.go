// Command webapp is the small web service patchwork deploys in its examples,
// sandbox and end-to-end tests. See README.md for routes and settings.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1 // server error, drain timed out, health probe failed
	exitConfig = 2 // bad flag or environment variable
)

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("webapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	healthcheck := fs.Bool("healthcheck", false, "probe http://127.0.0.1:$PORT/healthz and exit 0 (healthy) or 1 (for a HEALTHCHECK in an image without a shell)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "webapp: unexpected arguments %q\n", fs.Args())
		return exitConfig
	}
	if *showVersion {
		fmt.Fprintf(stdout, "webapp sha=%s built=%s go=%s\n", sha, built, runtime.Version())
		return exitOK
	}
	if *healthcheck {
		return probe(getenv, stderr)
	}

	cfg, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "webapp: invalid configuration:\n%v\n", err)
		return exitConfig
	}
	// One writer for event and access lines; access lines are batched (see
	// accessLog) and everything is flushed before run returns.
	sink := newAccessLog(stdout)
	defer sink.flush()
	logger := slog.New(slog.NewJSONHandler(sink, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if cfg.LogFlushInterval > 0 {
		flushCtx, stopFlusher := context.WithCancel(context.Background())
		flusherDone := sink.startFlusher(flushCtx, cfg.LogFlushInterval)
		defer func() { stopFlusher(); <-flusherDone }()
	}

	// First SIGTERM/SIGINT starts a graceful drain; once it has, the default
	// disposition is restored so a second signal stops the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	context.AfterFunc(ctx, stop)

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		logger.Error("listen failed", slog.String("error", err.Error()))
		return exitFail
	}
	a := newApp(cfg, logger, sink, time.Now)
	srv := newServer(cfg, a, logger)

	janitorCtx, stopJanitor := context.WithCancel(context.Background())
	defer stopJanitor()
	go a.runJanitor(janitorCtx)

	logger.Info("listening",
		slog.String("addr", ln.Addr().String()),
		slog.String("sha", sha), slog.String("built", built), slog.String("env", cfg.AppEnv),
		slog.Float64("rate_limit_rps", cfg.RateRPS), slog.Int("rate_limit_burst", cfg.RateBurst),
		slog.Int("max_concurrent", cfg.MaxConcurrent), slog.Int("trusted_proxies", len(cfg.TrustedProxies)))

	if err := serve(ctx, ln, srv, a, cfg, logger); err != nil {
		logger.Error("exiting", slog.String("error", err.Error()))
		return exitFail
	}
	return exitOK
}

// probe is the container health check: GET /healthz on the loopback address
// (or HOST when it names a specific address) and PORT.
func probe(getenv func(string) string, stderr io.Writer) int {
	port := getenv("PORT")
	if port == "" {
		port = "8080"
	}
	host := getenv("HOST")
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return exitFail
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "healthcheck: status %d\n", resp.StatusCode)
		return exitFail
	}
	return exitOK
}
