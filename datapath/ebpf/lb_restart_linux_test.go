package ebpf_test

import (
	"bufio"
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
	"github.com/eniway/eniway/datapath/datapathtest"
	"github.com/eniway/eniway/datapath/ebpf"
	"github.com/eniway/eniway/maglev"
)

// TestLBRestart replaces a pinned load balancer with a new one while UDP
// flows through it and TCP connections it balanced stay open: the new one
// takes over the services (weights, a drained backend and all), the
// tracked flows and the counters, and swaps its programs into the pinned
// links with link.Update. Every datagram arrives, each open connection
// keeps its backend (and its replies their reverse NAT), and new ones go
// where Maglev says. Remove then takes every pin away.
func TestLBRestart(t *testing.T) {
	pins := filepath.Join(bpffs(t), "lb")
	opts := datapath.LBOptions{MaxServices: 8, PinPath: pins}
	old := newLB(t, opts)
	r := newRouted(t, 85, "rs")
	b10, b11 := netip.MustParseAddr("10.85.2.10"), netip.MustParseAddr("10.85.2.11")
	web := datapath.Service{Frontend: datapath.Frontend{Addr: netip.MustParseAddrPort("10.96.0.10:80"), Protocol: maglev.ProtocolTCP},
		Backends: []datapath.LBBackend{{Addr: netip.AddrPortFrom(b10, 8080), Weight: 1}, {Addr: netip.AddrPortFrom(b11, 8080), Weight: 2},
			{Addr: netip.MustParseAddrPort("10.85.2.12:8080"), Weight: 0}}}
	dns := datapath.Service{Frontend: datapath.Frontend{Addr: netip.MustParseAddrPort("10.96.0.10:53"), Protocol: maglev.ProtocolUDP},
		Backends: []datapath.LBBackend{{Addr: netip.AddrPortFrom(b10, 5353), Weight: 1}, {Addr: netip.AddrPortFrom(b11, 5353), Weight: 1}}}
	require.NoError(t, old.Upsert(web, dns))
	attach := func(l *ebpf.LoadBalancer) {
		require.NoError(t, r.router.Do(func() error {
			mode, err := l.Attach(r.clientSide, datapath.XDPModeAuto)
			if err == nil && mode != datapath.XDPModeNative {
				err = fmt.Errorf("mode %v", mode)
			}
			if err != nil {
				return err
			}
			_, err = l.AttachReplies(r.backendSide, datapath.XDPModeAuto)
			return err
		}))
	}
	attach(old)

	// TCP backends answer each line with their own address.
	for _, b := range web.Backends[:2] {
		var ln net.Listener
		require.NoError(t, r.backend.Do(func() error {
			var err error
			ln, err = net.Listen("tcp", b.Addr.String())
			return err
		}))
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					s := bufio.NewScanner(c)
					for s.Scan() {
						if _, err := fmt.Fprintln(c, b.Addr); err != nil {
							return
						}
					}
				}()
			}
		}()
	}
	type conn struct {
		c       net.Conn
		r       *bufio.Reader
		backend string
	}
	ask := func(c *conn) string {
		_ = c.c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := fmt.Fprintln(c.c, "which")
		require.NoError(t, err)
		line, err := c.r.ReadString('\n')
		require.NoError(t, err)
		return line[:len(line)-1]
	}
	dial := func(src netip.AddrPort) *conn {
		var c net.Conn
		require.NoError(t, r.client.Do(func() error {
			var err error
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(src)}
			c, err = d.Dial("tcp", web.Frontend.Addr.String())
			return err
		}))
		require.Equal(t, web.Frontend.Addr.String(), c.RemoteAddr().String(), "the client sees the VIP")
		return &conn{c: c, r: bufio.NewReader(c)}
	}
	var open []*conn
	for i := range 8 {
		src := netip.AddrPortFrom(netip.MustParseAddr("10.85.1.1"), uint16(32000+i))
		c := dial(src)
		defer c.c.Close()
		c.backend = ask(c)
		require.Equal(t, datapathtest.ExpectedBackend(t, maglev.Config{}, web, src).String(), c.backend)
		open = append(open, c)
	}

	// UDP backends count what they get, into buffers that hold the
	// whole flow.
	var got atomic.Int64
	readers := make(chan struct{}, 2)
	for _, b := range dns.Backends {
		var c *net.UDPConn
		require.NoError(t, r.backend.Do(func() error {
			var err error
			c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(b.Addr))
			return err
		}))
		defer c.Close()
		raw, err := c.SyscallConn()
		require.NoError(t, err)
		require.NoError(t, raw.Control(func(fd uintptr) {
			require.NoError(t, unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20))
		}))
		go func() {
			defer func() { readers <- struct{}{} }()
			buf := make([]byte, 64)
			for {
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
				got.Add(1)
			}
		}()
	}
	// A steady flow from 10 client ports, about 300 ms long.
	const sent = 3000
	sendDone := make(chan error, 1)
	go func() {
		sendDone <- r.client.Do(func() error {
			var conns []*net.UDPConn
			for i := range 10 {
				src := netip.AddrPortFrom(netip.MustParseAddr("10.85.1.1"), uint16(40000+i))
				c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(src), net.UDPAddrFromAddrPort(dns.Frontend.Addr))
				if err != nil {
					return err
				}
				defer c.Close()
				conns = append(conns, c)
			}
			for i := range sent {
				if _, err := fmt.Fprintf(conns[i%len(conns)], "%d", i); err != nil {
					return err
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
	next, err := ebpf.NewLoadBalancer(opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, next.Remove()) }()
	require.Equal(t, []datapath.Service{dns, web}, next.Services(), "the services are taken over")
	attach(next)

	require.NoError(t, <-sendDone)
	<-readers
	<-readers
	require.Equal(t, int64(sent), got.Load(), "datagrams lost across the restart")
	// Draining a backend moves no tracked flow, the flows of the last
	// load balancer included: they were taken over with their backends'
	// ids and generations. New connections go to the other backend.
	drained := web
	drained.Backends = []datapath.LBBackend{{Addr: netip.AddrPortFrom(b10, 8080), Weight: 0}, web.Backends[1], web.Backends[2]}
	require.NoError(t, next.Upsert(drained))
	on10 := 0
	for _, c := range open {
		require.Equal(t, c.backend, ask(c), "an open connection keeps its backend")
		if c.backend == web.Backends[0].Addr.String() {
			on10++
		}
	}
	require.NotZero(t, on10, "a connection on the drained backend")
	flows, err := next.Conntrack()
	require.NoError(t, err)
	require.Len(t, flows, 8+10)
	counters, err := next.Counters()
	require.NoError(t, err)
	require.Equal(t, uint64(8+10), counters.Forwarded, "the counters carry on")
	for i := range 4 {
		src := netip.AddrPortFrom(netip.MustParseAddr("10.85.1.1"), uint16(33000+i))
		c := dial(src)
		require.Equal(t, web.Backends[1].Addr.String(), ask(c), "a new connection")
		require.NoError(t, c.c.Close())
	}

	// The new load balancer is in charge, and Remove takes the pins away
	// and detaches.
	require.NoError(t, next.Delete(dns.Frontend))
	require.NoError(t, next.Remove())
	_, err = os.Stat(pins)
	require.ErrorIs(t, err, os.ErrNotExist, "pins left behind")
	require.Error(t, r.client.Do(func() error {
		d := net.Dialer{Timeout: time.Second}
		c, err := d.Dial("tcp", web.Frontend.Addr.String())
		if err == nil {
			c.Close()
		}
		return err
	}), "detached: the VIP is not served")
}
