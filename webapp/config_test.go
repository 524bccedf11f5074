package main

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := loadConfig(envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.DrainTimeout != 20*time.Second || c.LogLevel != slog.LevelInfo || c.RateRPS <= 0 || c.MaxConcurrent <= 0 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if c.DrainTimeout >= 30*time.Second {
		t.Fatalf("drain timeout %s must be shorter than the ECS stopTimeout (30s)", c.DrainTimeout)
	}
	if c.IdleTimeout <= 60*time.Second {
		t.Fatalf("idle timeout %s must exceed the ALB idle timeout (60s)", c.IdleTimeout)
	}
}

func TestLoadConfigValues(t *testing.T) {
	c, err := loadConfig(envMap(map[string]string{
		"PORT":                   "9090",
		"APP_ENV":                "prod",
		"LOG_LEVEL":              "DEBUG",
		"TRUSTED_PROXIES":        "10.0.0.0/16, 192.168.1.7 ::ffff:172.16.0.0/108,2001:db8::/32",
		"RATE_LIMIT_RPS":         "2.5",
		"RATE_LIMIT_BURST":       "7",
		"RATE_LIMIT_IDLE_TTL":    "90",
		"RATE_LIMIT_MAX_CLIENTS": "1000",
		"MAX_CONCURRENT":         "0",
		"DRAIN_TIMEOUT":          "5s",
		"SHUTDOWN_DELAY":         "1500ms",
		"MAX_HEADER_BYTES":       "4096",
		"LOG_FLUSH_INTERVAL":     "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/16"),
		netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
	if len(c.TrustedProxies) != len(want) {
		t.Fatalf("trusted = %v", c.TrustedProxies)
	}
	for i := range want {
		if c.TrustedProxies[i] != want[i] {
			t.Errorf("trusted[%d] = %v, want %v", i, c.TrustedProxies[i], want[i])
		}
	}
	if c.Port != 9090 || c.AppEnv != "prod" || c.LogLevel != slog.LevelDebug || c.RateRPS != 2.5 ||
		c.RateBurst != 7 || c.RateIdleTTL != 90*time.Second || c.RateMaxClients != 1000 || c.MaxConcurrent != 0 ||
		c.DrainTimeout != 5*time.Second || c.ShutdownDelay != 1500*time.Millisecond || c.MaxHeaderBytes != 4096 || c.LogFlushInterval != 0 {
		t.Fatalf("unexpected config: %+v", c)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want []string // every fragment must appear in the error
	}{
		{map[string]string{"PORT": "http"}, []string{`PORT="http"`}},
		{map[string]string{"PORT": "70000"}, []string{"PORT"}},
		{map[string]string{"LOG_LEVEL": "loud"}, []string{"LOG_LEVEL"}},
		{map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}, []string{"TRUSTED_PROXIES", "bad CIDR"}},
		{map[string]string{"TRUSTED_PROXIES": "alb.internal"}, []string{"bad address"}},
		{map[string]string{"RATE_LIMIT_RPS": "-1"}, []string{"RATE_LIMIT_RPS"}},
		{map[string]string{"RATE_LIMIT_RPS": "NaN"}, []string{"RATE_LIMIT_RPS"}},
		{map[string]string{"RATE_LIMIT_BURST": "0"}, []string{"RATE_LIMIT_BURST"}},
		{map[string]string{"DRAIN_TIMEOUT": "soon"}, []string{"DRAIN_TIMEOUT"}},
		{map[string]string{"DRAIN_TIMEOUT": "0"}, []string{"DRAIN_TIMEOUT", "greater than zero"}},
		{map[string]string{"SHUTDOWN_DELAY": "25s"}, []string{"SHUTDOWN_DELAY", "shorter than DRAIN_TIMEOUT"}},
		{map[string]string{"MAX_HEADER_BYTES": "10"}, []string{"MAX_HEADER_BYTES"}},
		// all problems are reported together
		{map[string]string{"PORT": "x", "MAX_CONCURRENT": "-3"}, []string{"PORT", "MAX_CONCURRENT"}},
	}
	for _, tc := range tests {
		_, err := loadConfig(envMap(tc.env))
		if err == nil {
			t.Errorf("%v: expected an error", tc.env)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not mention %q", tc.env, err, w)
			}
		}
	}
}
