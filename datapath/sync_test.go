package datapath_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/fake"
	"github.com/eniway/eniway/maglev"
)

func TestSyncPrefilter(t *testing.T) {
	p := fake.NewPrefilter(datapath.PrefilterOptions{})
	a, b, c := netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("2001:db8::/48")
	rev, err := datapath.SyncPrefilter(p, []netip.Prefix{a, b, b})
	require.NoError(t, err)
	require.Equal(t, uint64(1), rev)
	rev, err = datapath.SyncPrefilter(p, []netip.Prefix{c, a})
	require.NoError(t, err)
	require.Equal(t, uint64(2), rev, "one batch")
	list, _ := p.List()
	require.Equal(t, []netip.Prefix{a, c}, list)
	rev, err = datapath.SyncPrefilter(p, []netip.Prefix{a, c})
	require.NoError(t, err)
	require.Equal(t, uint64(2), rev, "nothing to do, nothing applied")
	// A refused list applies nothing.
	_, err = datapath.SyncPrefilter(p, []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24")})
	require.ErrorIs(t, err, datapath.ErrInvalidPrefix)
	list, rev = p.List()
	require.Equal(t, []netip.Prefix{a, c}, list)
	require.Equal(t, uint64(2), rev)
}

func TestSyncServices(t *testing.T) {
	lb, err := fake.NewLoadBalancer(datapath.LBOptions{MaxServices: 4})
	require.NoError(t, err)
	fe := func(s string) datapath.Frontend {
		return datapath.Frontend{Addr: netip.MustParseAddrPort(s), Protocol: maglev.ProtocolTCP}
	}
	be := func(s string, w uint16) datapath.LBBackend {
		return datapath.LBBackend{Addr: netip.MustParseAddrPort(s), Weight: w}
	}
	s1 := datapath.Service{Frontend: fe("10.96.0.1:80"), Backends: []datapath.LBBackend{be("10.0.0.1:80", 1)}}
	s2 := datapath.Service{Frontend: fe("10.96.0.2:80"), Backends: []datapath.LBBackend{be("10.0.0.2:80", 1)}}
	up, del, err := datapath.SyncServices(lb, []datapath.Service{s1, s2})
	require.NoError(t, err)
	require.Equal(t, [2]int{2, 0}, [2]int{up, del})
	s1b := s1
	s1b.Backends = []datapath.LBBackend{be("10.0.0.1:80", 2)}
	s3 := datapath.Service{Frontend: fe("10.96.0.3:80"), Algorithm: datapath.LBAlgorithmRandom, Backends: s2.Backends}
	up, del, err = datapath.SyncServices(lb, []datapath.Service{s3, s1b})
	require.NoError(t, err)
	require.Equal(t, [2]int{2, 1}, [2]int{up, del}, "s1 changed, s3 new, s2 gone")
	require.Equal(t, []datapath.Service{s1b, s3}, lb.Services())
	up, del, err = datapath.SyncServices(lb, []datapath.Service{s1b, s3})
	require.NoError(t, err)
	require.Equal(t, [2]int{0, 0}, [2]int{up, del})
	// A refused service applies nothing: not even the deletions.
	bad := datapath.Service{Frontend: fe("10.96.0.9:0")}
	_, _, err = datapath.SyncServices(lb, []datapath.Service{bad})
	require.ErrorIs(t, err, datapath.ErrInvalidService)
	require.Equal(t, []datapath.Service{s1b, s3}, lb.Services())
}

func TestSyncRedirects(t *testing.T) {
	r, err := fake.NewProxyRedirect(datapath.RedirectOptions{})
	require.NoError(t, err)
	rd := func(fe, proxy string) datapath.Redirect {
		return datapath.Redirect{Frontend: datapath.Frontend{Addr: netip.MustParseAddrPort(fe), Protocol: maglev.ProtocolTCP},
			Proxy: netip.MustParseAddrPort(proxy)}
	}
	a, b := rd("10.96.0.1:80", "127.0.0.1:15001"), rd("[2001:db8::1]:443", "[::1]:15001")
	set, del, err := datapath.SyncRedirects(r, []datapath.Redirect{a, b})
	require.NoError(t, err)
	require.Equal(t, [2]int{2, 0}, [2]int{set, del})
	a2 := rd("10.96.0.1:80", "127.0.0.1:15002")
	set, del, err = datapath.SyncRedirects(r, []datapath.Redirect{a2})
	require.NoError(t, err)
	require.Equal(t, [2]int{1, 1}, [2]int{set, del})
	require.Equal(t, []datapath.Redirect{a2}, r.Redirects())
}
