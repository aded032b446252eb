// Package benchutil holds measurement helpers shared by the repository's
// benchmarks, so that figures reported side by side (eniway next to the
// implementation it is compared with) are measured the same way.
package benchutil

import (
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

// ReportCPU runs the benchmark loop body via loop and reports the CPU time
// per operation as the "cpu-ns/op" metric. Unlike ns/op, which is wall time,
// it counts the work of every goroutine the operation fans out to. Where the
// process CPU time cannot be read, no metric is reported.
func ReportCPU(b *testing.B, loop func()) {
	b.Helper()
	start, ok := CPUTime()
	loop()
	if end, _ := CPUTime(); ok {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

// HeapInUse returns the live heap after a full garbage collection.
func HeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// ReportRetained reports, as the "retained-B" metric, how much live heap
// grew between before (a HeapInUse reading) and now; call it while the
// object whose footprint is measured is still reachable.
func ReportRetained(b *testing.B, before uint64) {
	b.Helper()
	after := HeapInUse()
	retained := 0.0
	if after > before {
		retained = float64(after - before)
	}
	b.ReportMetric(retained, "retained-B")
}

// PeakHeap runs fn and returns the highest live heap seen while it ran,
// above the live heap before it, sampled every 200 µs (so a peak shorter
// than that may be missed), after a full collection.
func PeakHeap(fn func()) uint64 {
	base := HeapInUse()
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			if v := samples[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	<-stopped
	metrics.Read(samples)
	p := max(peak.Load(), samples[0].Value.Uint64())
	if p < base {
		return 0
	}
	return p - base
}
