package xds_test

import (
	"fmt"
	"testing"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/benchutil"
	"github.com/eniway/eniway/internal/gatewaytest"
	"github.com/eniway/eniway/l7/xds"
)

// BenchmarkTranslateXDS measures the IR of n HTTPRoutes (5 Gateways, 50
// namespaces, 3 rules each) to validated xDS. Target: 10k routes in under
// 1 s of CPU (cpu-ns/op).
func BenchmarkTranslateXDS(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("Routes=%d", n), func(b *testing.B) {
			res, err := gatewayapi.Translate(gatewaytest.ScaleInput(n), gatewayapi.Options{})
			if err != nil {
				b.Fatal(err)
			}
			out, err := xds.Translate(res.IR, xds.Options{})
			if err != nil {
				b.Fatal(err)
			}
			routes := 0
			for _, r := range out {
				for _, rc := range r.Routes {
					for _, vh := range rc.VirtualHosts {
						routes += len(vh.Routes)
					}
				}
			}
			if routes != 3*n {
				b.Fatalf("%d Envoy routes, want %d", routes, 3*n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			benchutil.ReportCPU(b, func() {
				for b.Loop() {
					if _, err := xds.Translate(res.IR, xds.Options{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkTranslatorRouteChange measures a Translator translating again
// the Gateway (2000 of the 10k HTTPRoutes, 6000 Envoy routes) in which one
// route changed, as the xDS server does for each change the controller
// hands over: the other routes and the backends are the objects it
// translated before.
func BenchmarkTranslatorRouteChange(b *testing.B) {
	res, err := gatewayapi.Translate(gatewaytest.ScaleInput(10000), gatewayapi.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ir := res.IR
	tr := xds.NewTranslator(xds.Options{})
	if _, err := tr.Translate(ir); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	seq := 0
	benchutil.ReportCPU(b, func() {
		for b.Loop() {
			seq++
			next, vh := gatewaytest.CopyFirstVirtualHost(ir)
			r := *vh.Routes[0]
			r.Method = []string{"GET", "PUT"}[seq%2]
			vh.Routes[0] = &r
			ir = next
			if _, err := tr.Translate(&gatewayapi.IR{Gateways: ir.Gateways[:1], Backends: ir.Backends}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
