package ciliumdiff

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"testing"

	cmtypes "github.com/cilium/cilium/pkg/clustermesh/types"
	"github.com/cilium/cilium/pkg/loadbalancer"
	ciliummaglev "github.com/cilium/cilium/pkg/maglev"
	"github.com/cilium/hive/hivetest"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/internal/benchutil"
)

// BenchmarkBuild measures Cilium's GetLookupTable with the same names,
// backends and metrics as package maglev's BenchmarkBuild, so the two runs
// can be put side by side.
func BenchmarkBuild(b *testing.B) {
	for _, m := range []int{16381, 65521} {
		for _, n := range []int{10, 100, 1000, 5000} {
			b.Run(fmt.Sprintf("M=%d/N=%d", m, n), func(b *testing.B) {
				backends := make([]ciliummaglev.BackendInfo, n)
				for i := range backends {
					addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
					backends[i] = ciliummaglev.BackendInfo{
						ID:     loadbalancer.BackendID(i + 1),
						Addr:   loadbalancer.NewL3n4Addr(loadbalancer.TCP, cmtypes.AddrClusterFrom(addr, 0), 8080, 0),
						Weight: 1,
					}
				}
				before := benchutil.HeapInUse()
				cfg, err := ciliummaglev.UserConfig{TableSize: uint(m), HashSeed: ciliummaglev.DefaultHashSeed}.ToConfig()
				require.NoError(b, err)
				ml := ciliummaglev.New(cfg, hivetest.Lifecycle(b))
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
