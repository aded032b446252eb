package ebpf

import "github.com/cilium/ebpf"

// sumCounters reads a per-CPU array of counters into dst, in key order,
// each summed over CPUs.
func sumCounters(m *ebpf.Map, dst ...*uint64) error {
	for key, d := range dst {
		var perCPU []uint64
		if err := m.Lookup(uint32(key), &perCPU); err != nil {
			return err
		}
		*d = 0
		for _, n := range perCPU {
			*d += n
		}
	}
	return nil
}
