package maglev

import "math"

// BackendStats is one backend's share of a table.
type BackendStats struct {
	ID     uint32
	Weight int64
	// Slots is the number of table slots holding ID.
	Slots int
	// Share is Slots / M; Want is Weight / (sum of weights).
	Share, Want float64
}

// Stats describes how a table divides its slots among backends.
type Stats struct {
	// TableSize is M.
	TableSize int
	// Backends has one entry per backend, in the order given.
	Backends []BackendStats
	// MinSlots and MaxSlots range over backends with a weight.
	MinSlots, MaxSlots int
	// MaxMinRatio is MaxSlots / MinSlots (+Inf if a weighted backend owns
	// no slot). 1 is perfect balance for equal weights.
	MaxMinRatio float64
	// WeightError is the largest relative deviation of a weighted backend's
	// share from its weight's share: max |Share - Want| / Want.
	WeightError float64
	// Unknown counts slots holding an ID that belongs to no backend.
	Unknown int
}

// ComputeStats counts the slots each backend owns in table and compares them
// with the backends' weights. IDs identify backends; backends with duplicate
// IDs are not told apart.
func ComputeStats(table []uint32, backends []Backend) Stats {
	st := Stats{TableSize: len(table), Backends: make([]BackendStats, len(backends))}
	index := make(map[uint32]int, len(backends))
	var weightSum float64
	for i, b := range backends {
		st.Backends[i] = BackendStats{ID: b.ID, Weight: b.Weight}
		index[b.ID] = i
		if b.Weight > 0 {
			weightSum += float64(b.Weight)
		}
	}
	for _, id := range table {
		if i, ok := index[id]; ok {
			st.Backends[i].Slots++
		} else {
			st.Unknown++
		}
	}
	st.MinSlots = math.MaxInt
	for i := range st.Backends {
		bs := &st.Backends[i]
		if len(table) > 0 {
			bs.Share = float64(bs.Slots) / float64(len(table))
		}
		if bs.Weight <= 0 || weightSum == 0 {
			continue
		}
		bs.Want = float64(bs.Weight) / weightSum
		st.MinSlots = min(st.MinSlots, bs.Slots)
		st.MaxSlots = max(st.MaxSlots, bs.Slots)
		st.WeightError = max(st.WeightError, math.Abs(bs.Share-bs.Want)/bs.Want)
	}
	switch {
	case st.MinSlots == math.MaxInt:
		st.MinSlots = 0
	case st.MinSlots == 0:
		st.MaxMinRatio = math.Inf(1)
	default:
		st.MaxMinRatio = float64(st.MaxSlots) / float64(st.MinSlots)
	}
	return st
}

// Disruption is the difference between two tables of a service.
type Disruption struct {
	// Changed lists the slots whose backend differs, in ascending order.
	Changed []int
	// Fraction is len(Changed) / M: the share of flows that move to another
	// backend (for flows spread evenly over the slots).
	Fraction float64
}

// Diff compares two tables slot by slot. Tables of different sizes hash
// flows to unrelated slots, so every slot of the larger one counts as
// changed; two empty tables differ nowhere.
func Diff(old, new []uint32) Disruption {
	var d Disruption
	if len(old) != len(new) {
		n := max(len(old), len(new))
		d.Changed = make([]int, n)
		for i := range d.Changed {
			d.Changed[i] = i
		}
		d.Fraction = 1
		return d
	}
	for i := range old {
		if old[i] != new[i] {
			d.Changed = append(d.Changed, i)
		}
	}
	if len(old) > 0 {
		d.Fraction = float64(len(d.Changed)) / float64(len(old))
	}
	return d
}
