package ads_test

import (
	"flag"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/eniway/eniway/internal/benchutil"
)

var (
	benchRoutes  = flag.Int("push.routes", 10000, "HTTPRoutes loaded in BenchmarkPushLatency")
	benchClients = flag.Int("push.clients", 100, "ADS clients connected in BenchmarkPushLatency")
	benchHeap    = flag.String("push.heapprofile", "", "write a heap profile once the clients of BenchmarkPushLatency are in sync")
	benchCPU     = flag.String("push.cpuprofile", "", "write a CPU profile of the measured changes of BenchmarkPushLatency to `prefix`<protocol>-<change>.pprof")
)

// BenchmarkPushLatency measures how long a change takes to reach every
// connected client. Targets: with 10k HTTPRoutes loaded and 100 ADS
// clients, a change of one HTTPRoute reaches every client in under 100 ms
// (p99), a change of endpoints only in under 20 ms.
//
// Each client is a node of its own on its own connection and stream,
// subscribed to listeners, clusters, and the route configurations and
// endpoint assignments they name, and acknowledges every response. The
// clients run in a child process (this test binary again), as proxies run
// apart from their control plane; they share the two CPUs with the server
// all the same. Each iteration makes one change (a header value one route
// matches, or one endpoint of one backend) in a copy of the IR that
// shares every other object, as the Gateway controller hands changes
// over, calls Update, and takes, for each client, the time from just
// before Update to the receipt of the response that carries the change
// (both clocks are the machine's wall clock). Between changes the
// benchmark waits for the process to go idle (the clients'
// acknowledgements handled), so each change is measured alone. Reported:
// p50, p99 and max over clients times iterations, in ms, and the median
// time Update itself takes (update-p50-ms; the rest is the fan-out to the
// clients); ns/op is the time until the last client has the change, and
// allocs/op the server's process alone. The time the Gateway controller
// takes to translate the cluster's objects into the IR comes before
// Update and is not included. -push.cpuprofile profiles the measured
// changes alone.
//
//	go test ./l7/ads -run '^$' -bench PushLatency -benchtime 20x -benchmem
func BenchmarkPushLatency(b *testing.B) {
	for _, proto := range []string{"sotw", "delta"} {
		b.Run("Protocol="+proto, func(b *testing.B) {
			start := time.Now()
			h := startPush(b, pushConfig{routes: *benchRoutes, clients: *benchClients, delta: proto == "delta", wait: 5 * time.Minute})
			b.Logf("%d routes, %d %s clients in sync after %v; live heap %d MiB (server and clients)",
				*benchRoutes, *benchClients, proto, time.Since(start).Round(time.Millisecond), benchutil.HeapInUse()>>20)
			if *benchHeap != "" {
				f, err := os.Create(*benchHeap)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				if err := pprof.WriteHeapProfile(f); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
			h.wait = time.Minute
			for _, ch := range []struct {
				name string
				change
			}{{"route", routeChange}, {"endpoints", endpointChange}} {
				b.Run("Change="+ch.name, func(b *testing.B) {
					h.push(b, ch.change) // the first push after sync is not measured
					h.updates = nil
					var all []time.Duration
					b.ReportAllocs()
					if *benchCPU != "" {
						f, err := os.Create(*benchCPU + proto + "-" + ch.name + ".pprof")
						if err != nil {
							b.Fatal(err)
						}
						if err := pprof.StartCPUProfile(f); err != nil {
							b.Fatal(err)
						}
						defer func() {
							pprof.StopCPUProfile()
							if err := f.Close(); err != nil {
								b.Error(err)
							}
						}()
					}
					b.ResetTimer()
					for range b.N {
						b.StopTimer()
						settle(10 * time.Second)
						b.StartTimer()
						all = append(all, h.push(b, ch.change)...)
					}
					b.StopTimer()
					sortDurations(all)
					ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
					b.ReportMetric(ms(percentile(all, 0.50)), "p50-ms")
					b.ReportMetric(ms(percentile(all, 0.99)), "p99-ms")
					b.ReportMetric(ms(all[len(all)-1]), "max-ms")
					sortDurations(h.updates)
					b.ReportMetric(ms(percentile(h.updates, 0.50)), "update-p50-ms")
				})
			}
		})
	}
}
