package ebpf_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/datapathtest"
	"github.com/eniway/eniway/datapath/ebpf"
	"github.com/eniway/eniway/datapath/fake"
	"github.com/eniway/eniway/internal/testutils"
)

func newPrefilter(t testing.TB, opts datapath.PrefilterOptions) *ebpf.Prefilter {
	t.Helper()
	testutils.RequireBPF(t)
	p, err := ebpf.NewPrefilter(opts)
	require.NoError(t, err)
	return p
}

func TestPrefilterConformance(t *testing.T) {
	datapathtest.RunPrefilter(t, func(t *testing.T, opts datapath.PrefilterOptions) datapathtest.PrefilterBackend {
		return newPrefilter(t, opts)
	})
}

// TestPrefilterDifferential feeds the same frames to the XDP program
// (BPF_PROG_TEST_RUN) and to the fake, after the same batches: random
// CIDRs of both families, and frames of both families, tagged or not,
// cut at every length, of other EtherTypes, with random bytes. Verdicts
// and counters must be equal.
func TestPrefilterDifferential(t *testing.T) {
	k := newPrefilter(t, datapath.PrefilterOptions{MaxEntries: 256})
	t.Cleanup(func() { require.NoError(t, k.Close()) })
	f := fake.NewPrefilter(datapath.PrefilterOptions{MaxEntries: 256})
	rng := rand.New(rand.NewPCG(11, 12))
	frames := 0
	for step := range 30 {
		list, _ := f.List()
		var b datapath.PrefilterBatch
		for _, p := range list {
			if rng.IntN(4) == 0 {
				b.Delete = append(b.Delete, p)
			}
		}
		seen := map[netip.Prefix]bool{}
		for _, p := range list {
			seen[p] = true
		}
		for range rng.IntN(12) {
			if p := datapathtest.RandomPrefix(rng); !seen[p] && len(list)+len(b.Insert) < 200 {
				seen[p] = true
				b.Insert = append(b.Insert, p)
			}
		}
		rk, errK := k.Update(b)
		rf, errF := f.Update(b)
		require.Equal(t, fmt.Sprint(errF), fmt.Sprint(errK), "step %d: errors", step)
		require.Equal(t, rf, rk, "step %d: revisions", step)
		for range 40 {
			for _, frame := range variants(rng) {
				if len(frame) < 14 {
					continue // BPF_PROG_TEST_RUN takes no XDP frame shorter than an Ethernet header
				}
				vk, err := k.TestPacket(frame)
				require.NoError(t, err)
				vf, err := f.TestPacket(frame)
				require.NoError(t, err)
				require.Equal(t, vf, vk, "step %d: frame %x", step, frame)
				frames++
			}
		}
	}
	ck, err := k.Counters()
	require.NoError(t, err)
	cf, err := f.Counters()
	require.NoError(t, err)
	require.Equal(t, cf, ck)
	require.NotZero(t, ck.DroppedIPv4)
	require.NotZero(t, ck.DroppedIPv6)
	require.NotZero(t, ck.Malformed)
	t.Logf("%d frames, counters %+v", frames, ck)
}

// variants are frames made from one random packet: whole, tagged, cut
// short, with another EtherType, and random bytes.
func variants(rng *rand.Rand) [][]byte {
	src := datapathtest.RandomAddr(rng)
	dst := datapathtest.RandomAddr(rng)
	if dst.Is4() != src.Is4() {
		dst = src
	}
	p := datapathtest.Packet(src, dst)
	out := [][]byte{p, datapathtest.VLAN(p, datapathtest.EtherTypeVLAN, uint16(rng.IntN(4096))),
		datapathtest.VLAN(datapathtest.VLAN(p, datapathtest.EtherTypeVLAN, 5), datapathtest.EtherTypeQinQ, 6)}
	out = append(out, p[:rng.IntN(len(p)+1)])
	other := append([]byte(nil), p...)
	other[12], other[13] = byte(rng.IntN(256)), byte(rng.IntN(256))
	out = append(out, other)
	noise := make([]byte, 14+rng.IntN(80))
	for i := range noise {
		noise[i] = byte(rng.IntN(256))
	}
	return append(out, noise)
}
