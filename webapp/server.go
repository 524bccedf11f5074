package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

func newServer(cfg config, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout, // slowloris: headers must arrive in time
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes, // larger headers get 431
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serve runs srv on ln until ctx is cancelled (SIGTERM/SIGINT in main), then
// shuts down gracefully:
//
//  1. readiness (/readyz) answers 503 and responses carry Connection: close;
//  2. for SHUTDOWN_DELAY the listener stays open, so a load balancer that has
//     not yet noticed gets answers rather than refused connections;
//  3. listeners close and in-flight requests run to completion;
//
// all within DRAIN_TIMEOUT. It returns nil after a clean drain, or an error if
// the server failed or the drain ran out of time (remaining connections are
// then closed).
func serve(ctx context.Context, ln net.Listener, srv *http.Server, a *app, cfg config, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}

	began := time.Now()
	a.drain()
	logger.Info("shutdown: draining", slog.String("drain_timeout", cfg.DrainTimeout.String()), slog.String("shutdown_delay", cfg.ShutdownDelay.String()))
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()

	if cfg.ShutdownDelay > 0 {
		t := time.NewTimer(cfg.ShutdownDelay)
		select {
		case <-t.C:
		case <-drainCtx.Done():
			t.Stop()
		}
	}
	if err := srv.Shutdown(drainCtx); err != nil {
		_ = srv.Close()
		<-errc
		return fmt.Errorf("drain did not finish within DRAIN_TIMEOUT=%s: %w", cfg.DrainTimeout, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server stopped: %w", err)
	}
	logger.Info("shutdown: complete", slog.Float64("took_ms", float64(time.Since(began).Microseconds())/1000))
	return nil
}
