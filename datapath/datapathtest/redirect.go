package datapathtest

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/maglev"
)

// RunRedirect runs the proxy redirect's table conformance: what is set,
// replaced, removed and refused (the namespace test of the kernel backend
// covers the packets).
func RunRedirect(t *testing.T, r datapath.ProxyRedirect) {
	fe := datapath.Frontend{Addr: netip.MustParseAddrPort("10.96.0.10:80"), Protocol: maglev.ProtocolTCP}
	fe2 := datapath.Frontend{Addr: netip.MustParseAddrPort("10.96.0.11:443"), Protocol: maglev.ProtocolTCP}
	p1, p2 := netip.MustParseAddrPort("127.0.0.1:15001"), netip.MustParseAddrPort("0.0.0.0:15002")
	require.NoError(t, r.Set(datapath.Redirect{Frontend: fe2, Proxy: p1}, datapath.Redirect{Frontend: fe, Proxy: p1}))
	require.NoError(t, r.Set(datapath.Redirect{Frontend: fe, Proxy: p2}))
	require.Equal(t, []datapath.Redirect{{Frontend: fe, Proxy: p2}, {Frontend: fe2, Proxy: p1}}, r.Redirects())
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
		{"unknown frontend", func() error {
			return r.Remove(fe, datapath.Frontend{Addr: netip.MustParseAddrPort("10.96.0.12:80"), Protocol: maglev.ProtocolTCP})
		}, "frontends[1]", datapath.ErrNoRedirect},
	} {
		err := c.do()
		require.ErrorIs(t, err, c.err, c.name)
		var le *datapath.LBError
		require.True(t, errors.As(err, &le), c.name)
		require.Equal(t, c.field, le.Field, c.name)
		require.Len(t, r.Redirects(), 2, c.name)
	}
	require.NoError(t, r.Remove(fe, fe2))
	require.Empty(t, r.Redirects())
}
