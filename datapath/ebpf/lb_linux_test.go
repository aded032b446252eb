package ebpf_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/datapathtest"
	"github.com/eniway/eniway/datapath/ebpf"
	"github.com/eniway/eniway/datapath/fake"
	"github.com/eniway/eniway/internal/testutils"
	"github.com/eniway/eniway/maglev"
)

func newLB(t testing.TB, opts datapath.LBOptions) *ebpf.LoadBalancer {
	t.Helper()
	testutils.RequireBPF(t)
	l, err := ebpf.NewLoadBalancer(opts)
	require.NoError(t, err)
	return l
}

func TestLBConformance(t *testing.T) {
	datapathtest.RunLB(t, func(t *testing.T, opts datapath.LBOptions) datapathtest.LBBackend {
		return newLB(t, opts)
	})
}

// TestLBDifferential runs the same frames through the XDP program
// (BPF_PROG_TEST_RUN) and the fake after the same service changes:
// random IPv4 and IPv6 services of random backends and weights, DNAT and
// DSR, and frames to them and elsewhere, TCP (with random flags) and UDP,
// with and without a UDP checksum, tagged, cut short, fragmented, with an
// IPv6 extension header. Verdicts, output bytes, counters and the tracked
// flows must be equal.
func TestLBDifferential(t *testing.T) {
	opts := datapath.LBOptions{MaxServices: 16, MaxBackends: 64, Maglev: maglev.Config{TableSize: 1021},
		DSRSource: netip.MustParseAddr("10.0.0.254"), DSRSource6: netip.MustParseAddr("2001:db8::fe")}
	k := newLB(t, opts)
	defer func() { require.NoError(t, k.Close()) }()
	f, err := fake.NewLoadBalancer(opts)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(21, 22))
	frontend := func() datapath.Frontend {
		p := maglev.ProtocolTCP
		if rng.IntN(2) == 0 {
			p = maglev.ProtocolUDP
		}
		a := netip.AddrFrom4([4]byte{10, 96, 0, byte(1 + rng.IntN(6))})
		if rng.IntN(3) == 0 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x96, 15: byte(1 + rng.IntN(4))})
		}
		return datapath.Frontend{Addr: netip.AddrPortFrom(a, uint16(80+rng.IntN(2))), Protocol: p}
	}
	// addrIn is an address of the family of like: 4 bytes, or 16 with the
	// 4 at the end.
	addrIn := func(like netip.Addr, b [4]byte) netip.Addr {
		if like.Is4() {
			return netip.AddrFrom4(b)
		}
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: b[0], 13: b[1], 14: b[2], 15: b[3]})
	}
	frames := 0
	for step := range 60 {
		live := k.Services()
		if len(live) > 0 && rng.IntN(4) == 0 {
			fe := live[rng.IntN(len(live))].Frontend
			require.NoError(t, k.Delete(fe))
			require.NoError(t, f.Delete(fe))
		} else {
			s := datapath.Service{Frontend: frontend()}
			if len(live) >= opts.MaxServices {
				s.Frontend = live[0].Frontend
			}
			port := uint16(8080)
			if rng.IntN(3) == 0 {
				s.Mode, port = datapath.LBModeDSR, s.Frontend.Addr.Port()
			}
			seen := map[netip.AddrPort]bool{}
			for range rng.IntN(8) {
				a := netip.AddrPortFrom(addrIn(s.Frontend.Addr.Addr(), [4]byte{10, 0, byte(rng.IntN(2)), byte(1 + rng.IntN(20))}), port)
				if !seen[a] {
					seen[a] = true
					s.Backends = append(s.Backends, datapath.LBBackend{Addr: a, Weight: uint16(rng.IntN(4))})
				}
			}
			require.NoError(t, k.Upsert(s), "step %d", step)
			require.NoError(t, f.Upsert(s), "step %d", step)
		}
		require.Equal(t, f.Services(), k.Services())
		for range 50 {
			fe := frontend()
			// Few clients, so that flows come back, tracked, across changes.
			src := netip.AddrPortFrom(addrIn(fe.Addr.Addr(), [4]byte{192, 168, 0, byte(rng.IntN(8))}), uint16(1024+rng.IntN(4)))
			frame := datapathtest.Flow(uint8(fe.Protocol), src, fe.Addr)
			if fe.Protocol == maglev.ProtocolTCP { // flags that move the flow's state
				frame = datapathtest.SetTCPFlags(frame, []byte{0x02, 0x02, 0x10, 0x12, 0x18, 0x11, 0x04, 0x14}[rng.IntN(8)])
			}
			l4 := 14 + 20
			if fe.Addr.Addr().Is6() {
				l4 = 14 + 40
			}
			variants := [][]byte{frame, datapathtest.VLAN(frame, datapathtest.EtherTypeVLAN, 7), frame[:rng.IntN(len(frame)+1)]}
			if fe.Protocol == maglev.ProtocolUDP {
				noSum := append([]byte(nil), frame...)
				noSum[l4+6], noSum[l4+7] = 0, 0
				variants = append(variants, noSum)
			}
			odd := append([]byte(nil), frame...)
			if fe.Addr.Addr().Is4() {
				odd[14+6] = byte(rng.IntN(4)) << 5 // MF and offset bits, maybe none
			} else {
				odd[14+6] = []byte{0, 44, 60}[rng.IntN(3)] // hop-by-hop, fragment, destination options
			}
			variants = append(variants, odd)
			for _, v := range variants {
				if len(v) < 14 {
					continue
				}
				vk, ok, err := k.RunPacket(v)
				require.NoError(t, err)
				vf, of, err := f.RunPacket(v)
				require.NoError(t, err)
				require.Equal(t, vf, vk, "step %d: verdict for %x", step, v)
				require.Equal(t, of, ok, "step %d: bytes for %x", step, v)
				frames++
				if len(ok) == len(v)+20 || len(ok) == len(v)+40 { // DSR: the backend unwraps it back
					dk, dok, err := k.RunDecapPacket(ok)
					require.NoError(t, err)
					df, dof, err := f.RunDecapPacket(ok)
					require.NoError(t, err)
					require.Equal(t, df, dk)
					require.Equal(t, dof, dok)
					require.Equal(t, v, dok, "step %d: decapsulated", step)
					frames++
				}
				// The reply to what went out, and to what came in.
				if len(ok) >= l4+8 && len(ok) == len(v) && ok[12] == v[12] && ok[13] == v[13] && (ok[13] == 0x00 || ok[13] == 0xdd) {
					for _, r := range [][]byte{reverse(ok), reverse(v)} {
						rk, rok, err := k.RunReplyPacket(r)
						require.NoError(t, err)
						rf, rof, err := f.RunReplyPacket(r)
						require.NoError(t, err)
						require.Equal(t, rf, rk, "step %d: reply verdict for %x", step, r)
						require.Equal(t, rof, rok, "step %d: reply bytes for %x", step, r)
						frames++
					}
				}
			}
		}
	}
	ck, err := k.Counters()
	require.NoError(t, err)
	cf, err := f.Counters()
	require.NoError(t, err)
	require.Equal(t, cf, ck)
	require.NotZero(t, ck.Forwarded)
	require.NotZero(t, ck.NoBackend)
	require.NotZero(t, ck.Fragments)
	require.NotZero(t, ck.Established)
	require.NotZero(t, ck.Replies)
	require.NotZero(t, ck.Decapsulated)
	ek, err := k.Conntrack()
	require.NoError(t, err)
	ef, err := f.Conntrack()
	require.NoError(t, err)
	require.Equal(t, len(ef), len(ek))
	for i := range ek {
		ek[i].LastSeen, ef[i].LastSeen = 0, 0 // different clocks
	}
	require.Equal(t, ef, ek, "tracked flows")
	states := map[datapath.CTState]int{}
	families := map[bool]map[bool]int{} // IPv6, DSR
	for _, e := range ek {
		states[e.State]++
		v6 := e.Client.Addr().Is6()
		if families[v6] == nil {
			families[v6] = map[bool]int{}
		}
		families[v6][e.Backend.Port() == e.Frontend.Addr.Port()]++
	}
	require.Len(t, states, 3, "flows in every state")
	for _, v6 := range []bool{false, true} {
		require.Len(t, families[v6], 2, "IPv6 %v: DNAT and DSR flows", v6)
	}
	t.Logf("%d frames, counters %+v, %d grace periods", frames, ck, k.GracePeriods())
}

// reverse swaps the addresses and ports of an untagged IPv4 or IPv6 TCP
// or UDP frame (checksums stay valid: they are sums), as a reply would
// have them.
func reverse(frame []byte) []byte {
	r := append([]byte(nil), frame...)
	ip := r[14:]
	if r[12] == 0x86 && r[13] == 0xdd {
		if len(ip) < 44 {
			return r
		}
		var a [16]byte
		copy(a[:], ip[8:24])
		copy(ip[8:24], ip[24:40])
		copy(ip[24:40], a[:])
		l4 := ip[40:]
		l4[0], l4[1], l4[2], l4[3] = l4[2], l4[3], l4[0], l4[1]
		return r
	}
	ihl := int(ip[0]&0x0f) * 4
	if len(ip) < ihl+4 {
		return r
	}
	var a [4]byte
	copy(a[:], ip[12:16])
	copy(ip[12:16], ip[16:20])
	copy(ip[16:20], a[:])
	l4 := ip[ihl:]
	l4[0], l4[1], l4[2], l4[3] = l4[2], l4[3], l4[0], l4[1]
	return r
}
