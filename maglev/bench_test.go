package maglev_test

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/internal/benchutil"
	"github.com/eniway/eniway/internal/maglevtest"
	"github.com/eniway/eniway/maglev"
)

// benchBackends is the backend set every Build benchmark uses, here and in
// internal/ciliumdiff's benchmarks of Cilium.
var benchBackends = maglevtest.BenchBackends

func benchmarkBuild(b *testing.B, mode maglev.Mode) {
	for _, m := range []int{16381, 65521} {
		for _, n := range []int{10, 100, 1000, 5000} {
			b.Run(fmt.Sprintf("M=%d/N=%d", m, n), func(b *testing.B) {
				backends := benchBackends(n)
				before := benchutil.HeapInUse()
				bld, err := maglev.NewBuilder(maglev.Config{Mode: mode, TableSize: m})
				require.NoError(b, err)
				table, err := bld.Table(backends) // warm up the scratch buffers
				require.NoError(b, err)
				b.ReportAllocs()
				benchutil.ReportCPU(b, func() {
					for b.Loop() {
						table, _ = bld.Build(table, backends)
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(bld.ScratchBytes()), "scratch-B")
				table = nil
				benchutil.ReportRetained(b, before)
				runtime.KeepAlive(bld)
			})
		}
	}
}

// BenchmarkBuild measures ModeCilium builds into a reused table with a
// reused Builder. Names and backends match internal/ciliumdiff's benchmark
// of Cilium's own builder.
func BenchmarkBuild(b *testing.B) { benchmarkBuild(b, maglev.ModeCilium) }

// BenchmarkBuildNative is BenchmarkBuild for ModeNative.
func BenchmarkBuildNative(b *testing.B) { benchmarkBuild(b, maglev.ModeNative) }

// BenchmarkBuildWeighted measures weighted builds (weights 1..100) in both
// modes.
func BenchmarkBuildWeighted(b *testing.B) {
	for _, mode := range []maglev.Mode{maglev.ModeCilium, maglev.ModeNative} {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("mode=%s/M=65521/N=%d", mode, n), func(b *testing.B) {
				backends := benchBackends(n)
				for i := range backends {
					backends[i].Weight = int64(i%100 + 1)
				}
				bld, err := maglev.NewBuilder(maglev.Config{Mode: mode, TableSize: 65521})
				require.NoError(b, err)
				table, err := bld.Table(backends)
				require.NoError(b, err)
				b.ReportAllocs()
				for b.Loop() {
					table, _ = bld.Build(table, backends)
				}
			})
		}
	}
}

// BenchmarkLookup measures picking a backend for a flow: the flow hash and
// one table read.
func BenchmarkLookup(b *testing.B) {
	bld, err := maglev.NewBuilder(maglev.Config{TableSize: 65521})
	require.NoError(b, err)
	table, err := bld.Table(benchBackends(100))
	require.NoError(b, err)
	seed := bld.Seed()
	flow := maglev.Flow{Src: netip.MustParseAddr("192.0.2.7"), SrcPort: 40000, DstPort: 80, Proto: 6}
	var sink uint32
	b.ReportAllocs()
	for b.Loop() {
		flow.SrcPort++
		id, _ := maglev.Lookup(table, seed, flow)
		sink += id
	}
	runtime.KeepAlive(sink)
}
