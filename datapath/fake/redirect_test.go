package fake_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/datapathtest"
	"github.com/eniway/eniway/datapath/fake"
	"github.com/eniway/eniway/maglev"
)

func TestRedirectConformance(t *testing.T) {
	datapathtest.RunRedirect(t, datapathtest.RedirectHarness{
		Open: func(t *testing.T, opts datapath.RedirectOptions) datapathtest.RedirectBackend {
			r, err := fake.NewProxyRedirect(opts)
			require.NoError(t, err)
			return r
		},
		Listen: func(t *testing.T, r datapathtest.RedirectBackend, addr netip.AddrPort) func() {
			stop := r.(*fake.ProxyRedirect).Listen(addr)
			t.Cleanup(stop)
			return stop
		},
		Deliver: func(t *testing.T, r datapathtest.RedirectBackend, frame []byte) {
			require.Equal(t, datapath.VerdictPass, r.(*fake.ProxyRedirect).RunPacket(frame))
		},
		Ifindex: fake.TestIfindex,
	})
}

// TestRedirectRunPacket covers what the conformance suite leaves to the
// fake: tagged and cut-short frames, listeners that add up, connections
// that outlive their listener, and a closed redirect.
func TestRedirectRunPacket(t *testing.T) {
	_, err := fake.NewProxyRedirect(datapath.RedirectOptions{EventBuffer: 100})
	require.ErrorIs(t, err, datapath.ErrInvalidOptions)

	r, err := fake.NewProxyRedirect(datapath.RedirectOptions{})
	require.NoError(t, err)
	fe := datapath.Frontend{Addr: netip.MustParseAddrPort("10.96.0.10:80"), Protocol: maglev.ProtocolTCP}
	proxy := netip.MustParseAddrPort("127.0.0.1:15001")
	require.NoError(t, r.Set(datapath.Redirect{Frontend: fe, Proxy: proxy}))
	rd, ok := r.Lookup(fe)
	require.True(t, ok)
	require.Equal(t, proxy, rd.Proxy)
	st, err := r.Events()
	require.NoError(t, err)
	defer st.Close()

	client := netip.MustParseAddrPort("192.0.2.1:40000")
	frame := datapathtest.Flow4(datapathtest.ProtoTCP, client, fe.Addr)
	tagged := datapathtest.VLAN(datapathtest.VLAN(frame, datapathtest.EtherTypeVLAN, 7), datapathtest.EtherTypeQinQ, 8)
	var want datapath.RedirectCounters
	check := func(name string) {
		t.Helper()
		got, err := r.Counters()
		require.NoError(t, err)
		require.Equal(t, want, got, name)
	}
	const headers = 14 + 20 + 20 // Ethernet, IPv4, TCP
	for n := range headers {
		r.RunPacket(frame[:n])
	}
	want.Passed += headers
	check("cut short")

	stop1, stop2 := r.Listen(proxy), r.Listen(proxy)
	stop1()
	stop1()
	r.RunPacket(tagged)
	want.Assigned++
	check("tagged, with one listener left")
	e, err := st.Next(t.Context())
	require.NoError(t, err)
	require.Equal(t, datapath.RedirectEventNewConnection, e.Kind)
	require.Equal(t, client, e.Client)

	stop2()
	r.RunPacket(frame)
	want.Assigned++
	check("the connection outlives its listener")
	r.RunPacket(datapathtest.Flow4(datapathtest.ProtoTCP, netip.MustParseAddrPort("192.0.2.2:40000"), fe.Addr))
	want.NoProxy++
	check("a new connection finds none")

	require.NoError(t, r.Close())
	require.Error(t, r.Set(datapath.Redirect{Frontend: fe, Proxy: proxy}))
	require.Error(t, r.Delete(fe))
	_, err = r.Events()
	require.Error(t, err)
}

// FuzzRedirectRunPacket: any frame is counted once, and reported only
// when it is decided on for a redirected frontend.
func FuzzRedirectRunPacket(f *testing.F) {
	fe := datapath.Frontend{Addr: netip.MustParseAddrPort("10.96.0.10:80"), Protocol: maglev.ProtocolTCP}
	fe6 := datapath.Frontend{Addr: netip.MustParseAddrPort("[fd00:96::10]:80"), Protocol: maglev.ProtocolTCP}
	c4, c6 := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("[2001:db8:2::1]:40000")
	for _, frame := range [][]byte{
		datapathtest.Flow4(datapathtest.ProtoTCP, c4, fe.Addr),
		datapathtest.Flow6(datapathtest.ProtoTCP, c6, fe6.Addr),
		datapathtest.WithIPv6ExtHeaders(datapathtest.Flow6(datapathtest.ProtoTCP, c6, fe6.Addr), datapathtest.IPv6HopByHop, datapathtest.IPv6DestOpts),
		datapathtest.VLAN(datapathtest.Flow4(datapathtest.ProtoTCP, c4, fe.Addr), datapathtest.EtherTypeVLAN, 1),
	} {
		f.Add(frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		r, err := fake.NewProxyRedirect(datapath.RedirectOptions{})
		require.NoError(t, err)
		require.NoError(t, r.Set(datapath.Redirect{Frontend: fe, Proxy: netip.MustParseAddrPort("127.0.0.1:15001")},
			datapath.Redirect{Frontend: fe6, Proxy: netip.MustParseAddrPort("[::1]:15001")}))
		r.Listen(netip.MustParseAddrPort("127.0.0.1:15001"))
		require.Equal(t, datapath.VerdictPass, r.RunPacket(frame))
		c, err := r.Counters()
		require.NoError(t, err)
		require.Equal(t, uint64(1), c.Passed+c.Assigned+c.NoProxy+c.Failed)
	})
}
