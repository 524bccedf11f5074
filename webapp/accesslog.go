package main

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// accessLog writes one JSON line per request, in the same shape as the
// slog.JSONHandler lines the rest of the service writes
// ({"time":…,"level":"INFO","msg":"request",…}), so a log pipeline sees one
// format. Whether a line is written is decided by the slog level (LOG_LEVEL).
//
// It is a specialised encoder rather than a slog call because the generic
// slog.JSONHandler path cost ~10x more per line (BenchmarkAccessLine).
//
// It is also the writer behind the slog event logger, so that, once
// startFlusher has run, access lines can be batched: they collect in a
// buffer written out every flush interval (or at 32 KiB), instead of one
// write(2) per request. An event line (Write) first flushes what is pending,
// so the order of lines on stdout is always the order they were logged, and
// flush runs before exit. Only a hard kill can lose lines: at most one flush
// interval's worth.
type accessLog struct {
	mu       sync.Mutex
	w        io.Writer
	pending  []byte // buffered access lines; only used when buffered
	buffered bool
	buf      sync.Pool // *[]byte scratch for encoding
}

const maxPendingLog = 32 << 10

type accessEntry struct {
	time      time.Time
	level     slog.Level
	requestID string
	method    string
	path      string
	status    int
	bytes     int64
	duration  time.Duration
	client    netip.Addr
	peer      string
	proto     string
	userAgent string
	traceID   string // X-Amzn-Trace-Id from the ALB, when present
	skipped   uint64 // rejections not logged since the last logged one
}

// Long client-controlled fields are cut so one request cannot write a 16 KiB
// log line.
const (
	maxLoggedPath      = 1024
	maxLoggedUserAgent = 256
)

func newAccessLog(w io.Writer) *accessLog {
	return &accessLog{w: w, buf: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
}

func (l *accessLog) write(e *accessEntry) {
	bp := l.buf.Get().(*[]byte)
	b := appendAccessEntry((*bp)[:0], e)
	l.mu.Lock()
	if l.buffered {
		l.pending = append(l.pending, b...)
		if len(l.pending) >= maxPendingLog {
			l.flushLocked()
		}
	} else {
		_, _ = l.w.Write(b) // a log write error must never fail a request
	}
	l.mu.Unlock()
	if cap(b) <= 64<<10 {
		*bp = b
		l.buf.Put(bp)
	}
}

// Write is the io.Writer for event lines (the slog handler): pending access
// lines go first, then p, unbuffered.
func (l *accessLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	return l.w.Write(p)
}

func (l *accessLog) flush() {
	l.mu.Lock()
	l.flushLocked()
	l.mu.Unlock()
}

func (l *accessLog) flushLocked() {
	if len(l.pending) == 0 {
		return
	}
	_, _ = l.w.Write(l.pending)
	if cap(l.pending) > 4*maxPendingLog {
		l.pending = nil // do not keep a burst's buffer forever
	} else {
		l.pending = l.pending[:0]
	}
}

// startFlusher turns buffering on and flushes every interval until ctx is
// done; then it flushes a last time and buffering is off again.
func (l *accessLog) startFlusher(ctx context.Context, interval time.Duration) (stopped <-chan struct{}) {
	l.mu.Lock()
	l.buffered = true
	l.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.flush()
			case <-ctx.Done():
				l.mu.Lock()
				l.flushLocked()
				l.buffered = false
				l.mu.Unlock()
				return
			}
		}
	}()
	return done
}

func appendAccessEntry(b []byte, e *accessEntry) []byte {
	b = append(b, `{"time":"`...)
	b = e.time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, e.level.String()...)
	b = append(b, `","msg":"request","request_id":`...)
	b = appendJSONString(b, e.requestID)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, truncate(e.path, maxLoggedPath))
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.bytes, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(e.duration.Microseconds())/1000, 'f', -1, 64)
	b = append(b, `,"client_ip":"`...)
	if e.client.IsValid() {
		b = e.client.AppendTo(b) // digits, dots, colons and hex only
	}
	b = append(b, `","peer":`...)
	b = appendJSONString(b, e.peer)
	b = append(b, `,"proto":`...)
	b = appendJSONString(b, e.proto)
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, truncate(e.userAgent, maxLoggedUserAgent))
	if e.traceID != "" {
		b = append(b, `,"trace_id":`...)
		b = appendJSONString(b, truncate(e.traceID, maxLoggedUserAgent))
	}
	if e.skipped > 0 {
		b = append(b, `,"rejections_not_logged":`...)
		b = strconv.AppendUint(b, e.skipped, 10)
	}
	return append(b, "}\n"...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Control characters, quotes and
// backslashes are escaped; invalid UTF-8 bytes become U+FFFD, one per byte, as
// encoding/json does; U+2028 and U+2029 are escaped too. Whatever a client
// sends, the result is one valid JSON value on one line.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
