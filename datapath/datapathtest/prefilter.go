package datapathtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/datapath"
)

// PrefilterBackend is a prefilter whose verdicts can be tested.
type PrefilterBackend interface {
	datapath.Prefilter
	datapath.PacketTester
}

// NewPrefilter makes a fresh prefilter of the backend under test; the
// suite closes it.
type NewPrefilter func(t *testing.T, opts datapath.PrefilterOptions) PrefilterBackend

var (
	src4In   = netip.MustParseAddr("10.1.2.3")
	src4Out  = netip.MustParseAddr("11.1.2.3")
	src6In   = netip.MustParseAddr("2001:db8:1::7")
	src6Out  = netip.MustParseAddr("2001:db9::7")
	dst4     = netip.MustParseAddr("192.0.2.10")
	dst6     = netip.MustParseAddr("2001:db8:ffff::10")
	deny10   = netip.MustParsePrefix("10.0.0.0/8")
	deny6    = netip.MustParsePrefix("2001:db8::/32")
	host4    = netip.MustParsePrefix("11.1.2.3/32")
	wideDeny = netip.MustParsePrefix("0.0.0.0/0")
)

// RunPrefilter runs the prefilter conformance suite against a backend.
func RunPrefilter(t *testing.T, newPrefilter NewPrefilter) {
	open := func(t *testing.T, opts datapath.PrefilterOptions) PrefilterBackend {
		p := newPrefilter(t, opts)
		t.Cleanup(func() { require.NoError(t, p.Close()) })
		return p
	}

	t.Run("empty list passes everything", func(t *testing.T) {
		p := open(t, datapath.PrefilterOptions{})
		list, rev := p.List()
		require.Empty(t, list)
		require.Zero(t, rev)
		requireVerdict(t, p, Packet(src4In, dst4), datapath.VerdictPass)
		requireVerdict(t, p, Packet(src6In, dst6), datapath.VerdictPass)
	})

	t.Run("insert, match, delete", func(t *testing.T) {
		p := open(t, datapath.PrefilterOptions{})
		rev, err := p.Update(datapath.PrefilterBatch{Insert: []netip.Prefix{deny6, deny10, host4}})
		require.NoError(t, err)
		require.Equal(t, uint64(1), rev)
		list, rev := p.List()
		require.Equal(t, []netip.Prefix{deny10, host4, deny6}, list, "sorted, IPv4 first")
		require.Equal(t, uint64(1), rev)
		requireVerdict(t, p, Packet(src4In, dst4), datapath.VerdictDrop)
		requireVerdict(t, p, Packet(src4Out, dst4), datapath.VerdictDrop) // the /32
		requireVerdict(t, p, Packet(netip.MustParseAddr("11.1.2.4"), dst4), datapath.VerdictPass)
		requireVerdict(t, p, Packet(src6In, dst6), datapath.VerdictDrop)
		requireVerdict(t, p, Packet(src6Out, dst6), datapath.VerdictPass)
		requireVerdict(t, p, Packet(dst4, src4In), datapath.VerdictPass) // the destination does not count

		rev, err = p.Update(datapath.PrefilterBatch{Revision: 1, Delete: []netip.Prefix{deny10, deny6}})
		require.NoError(t, err)
		require.Equal(t, uint64(2), rev)
		requireVerdict(t, p, Packet(src4In, dst4), datapath.VerdictPass)
		requireVerdict(t, p, Packet(src6In, dst6), datapath.VerdictPass)
		requireVerdict(t, p, Packet(src4Out, dst4), datapath.VerdictDrop)
		list, _ = p.List()
		require.Equal(t, []netip.Prefix{host4}, list)
	})

	t.Run("a default route denies the family", func(t *testing.T) {
		p := open(t, datapath.PrefilterOptions{})
		_, err := p.Update(datapath.PrefilterBatch{Insert: []netip.Prefix{wideDeny}})
		require.NoError(t, err)
		requireVerdict(t, p, Packet(src4Out, dst4), datapath.VerdictDrop)
		requireVerdict(t, p, Packet(src6Out, dst6), datapath.VerdictPass)
	})

	t.Run("refused batches apply nothing", func(t *testing.T) {
		p := open(t, datapath.PrefilterOptions{MaxEntries: 3})
		_, err := p.Update(datapath.PrefilterBatch{Insert: []netip.Prefix{deny10}})
		require.NoError(t, err)
		for _, c := range []struct {
			name  string
			batch datapath.PrefilterBatch
			field string
			err   error
		}{
			{"stale revision", datapath.PrefilterBatch{Revision: 7, Insert: []netip.Prefix{deny6}}, "Revision", datapath.ErrStaleRevision},
			{"host bits", datapath.PrefilterBatch{Insert: []netip.Prefix{deny6, netip.MustParsePrefix("192.0.2.1/24")}}, "Insert[1]", datapath.ErrInvalidPrefix},
			{"IPv4-mapped", datapath.PrefilterBatch{Insert: []netip.Prefix{netip.MustParsePrefix("::ffff:192.0.2.0/120")}}, "Insert[0]", datapath.ErrInvalidPrefix},
			{"invalid", datapath.PrefilterBatch{Delete: []netip.Prefix{{}}}, "Delete[0]", datapath.ErrInvalidPrefix},
			{"delete absent", datapath.PrefilterBatch{Insert: []netip.Prefix{deny6}, Delete: []netip.Prefix{deny10, host4}}, "Delete[1]", datapath.ErrNotInList},
			{"duplicate", datapath.PrefilterBatch{Insert: []netip.Prefix{deny6, deny10}}, "Insert[1]", datapath.ErrDuplicate},
			{"full", datapath.PrefilterBatch{Insert: []netip.Prefix{
				netip.MustParsePrefix("1.0.0.0/8"), netip.MustParsePrefix("2.0.0.0/8"), netip.MustParsePrefix("3.0.0.0/8"),
			}}, "Insert[2]", datapath.ErrListFull},
		} {
			t.Run(c.name, func(t *testing.T) {
				rev, err := p.Update(c.batch)
				require.ErrorIs(t, err, c.err)
				var pe *datapath.PrefilterError
				require.True(t, errors.As(err, &pe), "a *datapath.PrefilterError: %v", err)
				require.Equal(t, c.field, pe.Field, "%v", err)
				require.Equal(t, uint64(1), rev)
				list, rev := p.List()
				require.Equal(t, []netip.Prefix{deny10}, list)
				require.Equal(t, uint64(1), rev)
				requireVerdict(t, p, Packet(src4In, dst4), datapath.VerdictDrop)
				requireVerdict(t, p, Packet(src6In, dst6), datapath.VerdictPass)
			})
		}
		// Each family has its own capacity.
		_, err = p.Update(datapath.PrefilterBatch{Insert: []netip.Prefix{
			netip.MustParsePrefix("1.0.0.0/8"), netip.MustParsePrefix("2.0.0.0/8"),
			deny6, netip.MustParsePrefix("2001:db9::/32"), netip.MustParsePrefix("2001:dba::/32"),
		}})
		require.NoError(t, err)
	})

	t.Run("frames", func(t *testing.T) {
		p := open(t, datapath.PrefilterOptions{})
		_, err := p.Update(datapath.PrefilterBatch{Insert: []netip.Prefix{deny10, deny6}})
		require.NoError(t, err)
		in4 := Packet(src4In, dst4)
		in6 := Packet(src6In, dst6)
		cases := []struct {
			name    string
			frame   []byte
			verdict datapath.Verdict
		}{
			{"802.1Q", VLAN(in4, EtherTypeVLAN, 100), datapath.VerdictDrop},
			{"802.1ad and 802.1Q", VLAN(VLAN(in6, EtherTypeVLAN, 100), EtherTypeQinQ, 7), datapath.VerdictDrop},
			{"three tags (not read)", VLAN(VLAN(VLAN(in4, EtherTypeVLAN, 1), EtherTypeVLAN, 2), EtherTypeQinQ, 3), datapath.VerdictPass},
			{"ARP", Ethernet(EtherTypeARP, make([]byte, 28)), datapath.VerdictPass},
			{"IPv4 cut short", in4[:14+19], datapath.VerdictPass},
			{"IPv6 cut short", in6[:14+39], datapath.VerdictPass},
			{"IPv4 header only", in4[:14+20], datapath.VerdictDrop},
			{"VLAN tag cut short", VLAN(in4, EtherTypeVLAN, 1)[:16], datapath.VerdictPass},
			{"Ethernet header only", in4[:14], datapath.VerdictPass},
		}
		for _, c := range cases {
			requireVerdict(t, p, c.frame, c.verdict, c.name)
		}
		got, err := p.Counters()
		require.NoError(t, err)
		require.Equal(t, datapath.PrefilterCounters{Passed: 3, DroppedIPv4: 2, DroppedIPv6: 1, Malformed: 3}, got)
	})

	t.Run("drop events", func(t *testing.T) {
		p := open(t, datapath.PrefilterOptions{EventBuffer: 4096})
		ev, ok := p.(datapath.PrefilterEvents)
		require.True(t, ok, "the prefilter reports drops")
		_, err := p.Update(datapath.PrefilterBatch{Insert: []netip.Prefix{deny10, deny6}})
		require.NoError(t, err)
		requireVerdict(t, p, Packet(src4In, dst4), datapath.VerdictDrop) // no stream: no event

		s, err := ev.Events()
		require.NoError(t, err)
		requireVerdict(t, p, Packet(src4In, dst4), datapath.VerdictDrop)
		requireVerdict(t, p, Packet(src4Out, dst4), datapath.VerdictPass)
		requireVerdict(t, p, Packet(src6In, dst6), datapath.VerdictDrop)
		for _, want := range []netip.Addr{src4In, src6In} {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			e, err := s.Next(ctx)
			cancel()
			require.NoError(t, err)
			require.Equal(t, want, e.Source)
			require.Equal(t, 1, e.Ifindex, "a tested packet arrives on the loopback device")
			require.WithinDuration(t, time.Now(), e.Time, 5*time.Second)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		_, err = s.Next(ctx)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, "no event for a packet passed")

		// A full buffer loses events, and counts them.
		const drops = 200
		for range drops {
			requireVerdict(t, p, Packet(src4In, dst4), datapath.VerdictDrop)
		}
		kept := 0
		for {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			_, err := s.Next(ctx)
			cancel()
			if err != nil {
				break
			}
			kept++
		}
		c, err := p.Counters()
		require.NoError(t, err)
		require.Equal(t, 4096/datapath.EventRecordSize, kept, "events the buffer holds")
		require.Equal(t, uint64(drops-kept), c.EventsLost)

		require.NoError(t, s.Close())
		_, err = s.Next(t.Context())
		require.ErrorIs(t, err, datapath.ErrStreamClosed)
		requireVerdict(t, p, Packet(src4In, dst4), datapath.VerdictDrop)
		c2, err := p.Counters()
		require.NoError(t, err)
		require.Equal(t, c.EventsLost, c2.EventsLost, "no stream, no event lost")
	})

	t.Run("many batches", func(t *testing.T) {
		p := open(t, datapath.PrefilterOptions{MaxEntries: 64})
		rng := rand.New(rand.NewPCG(6, 7))
		want := map[netip.Prefix]bool{}
		var rev uint64
		for step := range 40 {
			var b datapath.PrefilterBatch
			b.Revision = rev
			for p := range want {
				if rng.IntN(3) == 0 {
					b.Delete = append(b.Delete, p)
				}
			}
			for range rng.IntN(6) {
				pfx := RandomPrefix(rng)
				if !want[pfx] && !slices.Contains(b.Insert, pfx) && len(want)+len(b.Insert) < 60 {
					b.Insert = append(b.Insert, pfx)
				}
			}
			var err error
			rev, err = p.Update(b)
			require.NoError(t, err, "step %d", step)
			for _, d := range b.Delete {
				delete(want, d)
			}
			for _, i := range b.Insert {
				want[i] = true
			}
			for range 20 {
				src := RandomAddr(rng)
				if len(want) > 0 && rng.IntN(2) == 0 { // an address inside a listed CIDR
					keys := slices.SortedFunc(func(yield func(netip.Prefix) bool) {
						for k := range want {
							if !yield(k) {
								return
							}
						}
					}, datapath.ComparePrefix)
					src = AddrIn(rng, keys[rng.IntN(len(keys))])
				}
				dst := dst4
				if src.Is6() {
					dst = dst6
				}
				verdict := datapath.VerdictPass
				if Denied(want, src) {
					verdict = datapath.VerdictDrop
				}
				requireVerdict(t, p, Packet(src, dst), verdict, fmt.Sprintf("step %d, source %s", step, src))
			}
		}
	})
}

