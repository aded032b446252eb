package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/ebpf"
	"github.com/eniway/eniway/internal/testutils"
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

// TestKernel runs the agent with the kernel backend on a veth in a
// namespace, stops it, and runs it again: the second agent takes the
// pinned datapath over and has nothing to apply.
func TestKernel(t *testing.T) {
	testutils.RequireBPF(t)
	pins := filepath.Join(testutils.BPFFS(t), "eniway")
	ns := testutils.NewNetNS(t)
	h := ns.NetlinkHandle(t)
	require.NoError(t, h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth1"}))
	for _, name := range []string{"eth0", "eth1"} {
		l, err := h.LinkByName(name)
		require.NoError(t, err)
		require.NoError(t, h.LinkSetUp(l))
	}
	testutils.WaitOperUp(t, h, "eth0", "eth1")
	args := []string{"-f", "testdata/node.yaml", "-pin-path", pins}

	for i, want := range []string{
		"deny-revision=1 deny=2 services-upserted=3 services-deleted=0 redirects-set=1",
		"deny-revision=1 deny=2 services-upserted=0 services-deleted=0 redirects-set=0",
	} {
		var log logBuffer
		stop := start(t, args, nil, &log, ns.Do)
		if !assert.Eventually(t, func() bool { return strings.Contains(log.String(), "proxy redirect attached") }, 10*time.Second,
			10*time.Millisecond) {
			t.Fatalf("run %d: %v\n%s", i, stop(), log.String())
		}
		require.Contains(t, log.String(), want, "run %d", i)
		require.Contains(t, log.String(), "xdp=native", "run %d", i)
		require.NoError(t, stop(), "run %d", i)
	}

	// The pins hold the datapath after the agent; removing them detaches it.
	var eth0 *net.Interface
	require.NoError(t, ns.Do(func() error {
		var err error
		eth0, err = net.InterfaceByName("eth0")
		return err
	}))
	l, err := h.LinkByIndex(eth0.Index)
	require.NoError(t, err)
	require.NotNil(t, l.Attrs().Xdp)
	require.True(t, l.Attrs().Xdp.Attached, "the pinned prefilter stays attached")
	require.NoError(t, ns.Do(func() error {
		p, err := ebpf.NewPrefilter(datapath.PrefilterOptions{PinPath: pins + "/prefilter"})
		if err != nil {
			return err
		}
		lb, err := ebpf.NewLoadBalancer(datapath.LBOptions{PinPath: pins + "/lb", DSRSource: netip.MustParseAddr("10.0.1.5")})
		if err != nil {
			return err
		}
		rd, err := ebpf.NewProxyRedirect(datapath.RedirectOptions{PinPath: pins + "/redirect"})
		if err != nil {
			return err
		}
		return errors.Join(p.Remove(), lb.Remove(), rd.Remove())
	}))
	l, err = h.LinkByIndex(eth0.Index)
	require.NoError(t, err)
	require.False(t, l.Attrs().Xdp != nil && l.Attrs().Xdp.Attached, "removed")
	entries, err := os.ReadDir(pins)
	if err == nil {
		require.Empty(t, entries, "pins left")
	}
}
