package datapathtest

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/maglev"
)

// RedirectBackend is a proxy redirect under test: one that reports its
// decisions.
type RedirectBackend interface {
	datapath.ProxyRedirect
	datapath.RedirectEvents
}

// The addresses RunRedirect uses: frontends in RedirectFrontends4 and
// RedirectFrontends6, which a kernel harness delivers locally; clients in
// RedirectClients4 and RedirectClients6, which it routes back out of the
// interface frames arrive on (where no one answers); and proxies on
// 127.0.0.1, ::1, 0.0.0.0 and ::, ports 15001 and 15002.
const (
	RedirectFrontends4 = "10.96.0.0/16"
	RedirectFrontends6 = "fd00:96::/64"
	RedirectClients4   = "192.0.2.0/24"
	RedirectClients6   = "2001:db8:2::/64"
)

// RedirectHarness is how RunRedirect drives a backend. The program's
// decisions depend on sockets (the connection's own, the proxy's
// listener), so the harness gives the suite listeners and a way in for
// packets: the kernel backend's harness sends frames into an interface
// the program is attached to, with listeners in its network namespace;
// the fake's hands them to RunPacket, with its modelled listeners.
type RedirectHarness struct {
	// Open returns a fresh redirect of opts that decides on delivered
	// frames; the suite closes it.
	Open func(t *testing.T, opts datapath.RedirectOptions) RedirectBackend
	// Listen makes a proxy's listener bound to addr, for r, until stop is
	// called (or t ends).
	Listen func(t *testing.T, r RedirectBackend, addr netip.AddrPort) (stop func())
	// Deliver hands frame, an untagged Ethernet frame with valid
	// checksums, to r as it comes in on an interface, and returns once r
	// has counted it.
	Deliver func(t *testing.T, r RedirectBackend, frame []byte)
	// Ifindex is the interface delivered frames come in on, as events
	// report it.
	Ifindex int
}

func tcpFrontend(s string) datapath.Frontend {
	return datapath.Frontend{Addr: netip.MustParseAddrPort(s), Protocol: maglev.ProtocolTCP}
}

