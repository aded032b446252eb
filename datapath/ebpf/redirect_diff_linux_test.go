package ebpf_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/datapathtest"
	"github.com/eniway/eniway/datapath/fake"
	"github.com/eniway/eniway/internal/testutils"
	"github.com/eniway/eniway/maglev"
)

// rdExtHeaders inserts IPv6 extension headers of the given next-header
// types and lengths (in 8-byte units past the first 8) after the IPv6
// header of an untagged frame; the contents are zeros.
func rdExtHeaders(frame []byte, types, lens []uint8) []byte {
	out := slices.Clone(frame[:14+40])
	next := frame[14+6]
	var ext []byte
	for i := range types {
		h := make([]byte, (int(lens[i])+1)*8)
		h[1] = lens[i]
		if i+1 < len(types) {
			h[0] = types[i+1]
		} else {
			h[0] = next
		}
		ext = append(ext, h...)
	}
	if len(types) > 0 {
		out[14+6] = types[0]
	}
	binary.BigEndian.PutUint16(out[14+4:], uint16(len(frame)-14-40+len(ext)))
	return append(append(out, ext...), frame[14+40:]...)
}

// rdIPv4Options gives an untagged IPv4 frame n 4-byte words of options
// (NOPs).
func rdIPv4Options(frame []byte, n int) []byte {
	out := slices.Clone(frame[:14+20])
	out[14] = 0x40 | byte(5+n)
	binary.BigEndian.PutUint16(out[14+2:], uint16(len(frame)-14+4*n))
	for range 4 * n {
		out = append(out, 1)
	}
	return append(out, frame[14+20:]...)
}

// TestRedirectDifferential runs the same frames through the program
// (BPF_PROG_TEST_RUN, in a namespace where nothing listens) and through
// the fake: every header layout, every truncation and thousands of
// random mutations must give the same verdicts, counters and events.
func TestRedirectDifferential(t *testing.T) {
	testutils.RequireBPF(t)
	testutils.RunInNetNS(t, func(t *testing.T) {
		k := newRedirect(t, datapath.RedirectOptions{})
		defer func() { require.NoError(t, k.Close()) }()
		f, err := fake.NewProxyRedirect(datapath.RedirectOptions{})
		require.NoError(t, err)
		fe := datapath.Frontend{Addr: netip.MustParseAddrPort("10.96.0.10:80"), Protocol: maglev.ProtocolTCP}
		fe6 := datapath.Frontend{Addr: netip.MustParseAddrPort("[fd00:96::10]:80"), Protocol: maglev.ProtocolTCP}
		rs := []datapath.Redirect{{Frontend: fe, Proxy: netip.MustParseAddrPort("127.0.0.1:15001")}, {Frontend: fe6, Proxy: netip.MustParseAddrPort("[::1]:15001")}}
		require.NoError(t, k.Set(rs...))
		require.NoError(t, f.Set(rs...))
		ks, err := k.Events()
		require.NoError(t, err)
		defer ks.Close()
		fs, err := f.Events()
		require.NoError(t, err)
		defer fs.Close()

		c4, c6 := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("[2001:db8:2::1]:40000")
		v4 := datapathtest.Flow4(datapathtest.ProtoTCP, c4, fe.Addr)
		v6 := datapathtest.Flow6(datapathtest.ProtoTCP, c6, fe6.Addr)
		first := slices.Clone(v4)
		first[14+6] = 0x20 // more fragments, offset 0: the first fragment
		later := slices.Clone(v4)
		later[14+7] = 1 // offset 8
		bases := [][]byte{v4, v6, first, later, rdIPv4Options(v4, 1), rdIPv4Options(v4, 10),
			datapathtest.Flow4(datapathtest.ProtoUDP, c4, fe.Addr), datapathtest.Flow6(datapathtest.ProtoUDP, c6, fe6.Addr),
			datapathtest.VLAN(v4, datapathtest.EtherTypeVLAN, 1), datapathtest.VLAN(datapathtest.VLAN(v6, datapathtest.EtherTypeVLAN, 1), datapathtest.EtherTypeQinQ, 2),
			datapathtest.VLAN(datapathtest.VLAN(datapathtest.VLAN(v4, datapathtest.EtherTypeVLAN, 1), datapathtest.EtherTypeVLAN, 2), datapathtest.EtherTypeQinQ, 3)}
		for _, types := range [][]uint8{{0}, {43}, {60}, {44}, {0, 60}, {0, 43, 60}, {0, 60, 43, 60}, {0, 60, 43, 60, 60}, {0, 44}, {51}, {50}} {
			for _, l := range []uint8{0, 1, 3} {
				bases = append(bases, rdExtHeaders(v6, types, slices.Repeat([]uint8{l}, len(types))))
			}
		}
		var frames [][]byte
		for _, b := range bases {
			// A test run takes at least an Ethernet header, and the IP
			// header it names.
			from := map[uint16]int{datapathtest.EtherTypeIPv4: 14 + 20, datapathtest.EtherTypeIPv6: 14 + 40}[binary.BigEndian.Uint16(b[12:])]
			for n := max(14, from); n <= len(b); n++ {
				frames = append(frames, b[:n])
			}
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for range 5000 {
			b := slices.Clone(bases[rng.IntN(len(bases))])
			for range 1 + rng.IntN(3) {
				b[rng.IntN(min(len(b), 14+8+40+64))] = byte(rng.Uint32())
			}
			frames = append(frames, b)
		}

		decided := 0
		for i, frame := range frames {
			kv, err := k.TestPacket(frame)
			require.NoError(t, err, "frame %d (%d bytes) %x", i, len(frame), frame)
			fv := f.RunPacket(frame)
			require.Equal(t, fv, kv, "frame %d %x", i, frame)
			kc, err := k.Counters()
			require.NoError(t, err)
			fc, err := f.Counters()
			require.NoError(t, err)
			require.Equal(t, fc, kc, "frame %d %x", i, frame)
			decided = int(kc.NoProxy)
		}
		require.NotZero(t, decided)
		t.Logf("%d frames, %d decided on", len(frames), decided)
		for i := range decided {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			ke, kerr := ks.Next(ctx)
			fe, ferr := fs.Next(ctx)
			cancel()
			require.NoError(t, kerr)
			require.NoError(t, ferr)
			ke.Time, ke.Ifindex, fe.Time, fe.Ifindex = time.Time{}, 0, time.Time{}, 0
			require.Equal(t, fe, ke, "event %d", i)
		}
	})
}
