// Package maglevtest generates inputs for tests of package maglev and runs
// the differential tests that hold it equal to other implementations. The
// test modules under internal/ciliumdiff (one per Cilium release) plug
// Cilium's builder in as a Reference.
package maglevtest

import (
	"encoding/base64"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/maglev"
)

// WeightShape names a way to draw weights.
type WeightShape int

// Weight shapes: each exercises a different branch of the builders.
const (
	WeightsOne     WeightShape = iota // all 1: Cilium's unweighted round robin
	WeightsEqual                      // all the same value above 1
	WeightsSmall                      // 1..5: mean often at most 1 after integer division
	WeightsWide                       // 1..65535
	WeightsSkewed                     // mostly 1, a few up to 1000
	WeightsDrained                    // 0, 50 or 100: drained backends mixed in
	NumWeightShapes
)

// BenchBackends returns n TCP backends 10.a.b.c:8080 of weight 1, with IDs
// 1..n: the set every Build benchmark uses, here and in the Cilium test
// modules.
func BenchBackends(n int) []maglev.Backend {
	out := make([]maglev.Backend, n)
	for i := range out {
		out[i] = maglev.Backend{
			ID:       uint32(i + 1),
			Addr:     netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			Port:     8080,
			Protocol: maglev.ProtocolTCP,
			Weight:   1,
		}
	}
	return out
}

// RandomBackends returns n distinct backends: IPv4 and IPv6 addresses, all
// protocols, some ClusterMesh cluster IDs, and weights of the given shape.
// At least one backend has a weight.
func RandomBackends(r *rand.Rand, n int, shape WeightShape) []maglev.Backend {
	protos := []maglev.Protocol{maglev.ProtocolTCP, maglev.ProtocolTCP, maglev.ProtocolUDP, maglev.ProtocolSCTP, maglev.ProtocolAny}
	seen := map[string]bool{}
	equal := int64(r.IntN(1000) + 2)
	var out []maglev.Backend
	for len(out) < n {
		var addr netip.Addr
		switch r.IntN(4) {
		case 0:
			var a [16]byte
			a[0], a[1] = 0x20, 0x01
			for i := 2; i < 16; i++ {
				a[i] = byte(r.Uint32())
			}
			addr = netip.AddrFrom16(a)
		case 1:
			addr = netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
		default:
			addr = netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
		}
		b := maglev.Backend{
			ID:       uint32(len(out)*7 + 1),
			Addr:     addr,
			Port:     uint16(r.IntN(65536)),
			Protocol: protos[r.IntN(len(protos))],
		}
		if r.IntN(5) == 0 {
			b.ClusterID = uint32(r.IntN(511) + 1)
		}
		switch shape {
		case WeightsOne:
			b.Weight = 1
		case WeightsEqual:
			b.Weight = equal
		case WeightsSmall:
			b.Weight = int64(r.IntN(5) + 1)
		case WeightsWide:
			b.Weight = int64(r.IntN(maglev.MaxCiliumWeight) + 1)
		case WeightsSkewed:
			b.Weight = 1
			if r.IntN(10) == 0 {
				b.Weight = int64(r.IntN(1000) + 1)
			}
		case WeightsDrained:
			b.Weight = int64(r.IntN(3)) * 50
		}
		if seen[b.String()] {
			continue
		}
		seen[b.String()] = true
		out = append(out, b)
	}
	if shape == WeightsDrained {
		out[0].Weight = 100
	}
	return out
}

// RandomSeed returns a random hash seed in Cilium's format.
func RandomSeed(r *rand.Rand) string {
	var b [12]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// Reference builds a table with another implementation, for the backends
// with a weight (weight-0 backends are drained and must be left out, as
// Cilium's reconciler leaves out inactive backends).
type Reference func(backends []maglev.Backend) []uint32

// NewReference returns a Reference for a table size and hash seed.
type NewReference func(tb testing.TB, m int, seed string) Reference

// Differential builds tables with ModeCilium and with ref over random
// backend sets, seeds, table sizes and weight shapes and requires them to
// be identical slot for slot. It returns the number of tables compared.
func Differential(t *testing.T, newRef NewReference) int {
	r := rand.New(rand.NewPCG(1, 2))
	cases := 0
	for _, m := range []int{251, 509, 1021, 2039, 4093, 16381} {
		for _, seed := range []string{maglev.DefaultHashSeed, RandomSeed(r), RandomSeed(r)} {
			ref := newRef(t, m, seed)
			ours, err := maglev.NewBuilder(maglev.Config{TableSize: m, HashSeed: seed})
			require.NoError(t, err)
			for shape := range NumWeightShapes {
				for _, n := range []int{1, 2, 3, r.IntN(20) + 4, r.IntN(m/50) + 1, m / 100} {
					backends := RandomBackends(r, n, shape)
					got, err := ours.Table(backends)
					require.NoError(t, err)
					require.Equal(t, ref(backends), got, "M=%d seed=%s weights=%d N=%d", m, seed, shape, n)
					cases++
				}
			}
		}
	}
	return cases
}

// DifferentialLarge is Differential at the guide's table size, 65521, with
// up to 1000 backends given in shuffled order.
func DifferentialLarge(t *testing.T, newRef NewReference) {
	r := rand.New(rand.NewPCG(3, 4))
	const m = 65521
	ref := newRef(t, m, maglev.DefaultHashSeed)
	ours, err := maglev.NewBuilder(maglev.Config{TableSize: m})
	require.NoError(t, err)
	for _, tc := range []struct {
		n     int
		shape WeightShape
	}{{100, WeightsOne}, {655, WeightsEqual}, {300, WeightsSmall}, {200, WeightsWide}, {1000, WeightsSkewed}} {
		backends := RandomBackends(r, tc.n, tc.shape)
		want := ref(backends)
		r.Shuffle(len(backends), func(i, j int) { backends[i], backends[j] = backends[j], backends[i] })
		got, err := ours.Table(backends)
		require.NoError(t, err)
		require.Equal(t, want, got, "N=%d weights=%d", tc.n, tc.shape)
	}
}
