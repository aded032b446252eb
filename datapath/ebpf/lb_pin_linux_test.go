package ebpf

import (
	"net/netip"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/datapathtest"
	"github.com/eniway/eniway/internal/testutils"
	"github.com/eniway/eniway/maglev"
)

// TestLBRecoverFinishesBatches stops a pinned load balancer in the middle
// of two batches, the way a crash would: an Upsert whose record is
// written but whose table is not, and a Delete whose record is gone but
// whose service is still in the program's map. The next load balancer
// finishes both: the first service gets its new table, the second goes
// with its flows, and its backend is cleared.
func TestLBRecoverFinishesBatches(t *testing.T) {
	testutils.RequireBPF(t)
	opts := datapath.LBOptions{MaxServices: 4, PinPath: filepath.Join(testutils.BPFFS(t), "lb")}
	l, err := NewLoadBalancer(opts)
	require.NoError(t, err)
	tcp := func(vip string, backends ...datapath.LBBackend) datapath.Service {
		return datapath.Service{Frontend: datapath.Frontend{Addr: netip.MustParseAddrPort(vip), Protocol: maglev.ProtocolTCP}, Backends: backends}
	}
	be := func(a string, w uint16) datapath.LBBackend {
		return datapath.LBBackend{Addr: netip.MustParseAddrPort(a), Weight: w}
	}
	s1 := tcp("10.96.0.1:80", be("10.1.0.1:80", 1), be("10.1.0.2:80", 1))
	s2 := tcp("10.96.0.2:80", be("10.1.0.3:80", 1))
	s3 := tcp("[2001:db8:96::1]:80", be("[2001:db8:1::1]:80", 1), be("[2001:db8:1::2]:80", 2), be("[2001:db8:1::3]:80", 0))
	s4 := tcp("10.96.0.4:80", be("10.1.0.5:80", 1), be("10.1.0.6:80", 1))
	s4.Algorithm = datapath.LBAlgorithmRandom
	require.NoError(t, l.Upsert(s1, s2, s3, s4))
	client := netip.MustParseAddrPort("192.168.0.1:1000")
	verdict, _, err := l.RunPacket(datapathtest.Flow4(datapathtest.ProtoTCP, client, s2.Frontend.Addr))
	require.NoError(t, err)
	require.Equal(t, datapath.VerdictPass, verdict)
	gone := l.st.BackendID(s2.Backends[0].Addr)

	// The interrupted Upsert: s1 gets a new backend and weights.
	s1b := tcp("10.96.0.1:80", be("10.1.0.1:80", 3), be("10.1.0.2:80", 1), be("10.1.0.4:80", 1))
	ch, err := l.st.Upsert([]datapath.Service{s1b})
	require.NoError(t, err)
	for _, id := range ch.NewIDs {
		require.NoError(t, l.writeBackend(id))
	}
	require.NoError(t, l.record(s1b.Frontend))
	// The interrupted Delete.
	_, err = l.st.Delete([]datapath.Frontend{s2.Frontend})
	require.NoError(t, err)
	require.NoError(t, l.unrecord(s2.Frontend, 0))
	require.NoError(t, l.Close())

	next, err := NewLoadBalancer(opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, next.Remove()) }()
	require.Equal(t, []datapath.Service{s1b, s4, s3}, next.Services())
	src6 := netip.MustParseAddrPort("[2001:db8:c1::1]:1000")
	_, out, err := next.RunPacket(datapathtest.Flow6(datapathtest.ProtoTCP, src6, s3.Frontend.Addr))
	require.NoError(t, err)
	require.Equal(t, datapathtest.Flow6(datapathtest.ProtoTCP, src6, datapathtest.ExpectedBackend(t, maglev.Config{}, s3, src6)), out,
		"the IPv6 service is taken over")
	for port := range uint16(50) {
		src := netip.AddrPortFrom(client.Addr(), 2000+port)
		_, out, err := next.RunPacket(datapathtest.Flow4(datapathtest.ProtoTCP, src, s1b.Frontend.Addr))
		require.NoError(t, err)
		require.Equal(t, datapathtest.Flow4(datapathtest.ProtoTCP, src, datapathtest.ExpectedBackend(t, maglev.Config{}, s1b, src)), out,
			"a flow from %s goes by the new table", src)
	}
	frame := datapathtest.Flow4(datapathtest.ProtoTCP, client, s2.Frontend.Addr)
	_, out, err = next.RunPacket(frame)
	require.NoError(t, err)
	require.Equal(t, frame, out, "the deleted service's flow is not balanced")
	flows, err := next.Conntrack()
	require.NoError(t, err)
	for _, f := range flows {
		require.NotEqual(t, s2.Frontend, f.Frontend)
	}
	var b lbLbBackend
	require.NoError(t, next.objs.LbBackends.Lookup(gone, &b))
	require.Zero(t, b, "the deleted service's backend is cleared")

	// A decision's record is what LBEventRecordSize says.
	require.Equal(t, datapath.LBEventRecordSize, int(unsafe.Sizeof(lbLbEvent{}))+8)

	// Pins made with other options are refused, with the reason.
	other := opts
	other.CTMax = 1024
	_, err = NewLoadBalancer(other)
	require.ErrorContains(t, err, "other options")
}
