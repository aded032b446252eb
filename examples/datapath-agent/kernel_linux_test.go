package main

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/ebpf"
	"github.com/eniway/eniway/internal/testutils"
)

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
