package ebpf_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/ebpf"
	"github.com/eniway/eniway/internal/testutils"
)

// bpffs mounts a private bpffs instance on a temporary directory for the
// test, unmounted when it ends.
func bpffs(t *testing.T) string {
	t.Helper()
	return testutils.BPFFS(t)
}

// TestPrefilterRestart replaces a pinned prefilter with a new one while
// UDP flows through the interface it is attached to, from an allowed and
// from a denied source: the new prefilter takes over the deny list, the
// revision, the counters and the link, and swaps its program in with
// link.Update, so every allowed datagram arrives and not one denied
// datagram gets through. Remove then takes every pin away.
func TestPrefilterRestart(t *testing.T) {
	pins := filepath.Join(bpffs(t), "prefilter")
	opts := datapath.PrefilterOptions{PinPath: pins, MaxEntries: 1024}
	old := newPrefilter(t, opts)
	v := newVeth(t)
	deny := []netip.Prefix{netip.PrefixFrom(v.client4b, 32), netip.MustParsePrefix("2001:db8:dead::/48")}
	rev, err := old.Update(datapath.PrefilterBatch{Insert: deny})
	require.NoError(t, err)
	require.NoError(t, v.server.Do(func() error { _, err := old.Attach(v.serverIndex, datapath.XDPModeAuto); return err }))

	var srv *net.UDPConn
	require.NoError(t, v.server.Do(func() error {
		var err error
		srv, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(v.server4, 0)))
		return err
	}))
	defer srv.Close()
	// A buffer that holds the whole flow, past net.core.rmem_max (root
	// may), so that a slow reader loses nothing.
	raw, err := srv.SyscallConn()
	require.NoError(t, err)
	require.NoError(t, raw.Control(func(fd uintptr) {
		require.NoError(t, unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20))
	}))
	var allowed, denied atomic.Int64
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 64)
		for {
			_ = srv.SetReadDeadline(time.Now().Add(time.Second))
			_, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if from.Addr() == v.client4b {
				denied.Add(1)
			} else {
				allowed.Add(1)
			}
		}
	}()
	// A steady flow from each source, about 300 ms long.
	const sent = 3000
	sendDone := make(chan error, 1)
	go func() {
		sendDone <- v.client.Do(func() error {
			var conns []*net.UDPConn
			for _, src := range []netip.Addr{v.client4, v.client4b} {
				c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), srv.LocalAddr().(*net.UDPAddr))
				if err != nil {
					return err
				}
				defer c.Close()
				conns = append(conns, c)
			}
			for i := range sent {
				for _, c := range conns {
					if _, err := fmt.Fprintf(c, "%d", i); err != nil {
						return err
					}
				}
				if i%100 == 0 {
					time.Sleep(10 * time.Millisecond)
				}
			}
			return nil
		})
	}()

	// The restart, in the middle of the flow.
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, old.Close())
	next, err := ebpf.NewPrefilter(opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, next.Remove()) }()
	list, nextRev := next.List()
	require.Equal(t, deny, list, "the deny list is taken over")
	require.Equal(t, rev, nextRev, "and its revision")
	var mode datapath.XDPMode
	require.NoError(t, v.server.Do(func() error {
		var err error
		mode, err = next.Attach(v.serverIndex, datapath.XDPModeAuto)
		return err
	}))
	require.Equal(t, datapath.XDPModeNative, mode)

	require.NoError(t, <-sendDone)
	<-readDone
	require.Equal(t, int64(sent), allowed.Load(), "allowed datagrams lost across the restart")
	require.Zero(t, denied.Load(), "denied datagrams let through across the restart")
	counters, err := next.Counters()
	require.NoError(t, err)
	require.Equal(t, uint64(sent), counters.DroppedIPv4, "the counters carry on")

	// The new prefilter is in charge: a batch on the revision it took
	// over applies.
	_, err = next.Update(datapath.PrefilterBatch{Revision: rev, Insert: []netip.Prefix{netip.PrefixFrom(v.client4, 32)}})
	require.NoError(t, err)
	require.Zero(t, v.sendUDP(t, v.server4, 10))

	// Remove takes the pins away and detaches.
	require.NoError(t, next.Remove())
	_, err = os.Stat(pins)
	require.ErrorIs(t, err, os.ErrNotExist, "pins left behind")
	require.Equal(t, 10, v.sendUDP(t, v.server4, 10), "detached")
}
