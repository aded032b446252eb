package ebpf

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/eniway/eniway/datapath"
)

// MapMemory is the most kernel memory one map takes, estimated from its
// spec (type, key and value sizes, entries) with the kernel's element
// layouts, in the style of "lbMapMax 65536 x 128 B = 8 MB".
type MapMemory struct {
	Map        string
	Type       ebpf.MapType
	Entries    uint32
	EntryBytes uint64
	Bytes      uint64
}

func (m MapMemory) String() string {
	return fmt.Sprintf("%s (%s): %d x %d B = %s", m.Map, m.Type, m.Entries, m.EntryBytes, humanBytes(m.Bytes))
}

// Memory is the estimate of every map of a program, largest first.
type Memory []MapMemory

// Total is the sum of the maps' estimates.
func (m Memory) Total() uint64 {
	var t uint64
	for _, mm := range m {
		t += mm.Bytes
	}
	return t
}

func (m Memory) String() string {
	var b strings.Builder
	for _, mm := range m {
		fmt.Fprintln(&b, mm)
	}
	fmt.Fprintf(&b, "total %s", humanBytes(m.Total()))
	return b.String()
}

// LoadBalancerMemory estimates the maps of a load balancer with opts.
func LoadBalancerMemory(opts datapath.LBOptions) (Memory, error) {
	st, err := datapath.NewLBState(opts)
	if err != nil {
		return nil, err
	}
	spec, err := lbSpec(st)
	if err != nil {
		return nil, err
	}
	return estimate(spec), nil
}

// RedirectMemory estimates the maps of a proxy redirect with opts.
func RedirectMemory(opts datapath.RedirectOptions) (Memory, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	spec, err := redirectSpec(opts.WithDefaults())
	if err != nil {
		return nil, err
	}
	return estimate(spec), nil
}

// PrefilterMemory estimates the maps of a prefilter with opts, at full
// deny lists.
func PrefilterMemory(opts datapath.PrefilterOptions) (Memory, error) {
	spec, err := prefilterSpec(opts)
	if err != nil {
		return nil, err
	}
	return estimate(spec), nil
}

func estimate(spec *ebpf.CollectionSpec) Memory {
	cpus, err := ebpf.PossibleCPU()
	if err != nil || cpus < 1 {
		cpus = 1
	}
	var out Memory
	for name, ms := range spec.Maps {
		if strings.HasPrefix(name, ".") {
			continue // global variables: a page or so
		}
		out = append(out, mapMemory(name, ms, cpus))
	}
	slices.SortFunc(out, func(a, b MapMemory) int {
		if a.Bytes != b.Bytes {
			if a.Bytes > b.Bytes {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Map, b.Map)
	})
	return out
}

// Element layouts of the kernel (64-bit): an array element is the value
// rounded up to 8 bytes (per CPU for a per-CPU array); a hash element
// is struct htab_elem (48 bytes) and the key and value, each rounded up
// to 8, with a 16-byte bucket per power-of-two slot; an LPM trie node is
// struct lpm_trie_node (40 bytes), the prefix bytes and the value, with
// up to one intermediate node per entry; a ring buffer is its size.
const (
	htabElemHeader = 48
	htabBucket     = 16
	lpmNodeHeader  = 40
)

func mapMemory(name string, ms *ebpf.MapSpec, cpus int) MapMemory {
	r8 := func(n uint32) uint64 { return (uint64(n) + 7) &^ 7 }
	m := MapMemory{Map: name, Type: ms.Type, Entries: ms.MaxEntries}
	switch ms.Type {
	case ebpf.Array:
		m.EntryBytes = r8(ms.ValueSize)
		m.Bytes = m.EntryBytes * uint64(ms.MaxEntries)
	case ebpf.PerCPUArray:
		m.EntryBytes = r8(ms.ValueSize) * uint64(cpus)
		m.Bytes = m.EntryBytes * uint64(ms.MaxEntries)
	case ebpf.Hash, ebpf.LRUHash:
		m.EntryBytes = htabElemHeader + r8(ms.KeySize) + r8(ms.ValueSize)
		buckets := uint64(1) << bits.Len32(ms.MaxEntries-1)
		m.Bytes = m.EntryBytes*uint64(ms.MaxEntries) + htabBucket*buckets
	case ebpf.LPMTrie:
		m.EntryBytes = 2 * (lpmNodeHeader + uint64(ms.KeySize-4) + uint64(ms.ValueSize))
		m.Bytes = m.EntryBytes * uint64(ms.MaxEntries)
	case ebpf.RingBuf:
		m.EntryBytes = 1
		m.Bytes = uint64(ms.MaxEntries)
	default:
		m.EntryBytes = r8(ms.KeySize) + r8(ms.ValueSize)
		m.Bytes = m.EntryBytes * uint64(ms.MaxEntries)
	}
	return m
}

func humanBytes(b uint64) string {
	switch {
	case b >= 10<<20:
		return fmt.Sprintf("%d MiB", b>>20)
	case b >= 10<<10:
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%d B", b)
}
