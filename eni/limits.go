package eni

import (
	"bytes"
	_ "embed" // the snapshot table
	"maps"
	"slices"
	"sync"

	"github.com/eniway/eniway/eni/internal/limitsfile"
)

// snapshotJSON is the instance-limits snapshot table, in the format of
// eni/internal/limitsfile. Its header says where the data comes from;
// regenerate it with go run ./eni/internal/genlimits.
//
//go:embed limits_snapshot.json
var snapshotJSON []byte

// snapshotTable is the parsed snapshot. It is never modified once built.
type snapshotTable struct {
	limits map[string]Limits
	types  []string // sorted
}

// snapshot parses the embedded table on first use. The table is checked by
// this package's tests, so a failure to parse it is a build defect: it
// panics.
var snapshot = sync.OnceValue(func() snapshotTable {
	f, err := limitsfile.Decode(bytes.NewReader(snapshotJSON))
	if err != nil {
		panic("eni: embedded limits_snapshot.json: " + err.Error())
	}
	t := snapshotTable{limits: make(map[string]Limits, len(f.Rows))}
	for _, r := range f.Rows {
		t.limits[r.InstanceType] = Limits{
			InstanceType: r.InstanceType,
			MaxENIs:      r.MaxENIs,
			IPv4PerENI:   r.IPv4PerENI,
			IPv6PerENI:   r.IPv6PerENI,
			Hypervisor:   r.Hypervisor,
			BareMetal:    r.BareMetal,
			VCPUs:        r.VCPUs,
		}
	}
	t.types = slices.Sorted(maps.Keys(t.limits))
	return t
})

// SnapshotLimits returns the embedded snapshot's limits for an instance type.
//
// The snapshot is a table of EC2's published limits embedded in this package
// for offline planning and as LimitsCache's fallback; DescribeInstanceTypes
// is the source of truth, and the snapshot may lack types AWS added after it
// was made. Its header (limits_snapshot.json) says where and when it was
// read. A VCPUs of 0 means the snapshot does not know the vCPU count (the
// table seeded from Cilium's does not record it; one regenerated with
// eni/internal/genlimits does). The table is parsed on first use.
func SnapshotLimits(instanceType string) (Limits, bool) {
	l, ok := snapshot().limits[instanceType]
	return l, ok
}

// SnapshotTypes returns every instance type in the snapshot, sorted. The
// slice is the caller's.
func SnapshotTypes() []string { return slices.Clone(snapshot().types) }
