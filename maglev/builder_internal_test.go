package maglev

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// fillNaive is the plain definition of ModeNative's population: among the
// backends still below quota, the one whose next look comes first in
// virtual time ((k + phase/2^32) / weight, ties to table order) looks at one
// slot; repeat until the table is full. Linear scans, no heap, no skipping.
func (b *Builder) fillNaive(dst []uint32) {
	looks := make([]uint64, len(b.state))
	for {
		best := -1
		for i := range b.state {
			if b.state[i].quota == 0 {
				continue
			}
			if best < 0 {
				best = i
				continue
			}
			x := event{at: looks[i]<<32 | uint64(b.state[i].phase), weight: uint64(b.state[i].weight), backend: int32(i)}
			y := event{at: looks[best]<<32 | uint64(b.state[best].phase), weight: uint64(b.state[best].weight), backend: int32(best)}
			if x.before(&y) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		b.probe(dst, &b.state[best])
		looks[best]++
	}
}

// buildWith runs a ModeNative build with the given population function.
func buildWith(t *testing.T, b *Builder, backends []Backend, fill func(*Builder, []uint32)) []uint32 {
	t.Helper()
	_, sum, err := b.validate(backends)
	require.NoError(t, err)
	require.NoError(t, b.prepare(backends))
	dst := make([]uint32, b.m)
	clear(b.filled)
	b.setQuotas(sum)
	fill(b, dst)
	return dst
}

// TestNativeFillsAgree checks that the fast population paths (round robin
// for equal weights, a heap with skipping for unequal ones) compute exactly
// what the plain definition does.
func TestNativeFillsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for trial := range 60 {
		m := []int{251, 509, 1021, 2039}[trial%4]
		n := r.IntN(40) + 1
		equal := trial%3 == 0
		backends := make([]Backend, n)
		for i := range backends {
			backends[i] = Backend{
				ID:       uint32(i + 1),
				Addr:     netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}),
				Port:     uint16(r.IntN(65536)),
				Protocol: ProtocolTCP,
				Weight:   int64(r.IntN(1000) + 1),
			}
			if equal {
				backends[i].Weight = 7
			}
		}
		t.Run(fmt.Sprintf("M=%d/N=%d/equal=%v", m, n, equal), func(t *testing.T) {
			b, err := NewBuilder(Config{Mode: ModeNative, TableSize: m})
			require.NoError(t, err)
			want := buildWith(t, b, backends, (*Builder).fillNaive)
			got := buildWith(t, b, backends, (*Builder).fillRankedPaced)
			require.Equal(t, want, got, "heap with skipping")
			if equal {
				got = buildWith(t, b, backends, (*Builder).fillRanked)
				require.Equal(t, want, got, "round robin")
			}
			public, err := b.Table(backends)
			require.NoError(t, err)
			require.Equal(t, want, public)
			require.False(t, slices.Contains(public, 0), "every slot filled")
		})
	}
}
