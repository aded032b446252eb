package maglev_test

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/maglev"
)

// disruption returns the mean fraction of slots that move when one of n
// backends is removed, one is added, and one backend's weight halves, over
// seeds hash seeds and trials choices of backend per seed.
func disruption(tb testing.TB, mode maglev.Mode, m, n, seeds, trials int, randomWeights bool) (remove, add, halve float64) {
	tb.Helper()
	for s := range seeds {
		var raw [12]byte
		binary.BigEndian.PutUint64(raw[:], uint64(s)*0x9e3779b97f4a7c15)
		binary.BigEndian.PutUint32(raw[8:], uint32(s))
		r, a, h := disruptionForSeed(tb, mode, m, n, trials, randomWeights, base64.StdEncoding.EncodeToString(raw[:]))
		remove += r / float64(seeds)
		add += a / float64(seeds)
		halve += h / float64(seeds)
	}
	return remove, add, halve
}

func disruptionForSeed(tb testing.TB, mode maglev.Mode, m, n, trials int, randomWeights bool, seed string) (remove, add, halve float64) {
	bld, err := maglev.NewBuilder(maglev.Config{Mode: mode, TableSize: m, HashSeed: seed})
	require.NoError(tb, err)
	all := benchBackends(n + 1)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range all {
		all[i].Weight = 100
		if randomWeights {
			all[i].Weight = int64(r.IntN(100) + 1)
		}
	}
	base := all[:n]
	before, err := bld.Table(base)
	require.NoError(tb, err)
	after := make([]uint32, m)
	work := make([]maglev.Backend, 0, n+1)
	for trial := range trials {
		k := trial * n / trials
		work = append(append(work[:0], base[:k]...), base[k+1:]...)
		after, err = bld.Build(after, work)
		require.NoError(tb, err)
		remove += maglev.Diff(before, after).Fraction

		work = append(work[:0], base...)
		extra := all[n]
		extra.Port = uint16(9000 + trial)
		work = append(work, extra)
		after, err = bld.Build(after, work)
		require.NoError(tb, err)
		add += maglev.Diff(before, after).Fraction

		work = append(work[:0], base...)
		work[k].Weight = max(1, work[k].Weight/2)
		after, err = bld.Build(after, work)
		require.NoError(tb, err)
		halve += maglev.Diff(before, after).Fraction
	}
	t := float64(trials)
	return remove / t, add / t, halve / t
}

// BenchmarkDisruption reports, for both modes, the mean fraction of the
// table that moves when one backend is removed, one is added, or one
// backend's weight halves (metrics remove-%, add-%, halve-%; with equal
// weights the theoretical minimum is 1/N, 1/(N+1) and 1/(2N)), averaged
// over 8 hash seeds and 10 choices of backend per seed. Weights are all 100
// (weights=equal) or drawn from 1..100 (weights=random).
func BenchmarkDisruption(b *testing.B) {
	for _, mode := range []maglev.Mode{maglev.ModeCilium, maglev.ModeNative} {
		for _, weights := range []string{"equal", "random"} {
			for _, n := range []int{100, 1000} {
				b.Run(fmt.Sprintf("mode=%s/weights=%s/M=65521/N=%d", mode, weights, n), func(b *testing.B) {
					var remove, add, halve float64
					for b.Loop() {
						remove, add, halve = disruption(b, mode, 65521, n, 8, 10, weights == "random")
					}
					b.ReportMetric(100*remove, "remove-%")
					b.ReportMetric(100*add, "add-%")
					b.ReportMetric(100*halve, "halve-%")
				})
			}
		}
	}
}
