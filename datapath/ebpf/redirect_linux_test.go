package ebpf_test

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/datapathtest"
	"github.com/eniway/eniway/datapath/ebpf"
	"github.com/eniway/eniway/internal/testutils"
	"github.com/eniway/eniway/maglev"
)

// TestProxyRedirect connects from a client namespace to a frontend VIP
// that nothing in the proxy's namespace listens on: the redirect at TC
// ingress hands each connection to the proxy's listener on 127.0.0.1,
// whose accepted socket has the VIP as its local address. With TCX and
// with a clsact filter.
func TestProxyRedirect(t *testing.T) {
	for _, mode := range []ebpf.TCMode{ebpf.TCModeTCX, ebpf.TCModeClsact} {
		t.Run(mode.String(), func(t *testing.T) {
			testutils.RequireBPF(t)
			r, err := ebpf.NewProxyRedirect(8)
			require.NoError(t, err)
			defer func() { require.NoError(t, r.Close()) }()
			client, proxy := testutils.NewNetNS(t), testutils.NewNetNS(t)
			index := vethPair(t, client, proxy, "rd-c", "rd-p", netip.MustParseAddr("10.83.1.1"), netip.MustParseAddr("10.83.1.2"))
			// Frontends are delivered locally on the proxy's side, and
			// reached through it from the client's.
			vips := &net.IPNet{IP: net.IP{10, 96, 0, 0}, Mask: net.CIDRMask(16, 32)}
			lo, err := proxy.NetlinkHandle(t).LinkByName("lo")
			require.NoError(t, err)
			require.NoError(t, proxy.NetlinkHandle(t).RouteAdd(&netlink.Route{Dst: vips, LinkIndex: lo.Attrs().Index,
				Type: unix.RTN_LOCAL, Table: unix.RT_TABLE_LOCAL, Scope: unix.RT_SCOPE_HOST}))
			require.NoError(t, client.NetlinkHandle(t).RouteAdd(&netlink.Route{Dst: vips, Gw: net.IP{10, 83, 1, 2}}))

			var ln *net.TCPListener
			require.NoError(t, proxy.Do(func() error {
				var err error
				ln, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:15001")))
				return err
			}))
			defer ln.Close()
			vip := netip.MustParseAddrPort("10.96.0.10:80")
			require.NoError(t, r.Set(datapath.Redirect{Frontend: datapath.Frontend{Addr: vip, Protocol: maglev.ProtocolTCP},
				Proxy: netip.MustParseAddrPort("127.0.0.1:15001")}))
			require.NoError(t, proxy.Do(func() error {
				used, err := r.Attach(index, mode)
				if err == nil && used != mode {
					err = errors.New("attached as " + used.String())
				}
				return err
			}))

			accepted := make(chan net.Addr, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					close(accepted)
					return
				}
				defer c.Close()
				accepted <- c.LocalAddr()
				_, _ = c.Write([]byte("proxied\n"))
			}()
			var answer string
			require.NoError(t, client.Do(func() error {
				c, err := net.DialTimeout("tcp", vip.String(), 5*time.Second)
				if err != nil {
					return err
				}
				defer c.Close()
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 16)
				n, err := c.Read(buf)
				answer = string(buf[:n])
				return err
			}))
			require.Equal(t, "proxied\n", answer)
			local := <-accepted
			require.Equal(t, vip.String(), local.String(), "the proxy's socket has the frontend as its local address")
			c, err := r.Counters()
			require.NoError(t, err)
			require.NotZero(t, c.Assigned)
			require.Zero(t, c.Failed)

			// Without the redirect, nothing listens on the VIP.
			require.NoError(t, r.Remove(datapath.Frontend{Addr: vip, Protocol: maglev.ProtocolTCP}))
			require.Error(t, client.Do(func() error {
				c, err := net.DialTimeout("tcp", vip.String(), time.Second)
				if err == nil {
					c.Close()
				}
				return err
			}))
		})
	}
}

func TestRedirectConformance(t *testing.T) {
	testutils.RequireBPF(t)
	r, err := ebpf.NewProxyRedirect(8)
	require.NoError(t, err)
	defer func() { require.NoError(t, r.Close()) }()
	datapathtest.RunRedirect(t, r)
}
