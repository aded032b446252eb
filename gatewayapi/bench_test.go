package gatewayapi_test

import (
	"fmt"
	"testing"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/benchutil"
	"github.com/eniway/eniway/internal/gatewaytest"
)

// BenchmarkTranslate measures a full translation of n HTTPRoutes. Targets:
// 10k routes under 500 ms and 1k under 50 ms of CPU (cpu-ns/op).
func BenchmarkTranslate(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("Routes=%d", n), func(b *testing.B) {
			in := gatewaytest.ScaleInput(n)
			res, err := gatewayapi.Translate(in, gatewayapi.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if got := countRoutes(res.IR); got != 3*n {
				b.Fatalf("IR holds %d routes, want %d", got, 3*n)
			}
			peak := benchutil.PeakHeap(func() { _, _ = gatewayapi.Translate(in, gatewayapi.Options{}) })
			b.ReportAllocs()
			b.ResetTimer()
			benchutil.ReportCPU(b, func() {
				for b.Loop() {
					_, _ = gatewayapi.Translate(in, gatewayapi.Options{})
				}
			})
			b.ReportMetric(float64(peak), "peak-heap-B")
		})
	}
}

func countRoutes(ir *gatewayapi.IR) int {
	n := 0
	for _, g := range ir.Gateways {
		for _, p := range g.Ports {
			for _, l := range p.Listeners {
				for _, vh := range l.VirtualHosts {
					n += len(vh.Routes)
				}
			}
		}
	}
	return n
}
