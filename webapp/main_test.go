package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the webapp binary: with WEBAPP_TEST_MAIN=1 it
// runs main's logic instead of the tests. That exercises the real process
// (flags, signals, exit codes) without a separate go build.
func TestMain(m *testing.M) {
	if os.Getenv("WEBAPP_TEST_MAIN") == "1" {
		os.Exit(run(strings.Fields(os.Getenv("WEBAPP_TEST_ARGS")), os.Getenv, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func webappCmd(args string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append([]string{"WEBAPP_TEST_MAIN=1", "WEBAPP_TEST_ARGS=" + args}, env...)...)
	return cmd
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestProcessLifecycle(t *testing.T) {
	cmd := webappCmd("", "HOST=127.0.0.1", "PORT=0", "LOG_LEVEL=info", "DRAIN_TIMEOUT=5s")
	// Our own pipe, not StdoutPipe: Wait must not close the read side before
	// the last lines (written just before exit) have been read.
	stdout, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	cmd.Stdout = pw
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	defer func() { _ = cmd.Process.Kill() }()

	// The first log line says where it listens.
	lines := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	var addr string
	select {
	case m := <-lines:
		if m["msg"] != "listening" {
			t.Fatalf("first log line: %v", m)
		}
		addr, _ = m["addr"].(string)
	case <-time.After(10 * time.Second):
		t.Fatal("no listening line")
	}
	_, port, _ := net.SplitHostPort(addr)

	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}

	// -healthcheck probes this instance: healthy.
	if out, err := webappCmd("-healthcheck", "PORT="+port).CombinedOutput(); err != nil {
		t.Fatalf("-healthcheck against a live server: %v %s", err, out)
	}

	// SIGTERM: graceful stop, exit 0.
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if code := exitCode(err); code != 0 {
			t.Fatalf("exit code after SIGTERM = %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("process did not exit after SIGTERM")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("idle server took %s to stop", d)
	}
	var msgs []string
	for m := range lines {
		msgs = append(msgs, m["msg"].(string))
	}
	want := "request shutdown: draining shutdown: complete"
	if got := strings.Join(msgs, " "); got != want {
		t.Fatalf("log messages %q, want %q", got, want)
	}

	// And now nothing listens: -healthcheck fails.
	if code := exitCode(webappCmd("-healthcheck", "PORT="+port).Run()); code != 1 {
		t.Fatalf("-healthcheck against a stopped server: exit %d, want 1", code)
	}
}

func TestProcessExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args string
		env  []string
		code int
		out  string
	}{
		{"bad env", "", []string{"PORT=nope", "RATE_LIMIT_BURST=0"}, 2, "RATE_LIMIT_BURST"},
		{"unknown flag", "-frobnicate", nil, 2, "flag provided but not defined"},
		{"stray argument", "serve", nil, 2, "unexpected arguments"},
		{"version", "-version", nil, 0, "webapp sha=dev"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := webappCmd(tc.args, tc.env...).CombinedOutput()
			if code := exitCode(err); code != tc.code {
				t.Fatalf("exit %d, want %d (%s)", code, tc.code, out)
			}
			if !strings.Contains(string(out), tc.out) {
				t.Fatalf("output %q does not mention %q", out, tc.out)
			}
		})
	}
}

func TestProcessPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	out, err := webappCmd("", "HOST=127.0.0.1", "PORT="+port).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "listen failed") {
		t.Fatalf("exit %d, output %s", code, out)
	}
}