// RunRedirect runs the proxy redirect's conformance: what is set,
// replaced, deleted and refused, and the decisions on packets, their
// counters and their events, over IPv4 and IPv6.
func RunRedirect(t *testing.T, h RedirectHarness) {
	open := func(t *testing.T, opts datapath.RedirectOptions) RedirectBackend {
		t.Helper()
		r := h.Open(t, opts)
		t.Cleanup(func() { require.NoError(t, r.Close()) })
		return r
	}
	fe, fe2 := tcpFrontend("10.96.0.10:80"), tcpFrontend("10.96.0.11:443")
	fe6 := tcpFrontend("[fd00:96::10]:80")
	p1, p2 := netip.MustParseAddrPort("127.0.0.1:15001"), netip.MustParseAddrPort("0.0.0.0:15002")
	p6 := netip.MustParseAddrPort("[::1]:15001")

	t.Run("table", func(t *testing.T) {
		r := open(t, datapath.RedirectOptions{MaxRedirects: 3})
		require.NoError(t, r.Set(datapath.Redirect{Frontend: fe2, Proxy: p1}, datapath.Redirect{Frontend: fe, Proxy: p1}))
		require.NoError(t, r.Set(datapath.Redirect{Frontend: fe, Proxy: p2}, datapath.Redirect{Frontend: fe6, Proxy: p6}))
		want := []datapath.Redirect{{Frontend: fe, Proxy: p2}, {Frontend: fe2, Proxy: p1}, {Frontend: fe6, Proxy: p6}}
		require.Equal(t, want, r.Redirects())
		mapped := tcpFrontend("[::ffff:10.96.0.12]:80")
		for _, c := range []struct {
			name  string
			do    func() error
			field string
			err   error
		}{
			{"UDP", func() error {
				return r.Set(datapath.Redirect{Frontend: datapath.Frontend{Addr: fe.Addr, Protocol: maglev.ProtocolUDP}, Proxy: p1})
			}, "redirects[0].Frontend", datapath.ErrInvalidService},
			{"proxy without port", func() error {
				return r.Set(datapath.Redirect{Frontend: fe, Proxy: netip.AddrPortFrom(p1.Addr(), 0)})
			}, "redirects[0].Proxy", datapath.ErrInvalidService},
			{"IPv6 frontend to an IPv4 proxy, after a good one", func() error {
				return r.Set(datapath.Redirect{Frontend: fe, Proxy: p1}, datapath.Redirect{Frontend: fe6, Proxy: p1})
			}, "redirects[1].Proxy", datapath.ErrInvalidService},
			{"IPv4 frontend to an IPv6 proxy", func() error {
				return r.Set(datapath.Redirect{Frontend: fe, Proxy: p6})
			}, "redirects[0].Proxy", datapath.ErrInvalidService},
			{"IPv4-mapped frontend", func() error {
				return r.Set(datapath.Redirect{Frontend: mapped, Proxy: p6})
			}, "redirects[0].Frontend", datapath.ErrInvalidService},
			{"IPv4-mapped proxy", func() error {
				return r.Set(datapath.Redirect{Frontend: fe6, Proxy: netip.MustParseAddrPort("[::ffff:127.0.0.1]:15001")})
			}, "redirects[0].Proxy", datapath.ErrInvalidService},
			{"frontend with a zone", func() error {
				return r.Set(datapath.Redirect{Frontend: tcpFrontend("[fe80::1%eth0]:80"), Proxy: p6})
			}, "redirects[0].Frontend", datapath.ErrInvalidService},
			{"twice", func() error {
				return r.Set(datapath.Redirect{Frontend: fe, Proxy: p1}, datapath.Redirect{Frontend: fe, Proxy: p2})
			}, "redirects[1].Frontend", datapath.ErrInvalidService},
			{"full", func() error {
				return r.Set(datapath.Redirect{Frontend: fe, Proxy: p1}, datapath.Redirect{Frontend: tcpFrontend("[fd00:96::11]:80"), Proxy: p6})
			}, "redirects", datapath.ErrLBFull},
			{"unknown frontend", func() error {
				return r.Delete(fe, tcpFrontend("10.96.0.12:80"))
			}, "frontends[1]", datapath.ErrNoRedirect},
		} {
			err := c.do()
			require.ErrorIs(t, err, c.err, c.name)
			var le *datapath.LBError
			require.True(t, errors.As(err, &le), "%s: a *datapath.LBError: %v", c.name, err)
			require.Equal(t, c.field, le.Field, "%s: %v", c.name, err)
			require.Equal(t, want, r.Redirects(), "%s: nothing applied", c.name)
		}
		require.NoError(t, r.Delete(fe, fe6))
		require.Equal(t, []datapath.Redirect{{Frontend: fe2, Proxy: p1}}, r.Redirects())
		require.NoError(t, r.Delete(fe2))
		require.Empty(t, r.Redirects())
	})

	t.Run("decisions", func(t *testing.T) {
		r := open(t, datapath.RedirectOptions{MaxRedirects: 8, EventBuffer: 4096})
		feAny, feAny6 := tcpFrontend("10.96.0.11:443"), tcpFrontend("[fd00:96::11]:443")
		pAny6 := netip.MustParseAddrPort("[::]:15002")
		require.NoError(t, r.Set(datapath.Redirect{Frontend: fe, Proxy: p1}, datapath.Redirect{Frontend: fe6, Proxy: p6},
			datapath.Redirect{Frontend: feAny, Proxy: p2}, datapath.Redirect{Frontend: feAny6, Proxy: pAny6}))
		client := func(i byte) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, i}), 40000+uint16(i))
		}
		client6 := func(i byte) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 2, 15: i}), 40000+uint16(i))
		}

		// No stream: decided and counted, not reported.
		h.Deliver(t, r, Flow4(ProtoTCP, client(1), fe.Addr))

		st, err := r.Events()
		require.NoError(t, err)
		defer st.Close()
		var want []datapath.RedirectEvent
		var counters datapath.RedirectCounters
		counters.NoProxy++
		for _, step := range []struct {
			name   string
			listen []netip.AddrPort
			frame  []byte
			count  *uint64
			event  *datapath.RedirectEvent
		}{
			{name: "no redirect", frame: Flow4(ProtoTCP, client(2), netip.MustParseAddrPort("10.96.0.99:80")), count: &counters.Passed},
			{name: "UDP", frame: Flow4(ProtoUDP, client(2), fe.Addr), count: &counters.Passed},
			{name: "no proxy", frame: Flow4(ProtoTCP, client(2), fe.Addr), count: &counters.NoProxy,
				event: &datapath.RedirectEvent{Kind: datapath.RedirectEventNoProxy, Client: client(2), Frontend: fe, Proxy: p1}},
			{name: "new connection", listen: []netip.AddrPort{p1}, frame: Flow4(ProtoTCP, client(3), fe.Addr), count: &counters.Assigned,
				event: &datapath.RedirectEvent{Kind: datapath.RedirectEventNewConnection, Client: client(3), Frontend: fe, Proxy: p1}},
			{name: "the connection's own socket", listen: []netip.AddrPort{p1}, frame: Flow4(ProtoTCP, client(3), fe.Addr), count: &counters.Assigned},
			{name: "a listener on another port", listen: []netip.AddrPort{p2}, frame: Flow4(ProtoTCP, client(4), fe.Addr), count: &counters.NoProxy,
				event: &datapath.RedirectEvent{Kind: datapath.RedirectEventNoProxy, Client: client(4), Frontend: fe, Proxy: p1}},
			{name: "to an any-address proxy", listen: []netip.AddrPort{p2}, frame: Flow4(ProtoTCP, client(5), feAny.Addr), count: &counters.Assigned,
				event: &datapath.RedirectEvent{Kind: datapath.RedirectEventNewConnection, Client: client(5), Frontend: feAny, Proxy: p2}},
			{name: "to a proxy on a specific address, through an any-address listener", listen: []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:15001")},
				frame: Flow4(ProtoTCP, client(6), fe.Addr), count: &counters.Assigned,
				event: &datapath.RedirectEvent{Kind: datapath.RedirectEventNewConnection, Client: client(6), Frontend: fe, Proxy: p1}},
			{name: "IPv6 no redirect", frame: Flow6(ProtoTCP, client6(2), netip.MustParseAddrPort("[fd00:96::99]:80")), count: &counters.Passed},
			{name: "IPv6 UDP", frame: Flow6(ProtoUDP, client6(2), fe6.Addr), count: &counters.Passed},
			{name: "IPv6 no proxy", listen: []netip.AddrPort{p1}, frame: Flow6(ProtoTCP, client6(2), fe6.Addr), count: &counters.NoProxy,
				event: &datapath.RedirectEvent{Kind: datapath.RedirectEventNoProxy, Client: client6(2), Frontend: fe6, Proxy: p6}},
			{name: "IPv6 new connection", listen: []netip.AddrPort{p6}, frame: Flow6(ProtoTCP, client6(3), fe6.Addr), count: &counters.Assigned,
				event: &datapath.RedirectEvent{Kind: datapath.RedirectEventNewConnection, Client: client6(3), Frontend: fe6, Proxy: p6}},
			{name: "IPv6 the connection's own socket", listen: []netip.AddrPort{p6}, frame: Flow6(ProtoTCP, client6(3), fe6.Addr), count: &counters.Assigned},
			{name: "IPv6 past hop-by-hop and destination options", listen: []netip.AddrPort{p6},
				frame: WithIPv6ExtHeaders(Flow6(ProtoTCP, client6(4), fe6.Addr), IPv6HopByHop, IPv6DestOpts), count: &counters.Assigned,
				event: &datapath.RedirectEvent{Kind: datapath.RedirectEventNewConnection, Client: client6(4), Frontend: fe6, Proxy: p6}},
			{name: "IPv6 fragment header", listen: []netip.AddrPort{p6},
				frame: WithIPv6ExtHeaders(Flow6(ProtoTCP, client6(5), fe6.Addr), IPv6Fragment), count: &counters.Passed},
			{name: "IPv6 to an any-address proxy", listen: []netip.AddrPort{pAny6}, frame: Flow6(ProtoTCP, client6(6), feAny6.Addr), count: &counters.Assigned,
				event: &datapath.RedirectEvent{Kind: datapath.RedirectEventNewConnection, Client: client6(6), Frontend: feAny6, Proxy: pAny6}},
		} {
			var stops []func()
			for _, a := range step.listen {
				stops = append(stops, h.Listen(t, r, a))
			}
			h.Deliver(t, r, step.frame)
			for _, stop := range stops {
				stop()
			}
			*step.count++
			if step.event != nil {
				want = append(want, *step.event)
			}
			got, err := r.Counters()
			require.NoError(t, err, step.name)
			require.Equal(t, counters, got, step.name)
		}
		for i, w := range want {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			e, err := st.Next(ctx)
			cancel()
			require.NoError(t, err, "event %d", i)
			require.WithinDuration(t, time.Now(), e.Time, 5*time.Second, "event %d", i)
			require.Equal(t, h.Ifindex, e.Ifindex, "event %d", i)
			e.Time, e.Ifindex = time.Time{}, 0
			require.Equal(t, w, e, "event %d", i)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		_, err = st.Next(ctx)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, "no more events")
		require.NoError(t, st.Close())
		_, err = st.Next(t.Context())
		require.ErrorIs(t, err, datapath.ErrStreamClosed)
	})

	t.Run("events lost", func(t *testing.T) {
		// 4096 bytes hold 51 decisions.
		const fit, sent = 4096 / datapath.RedirectEventRecordSize, 55
		r := open(t, datapath.RedirectOptions{EventBuffer: 4096})
		require.NoError(t, r.Set(datapath.Redirect{Frontend: fe, Proxy: p1}))
		st, err := r.Events()
		require.NoError(t, err)
		defer st.Close()
		client := netip.MustParseAddrPort("192.0.2.50:40050")
		for range sent {
			h.Deliver(t, r, Flow4(ProtoTCP, client, fe.Addr))
		}
		c, err := r.Counters()
		require.NoError(t, err)
		require.Equal(t, datapath.RedirectCounters{NoProxy: sent, EventsLost: sent - fit}, c)
		for i := range fit {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			e, err := st.Next(ctx)
			cancel()
			require.NoError(t, err, "event %d", i)
			require.Equal(t, datapath.RedirectEventNoProxy, e.Kind)
		}
		// Read, the buffer takes decisions again.
		h.Deliver(t, r, Flow4(ProtoTCP, client, fe.Addr))
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		e, err := st.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, client, e.Client)
	})
}