func requireVerdict(t *testing.T, p datapath.PacketTester, frame []byte, want datapath.Verdict, msg ...any) {
	t.Helper()
	got, err := p.TestPacket(frame)
	require.NoError(t, err)
	require.Equal(t, want, got, msg...)
}

// Denied is the reference longest-prefix match: whether a CIDR of list
// holds addr.
func Denied(list map[netip.Prefix]bool, addr netip.Addr) bool {
	for p := range list {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// RandomPrefix is a CIDR of either family, mostly short enough to hold
// the addresses RandomAddr draws now and then.
func RandomPrefix(rng *rand.Rand) netip.Prefix {
	a := RandomAddr(rng)
	bits := rng.IntN(a.BitLen() + 1)
	if rng.IntN(4) == 0 {
		bits = a.BitLen()
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// RandomAddr is an address of either family from a small space (10/8 and
// 2001:db8::/32 with few distinct bytes), so that prefixes overlap.
func RandomAddr(rng *rand.Rand) netip.Addr {
	if rng.IntN(2) == 0 {
		return netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(4)), byte(rng.IntN(256))})
	}
	var b [16]byte
	copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8})
	b[4], b[5], b[15] = byte(rng.IntN(4)), byte(rng.IntN(4)), byte(rng.IntN(256))
	return netip.AddrFrom16(b)
}

// AddrIn is a random address inside p: p's bits, random bits after them.
func AddrIn(rng *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		keep := p.Bits() - 8*i
		r := byte(rng.IntN(256))
		switch {
		case keep >= 8:
		case keep > 0:
			mask := byte(0xff << (8 - keep))
			b[i] = b[i]&mask | r&^mask
		default:
			b[i] = r
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
