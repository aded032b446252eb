// Package benchutil holds measurement helpers shared by the repository's
// benchmarks, so that figures reported side by side (eniway next to the
// implementation it is compared with) are measured the same way.
package benchutil

import (
	"runtime"
	"testing"
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
