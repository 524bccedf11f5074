package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// config is everything the service reads from its environment. It is loaded
// once at start-up; a bad value is a start-up error naming the variable, never
// a silent fallback to the default.
type config struct {
	Host   string // HOST: interface to bind; empty = all interfaces
	Port   int    // PORT
	AppEnv string // APP_ENV: shown by / (e.g. prod, staging)

	LogLevel         slog.Level    // LOG_LEVEL: debug, info, warn, error
	LogFlushInterval time.Duration // LOG_FLUSH_INTERVAL: access lines are batched this long; 0 = one write per line

	// Rate limiting (per client IP token bucket).
	TrustedProxies []netip.Prefix // TRUSTED_PROXIES: CIDRs (or bare IPs) whose X-Forwarded-For is believed
	RateRPS        float64        // RATE_LIMIT_RPS: tokens per second per client; 0 disables the limiter
	RateBurst      int            // RATE_LIMIT_BURST: bucket size
	RateIdleTTL    time.Duration  // RATE_LIMIT_IDLE_TTL: idle buckets older than this are dropped
	RateMaxClients int            // RATE_LIMIT_MAX_CLIENTS: hard cap on tracked buckets

	MaxConcurrent int // MAX_CONCURRENT: requests in handlers at once; 0 = unlimited

	// Shutdown.
	DrainTimeout  time.Duration // DRAIN_TIMEOUT: bound on the whole shutdown after SIGTERM
	ShutdownDelay time.Duration // SHUTDOWN_DELAY: keep accepting (readyz=503) before closing listeners

	// http.Server limits.
	ReadHeaderTimeout time.Duration // READ_HEADER_TIMEOUT
	ReadTimeout       time.Duration // READ_TIMEOUT
	WriteTimeout      time.Duration // WRITE_TIMEOUT
	IdleTimeout       time.Duration // IDLE_TIMEOUT
	MaxHeaderBytes    int           // MAX_HEADER_BYTES
}

func defaultConfig() config {
	return config{
		Port:             8080,
		AppEnv:           "dev",
		LogLevel:         slog.LevelInfo,
		LogFlushInterval: 100 * time.Millisecond,
		RateRPS:          20,
		RateBurst:        40,
		RateIdleTTL:      3 * time.Minute,
		RateMaxClients:   100_000,
		MaxConcurrent:    512,
		// ECS gives a container 30 s (stopTimeout) between SIGTERM and SIGKILL;
		// finish well inside that.
		DrainTimeout:      20 * time.Second,
		ShutdownDelay:     0,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		// Longer than the ALB's default 60 s idle timeout, so the load balancer
		// (not the target) is the side that closes idle keep-alive connections;
		// otherwise the ALB can reuse a connection we just closed and answer 502.
		IdleTimeout:    75 * time.Second,
		MaxHeaderBytes: 16 << 10,
	}
}

// loadConfig reads the environment through getenv (os.Getenv in production,
// a map in tests). Every bad variable is reported, not only the first.
func loadConfig(getenv func(string) string) (config, error) {
	c := defaultConfig()
	var errs []error
	bad := func(name, val, want string) {
		errs = append(errs, fmt.Errorf("%s=%q: %s", name, val, want))
	}

	c.Host = strings.TrimSpace(getenv("HOST"))
	if v := getenv("PORT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			bad("PORT", v, "expected a port number 0-65535")
		} else {
			c.Port = n
		}
	}
	if v := getenv("APP_ENV"); v != "" {
		c.AppEnv = v
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(strings.TrimSpace(v))); err != nil {
			bad("LOG_LEVEL", v, "expected debug, info, warn or error")
		}
	}
	if v := getenv("TRUSTED_PROXIES"); strings.TrimSpace(v) != "" {
		ps, err := parsePrefixes(v)
		if err != nil {
			bad("TRUSTED_PROXIES", v, err.Error())
		} else {
			c.TrustedProxies = ps
		}
	}

	floatVar := func(name string, dst *float64) {
		v := getenv(name)
		if v == "" {
			return
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f != f || f > 1e9 {
			bad(name, v, "expected a number >= 0")
			return
		}
		*dst = f
	}
	intVar := func(name string, dst *int, min int) {
		v := getenv(name)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < min {
			bad(name, v, fmt.Sprintf("expected an integer >= %d", min))
			return
		}
		*dst = n
	}
	durVar := func(name string, dst *time.Duration, allowZero bool) {
		v := getenv(name)
		if v == "" {
			return
		}
		d, err := parseDuration(v)
		if err != nil || d < 0 || (d == 0 && !allowZero) {
			want := "expected a duration such as 500ms, 20s or 2m (or plain seconds)"
			if err == nil {
				want = "must be greater than zero"
			}
			bad(name, v, want)
			return
		}
		*dst = d
	}

	floatVar("RATE_LIMIT_RPS", &c.RateRPS)
	intVar("RATE_LIMIT_BURST", &c.RateBurst, 1)
	durVar("RATE_LIMIT_IDLE_TTL", &c.RateIdleTTL, false)
	intVar("RATE_LIMIT_MAX_CLIENTS", &c.RateMaxClients, 1)
	intVar("MAX_CONCURRENT", &c.MaxConcurrent, 0)
	durVar("LOG_FLUSH_INTERVAL", &c.LogFlushInterval, true)
	durVar("DRAIN_TIMEOUT", &c.DrainTimeout, false)
	durVar("SHUTDOWN_DELAY", &c.ShutdownDelay, true)
	durVar("READ_HEADER_TIMEOUT", &c.ReadHeaderTimeout, false)
	durVar("READ_TIMEOUT", &c.ReadTimeout, false)
	durVar("WRITE_TIMEOUT", &c.WriteTimeout, false)
	durVar("IDLE_TIMEOUT", &c.IdleTimeout, false)
	intVar("MAX_HEADER_BYTES", &c.MaxHeaderBytes, 1024)

	if c.ShutdownDelay >= c.DrainTimeout {
		errs = append(errs, fmt.Errorf("SHUTDOWN_DELAY (%s) must be shorter than DRAIN_TIMEOUT (%s)", c.ShutdownDelay, c.DrainTimeout))
	}
	return c, errors.Join(errs...)
}

// parseDuration accepts Go durations ("20s", "1m30s") and bare numbers, which
// are seconds ("20"), because that is how most people write them in env files.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f != f || f > float64(1<<62)/float64(time.Second) {
			return 0, fmt.Errorf("duration out of range")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

// parsePrefixes parses a comma or space separated list of CIDRs; a bare IP
// means that single address.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	out := make([]netip.Prefix, 0, len(fields))
	for _, f := range fields {
		var p netip.Prefix
		if strings.Contains(f, "/") {
			var err error
			p, err = netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("bad CIDR %q", f)
			}
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("bad address %q", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Zone() != "" {
			return nil, fmt.Errorf("zoned address %q not supported", f)
		}
		// An IPv4 prefix written as IPv4-mapped IPv6 (::ffff:10.0.0.0/104) is
		// normalised so it matches the unmapped peers we compare against.
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
