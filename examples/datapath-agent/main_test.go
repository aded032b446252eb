package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// logBuffer is a log the agent writes while the test reads it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs the agent until the returned stop is called, which returns
// run's error.
func start(t *testing.T, args []string, reload chan os.Signal, log *logBuffer, in func(func() error) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in(func() error { return run(ctx, args, reload, log) }) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("the agent did not stop")
			return nil
		}
	}
}

func direct(f func() error) error { return f() }

// TestFake runs the agent on the in-memory backends, then changes the file
// and reloads it: only the change is applied.
func TestFake(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.yaml")
	orig, err := os.ReadFile("testdata/node.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, orig, 0o600))
	reload := make(chan os.Signal, 1)
	var log logBuffer
	stop := start(t, []string{"-fake", "-f", path, "-gc-interval", "50ms", "-stats-interval", "50ms"}, reload, &log, direct)
	require.Eventually(t, func() bool { return strings.Contains(log.String(), "msg=counters") }, 5*time.Second, 10*time.Millisecond)
	require.Contains(t, log.String(), "deny-revision=1 deny=2 services-upserted=3 services-deleted=0 redirects-set=1")

	// The DSR service goes, the deny list shrinks.
	changed := strings.Replace(string(orig), "- 2001:db8:bad::/48\n", "", 1)
	changed = changed[:strings.Index(changed, "- frontend: 10.96.0.20:80")] + changed[strings.Index(changed, "redirects:"):]
	require.NoError(t, os.WriteFile(path, []byte(changed), 0o600))
	reload <- nil
	require.Eventually(t, func() bool {
		return strings.Contains(log.String(), "deny-revision=2 deny=1 services-upserted=0 services-deleted=1 redirects-set=0")
	}, 5*time.Second, 10*time.Millisecond)

	// A file with a mistake is refused with the field, and nothing more is
	// applied.
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(changed, "protocol: UDP", "protocol: SCTP", 1)), 0o600))
	reload <- nil
	require.Eventually(t, func() bool { return strings.Contains(log.String(), `services[1].protocol: \"SCTP\": TCP or UDP`) },
		5*time.Second, 10*time.Millisecond, log.String())
	require.NoError(t, stop())
}
