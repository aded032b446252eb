package ciliumdiff

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	ciliummaglev "github.com/cilium/cilium/pkg/maglev"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/internal/benchutil"
	"github.com/eniway/eniway/internal/maglevtest"
)

// BenchmarkBuild measures Cilium's GetLookupTable with the same names,
// backends and metrics as package maglev's BenchmarkBuild, so the two runs
// can be put side by side.
func BenchmarkBuild(b *testing.B) {
	for _, m := range []int{16381, 65521} {
		for _, n := range []int{10, 100, 1000, 5000} {
			b.Run(fmt.Sprintf("M=%d/N=%d", m, n), func(b *testing.B) {
				backends := infos(maglevtest.BenchBackends(n))
				before := benchutil.HeapInUse()
				ml := newMaglev(b, m, ciliummaglev.DefaultHashSeed)
				require.Len(b, ml.GetLookupTable(slices.Values(backends)), m) // warm up reused buffers
				b.ReportAllocs()
				b.ResetTimer()
				benchutil.ReportCPU(b, func() {
					for b.Loop() {
						_ = ml.GetLookupTable(slices.Values(backends))
					}
				})
				b.StopTimer()
				benchutil.ReportRetained(b, before)
				runtime.KeepAlive(ml)
			})
		}
	}
}
