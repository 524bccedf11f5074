package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestAppendJSONString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain /path?x=1", `"plain /path?x=1"`},
		{`q"uote\back`, `"q\"uote\\back"`},
		{"line\nbreak\r\ttab", `"line\nbreak\r\ttab"`},
		{"nul\x00bell\x07esc\x1b", `"nul\u0000bell\u0007esc\u001b"`},
		{"del\x7f", "\"del\x7f\""},
		{"ünïcødé ✓ 日本", `"ünïcødé ✓ 日本"`},
		{"bad\xffutf8\xc3", `"bad\ufffdutf8\ufffd"`},
		{"sep\u2028par\u2029", `"sep\u2028par\u2029"`},
	}
	for _, tc := range tests {
		if got := string(appendJSONString(nil, tc.in)); got != tc.want {
			t.Errorf("appendJSONString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// FuzzAppendJSONString: whatever the input, the output is valid JSON on one
// line and decodes to what encoding/json would produce for the same string.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\x1f", "\xff\xfe", "\u2028", "日本", "a\nb", "<script>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString(nil, s)
		if bytes.ContainsAny(out, "\n\r") {
			t.Fatalf("output has a line break: %q", out)
		}
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", out, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("decoded %q, encoding/json gives %q", got, want)
		}
	})
}

func TestAccessLineMatchesSlogShape(t *testing.T) {
	when := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	e := &accessEntry{
		time: when, level: slog.LevelInfo, requestID: "r-1", method: "GET", path: "/x\"y\n",
		status: 429, bytes: 57, duration: 1500 * time.Microsecond, client: netip.MustParseAddr("2001:db8::1"),
		peer: "10.0.0.1:5555", proto: "HTTP/1.1", userAgent: strings.Repeat("u", 1000), traceID: "Root=1-a",
	}
	line := appendAccessEntry(nil, e)
	if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("not one line: %q", line)
	}
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("%s: %v", line, err)
	}

	// The same fields through slog.JSONHandler, for the common keys' format.
	var ref bytes.Buffer
	slog.New(slog.NewJSONHandler(&ref, nil)).LogAttrs(t.Context(), slog.LevelInfo, "request")
	var want map[string]any
	_ = json.Unmarshal(ref.Bytes(), &want)
	if got["level"] != want["level"] || got["msg"] != want["msg"] {
		t.Fatalf("level/msg %v/%v, slog writes %v/%v", got["level"], got["msg"], want["level"], want["msg"])
	}
	if ts, err := time.Parse(time.RFC3339Nano, got["time"].(string)); err != nil || !ts.Equal(when) {
		t.Fatalf("time %v: %v", got["time"], err)
	}
	checks := map[string]any{
		"request_id": "r-1", "method": "GET", "path": "/x\"y\n", "status": 429.0, "bytes": 57.0,
		"duration_ms": 1.5, "client_ip": "2001:db8::1", "peer": "10.0.0.1:5555", "proto": "HTTP/1.1",
		"user_agent": strings.Repeat("u", maxLoggedUserAgent), "trace_id": "Root=1-a",
	}
	for k, v := range checks {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestAccessLogConcurrentLinesDoNotInterleave(t *testing.T) {
	var buf syncBuffer
	l := newAccessLog(&buf)
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				l.write(&accessEntry{time: time.Now(), requestID: strings.Repeat("x", i), method: "GET", path: "/"})
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	for _, ln := range lines {
		if !json.Valid([]byte(ln)) {
			t.Fatalf("invalid line %q", ln)
		}
	}
}

// BenchmarkAccessLine compares the access-line encoder with the same line
// through slog.JSONHandler (go test -bench AccessLine -benchmem).
func BenchmarkAccessLine(b *testing.B) {
	e := &accessEntry{
		time: time.Now(), level: slog.LevelInfo, requestID: "5ecfadb7886f-1", method: "GET", path: "/",
		status: 200, bytes: 84, duration: 19 * time.Microsecond, client: netip.MustParseAddr("203.0.113.9"),
		peer: "10.0.1.5:43122", proto: "HTTP/1.1", userAgent: "ELB-HealthChecker/2.0",
	}
	b.Run("accessLog", func(b *testing.B) {
		l := newAccessLog(io.Discard)
		b.ReportAllocs()
		for b.Loop() {
			l.write(e)
		}
	})
	b.Run("slog.JSONHandler", func(b *testing.B) {
		lg := slog.New(slog.NewJSONHandler(io.Discard, nil))
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			lg.LogAttrs(ctx, e.level, "request",
				slog.String("request_id", e.requestID), slog.String("method", e.method), slog.String("path", e.path),
				slog.Int("status", e.status), slog.Int64("bytes", e.bytes),
				slog.Float64("duration_ms", float64(e.duration.Microseconds())/1000),
				slog.String("client_ip", e.client.String()), slog.String("peer", e.peer),
				slog.String("proto", e.proto), slog.String("user_agent", e.userAgent))
		}
	})
}

func TestAccessLogBuffering(t *testing.T) {
	var out syncBuffer
	sink := newAccessLog(&out)
	ctx, cancel := context.WithCancel(context.Background())
	done := sink.startFlusher(ctx, time.Hour) // only size, events and stop flush

	line := func(id string) *accessEntry {
		return &accessEntry{time: time.Now(), level: slog.LevelInfo, requestID: id, method: "GET", path: "/"}
	}
	sink.write(line("a1"))
	sink.write(line("a2"))
	if out.String() != "" {
		t.Fatalf("access lines written before a flush: %q", out.String())
	}
	// An event line flushes what is pending first: order is preserved.
	slog.New(slog.NewJSONHandler(sink, nil)).Info("event")
	got := out.String()
	if i1, i2, ie := strings.Index(got, `"a1"`), strings.Index(got, `"a2"`), strings.Index(got, `"event"`); i1 < 0 || i2 < i1 || ie < i2 {
		t.Fatalf("order wrong: %q", got)
	}
	// The size bound flushes without waiting for the interval.
	before := len(out.String())
	for i := 0; len(out.String()) == before; i++ {
		if i > 1000 {
			t.Fatal("no flush at the size bound")
		}
		sink.write(line(strings.Repeat("z", 100)))
	}
	// Stopping flushes the rest and turns buffering off.
	sink.write(line("last"))
	cancel()
	<-done
	if !strings.HasSuffix(out.String(), "\n") || !strings.Contains(out.String(), `"last"`) {
		t.Fatal("final flush missing")
	}
	sink.write(line("after"))
	if !strings.Contains(out.String(), `"after"`) {
		t.Fatal("still buffering after the flusher stopped")
	}
}

func TestAccessLogFlushInterval(t *testing.T) {
	var out syncBuffer
	sink := newAccessLog(&out)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink.startFlusher(ctx, 20*time.Millisecond)
	sink.write(&accessEntry{time: time.Now(), requestID: "tick"})
	waitFor(t, "the periodic flush", 2*time.Second, func() bool { return strings.Contains(out.String(), `"tick"`) })
}
