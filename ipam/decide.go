package ipam

import (
	"fmt"
	"slices"

	"github.com/eniway/eniway/eni"
)

// PoolConfig are a node pool's watermarks and interface rules; the pool
// manager applies one to every node unless a node overrides it. The zero
// value is valid: secondary addresses, nothing pre-allocated beyond demand,
// every interface usable.
type PoolConfig struct {
	// Mode is ModeSecondaryIPs or ModePrefixDelegation (Nitro and bare
	// metal instances only).
	Mode Mode
	// PreAllocate is how many free addresses to keep ready beyond the
	// addresses in use and those pending pods wait for.
	PreAllocate int
	// MinAllocate is the smallest pool a node keeps, whatever its use.
	MinAllocate int
	// MaxAllocate caps the pool (0: the instance's capacity).
	MaxAllocate int
	// MaxAboveWatermark is how many addresses to allocate beyond the need
	// when allocating anyway, trading subnet space for fewer EC2 calls.
	MaxAboveWatermark int
	// FillInterfaces makes every allocation with secondary addresses take
	// all the room of each interface it touches (within MaxAllocate): one
	// EC2 call per interface over its life, as the AWS VPC CNI's warm-ENI
	// default does, at the cost of subnet addresses. It does not apply to
	// prefix delegation, where a /28 already batches 16 addresses.
	FillInterfaces bool
	// FirstInterfaceIndex is the lowest device index whose interface
	// serves pods (0: the primary interface too).
	FirstInterfaceIndex int
	// ExcludeInterfaceTags leave interfaces carrying any of these tags
	// out of the pool (an empty value matches any value of the key).
	ExcludeInterfaceTags eni.Tags
}

// DefaultPoolConfig is the configuration the pool targets are measured
// with: secondary addresses, 8 pre-allocated, 16 more whenever allocating
// (one /28 with prefix delegation), interfaces filled.
func DefaultPoolConfig() PoolConfig {
	return PoolConfig{PreAllocate: 8, MaxAboveWatermark: 16, FillInterfaces: true}
}

// Validate reports whether c is usable, naming the field.
func (c PoolConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"PreAllocate", c.PreAllocate}, {"MinAllocate", c.MinAllocate}, {"MaxAllocate", c.MaxAllocate},
		{"MaxAboveWatermark", c.MaxAboveWatermark}, {"FirstInterfaceIndex", c.FirstInterfaceIndex},
	} {
		if f.v < 0 {
			return &PlanError{Field: "PoolConfig." + f.name, Reason: fmt.Sprintf("%d is negative", f.v), Err: ErrInvalidPlan}
		}
	}
	if !c.Mode.valid() {
		return &PlanError{Field: "PoolConfig.Mode", Reason: fmt.Sprintf("%d is not a mode", c.Mode), Err: ErrInvalidMode}
	}
	if c.MaxAllocate > 0 && c.MinAllocate > c.MaxAllocate {
		return &PlanError{Field: "PoolConfig.MinAllocate", Reason: fmt.Sprintf("%d exceeds MaxAllocate %d", c.MinAllocate, c.MaxAllocate), Err: ErrInvalidPlan}
	}
	return nil
}

// NodeState is what the pool manager knows of a node when it decides.
type NodeState struct {
	// Limits are the node's instance type limits.
	Limits eni.Limits
	// ENIs are the interfaces attached to the node, with their addresses
	// and tags.
	ENIs []eni.ENI
	// Used counts the addresses handed to pods; Pending the pods waiting
	// for one.
	Used, Pending int
	// Subnets are the subnets new interfaces may go to, best first (the
	// manager orders them: explicit IDs, tags, the node's subnet, most
	// free addresses in the AZ).
	Subnets []eni.Subnet
	// NoPrefixSubnets are subnets where EC2 just found no free /28: the
	// decision assigns no prefix to interfaces in them and creates none
	// there, trying the other eligible subnets first.
	NoPrefixSubnets map[string]bool
	// NoPrefixes makes a prefix-delegation pool allocate secondary
	// addresses this time, after EC2 found no free /28 in any eligible
	// subnet. It does not disable prefix delegation for later decisions.
	NoPrefixes bool
}

// StepKind is an EC2 operation a Decision asks for.
type StepKind int

// The operations. Each Step is one EC2 call, except StepCreateENI, which is
// CreateNetworkInterface with its addresses, then AttachNetworkInterface.
const (
	StepAssignIPs StepKind = iota + 1
	StepAssignPrefixes
	StepCreateENI
)

func (k StepKind) String() string {
	switch k {
	case StepAssignIPs:
		return "AssignIPs"
	case StepAssignPrefixes:
		return "AssignPrefixes"
	case StepCreateENI:
		return "CreateENI"
	}
	return fmt.Sprintf("StepKind(%d)", int(k))
}

// Step is one operation of a Decision.
type Step struct {
	Kind StepKind
	// ENIID is the interface to assign to (StepAssignIPs,
	// StepAssignPrefixes).
	ENIID string
	// SubnetID and DeviceIndex place a new interface (StepCreateENI).
	SubnetID    string
	DeviceIndex int
	// IPs and Prefixes count the secondary addresses or /28 prefixes to
	// assign, or to create the interface with.
	IPs, Prefixes int
}

// Decision is what a node's pool needs now.
type Decision struct {
	// Available counts the pool's addresses (secondary addresses and the
	// addresses of /28 prefixes on the interfaces that serve pods).
	Available int
	// Needed is max(MinAllocate, Used + Pending + PreAllocate), capped by
	// MaxAllocate and the instance's capacity.
	Needed int
	// Capacity is the most addresses the node's pod interfaces can hold.
	Capacity int
	// Excess counts addresses beyond Needed + MaxAboveWatermark: what the
	// manager may release (after its delay) when ReleaseExcessIPs is on.
	Excess int
	// Steps allocate the deficit, in order; empty when nothing is needed.
	Steps []Step
	// Short counts addresses of Needed the steps cannot provide: no
	// subnet has room for another interface.
	Short int
	// Capped counts demand (Used + Pending + PreAllocate, or MinAllocate)
	// beyond MaxAllocate or the instance's capacity: pods that cannot get
	// an address on this node.
	Capped int
}

// Decide computes what a node's pool needs: a pure function of the node's
// state and its configuration, with no I/O. It allocates on the existing
// interfaces first, in device order, then on new interfaces created with
// their addresses in one call, so that a deficit costs as few EC2 calls as
// possible: one per interface touched.
func Decide(s NodeState, c PoolConfig) (Decision, error) {
	if err := c.Validate(); err != nil {
		return Decision{}, err
	}
	if s.Limits.MaxENIs < 1 || s.Limits.IPv4PerENI < 2 {
		return Decision{}, &PlanError{Field: "NodeState.Limits", Reason: fmt.Sprintf("%d ENIs of %d IPv4 addresses hold no pod address", s.Limits.MaxENIs, s.Limits.IPv4PerENI), Err: ErrInvalidPlan}
	}
	prefixes := c.Mode == ModePrefixDelegation && !s.NoPrefixes
	if prefixes && !s.Limits.PrefixDelegation() {
		return Decision{}, &PlanError{Field: "PoolConfig.Mode", Reason: fmt.Sprintf("instance type %q does not support prefix delegation", s.Limits.InstanceType), Err: ErrPrefixDelegationNotSupported}
	}
	unit := 1
	if prefixes {
		unit = AddressesPerPrefix
	}
	slots := s.Limits.MaxSecondaryIPv4()

	// The interfaces that serve pods, and the device indexes in use.
	var pods []eni.ENI
	usedIndex := map[int]bool{}
	for _, e := range s.ENIs {
		if e.Attachment != nil {
			usedIndex[e.Attachment.DeviceIndex] = true
		}
		if e.Attachment == nil || e.Attachment.DeviceIndex < c.FirstInterfaceIndex || hasAnyTag(e.Tags, c.ExcludeInterfaceTags) {
			continue
		}
		pods = append(pods, e)
	}
	slices.SortFunc(pods, func(a, b eni.ENI) int { return a.Attachment.DeviceIndex - b.Attachment.DeviceIndex })

	d := Decision{}
	for _, e := range pods {
		d.Available += len(e.SecondaryIPs) + AddressesPerPrefix*len(e.Prefixes)
	}
	// Capacity: the pod interfaces there are, plus those that can still be
	// attached at or above FirstInterfaceIndex, each full of the unit.
	free := 0
	for i := c.FirstInterfaceIndex; i < s.Limits.MaxENIs; i++ {
		if !usedIndex[i] {
			free++
		}
	}
	free = min(free, s.Limits.MaxENIs-len(usedIndex))
	d.Capacity = (len(pods) + free) * slots * unit
	for _, e := range pods {
		// A pod interface already holding addresses of the other kind
		// keeps them: count what it holds, at most its slots.
		held := len(e.SecondaryIPs) + AddressesPerPrefix*len(e.Prefixes)
		if held > slots*unit {
			d.Capacity += held - slots*unit
		}
	}

	demand := max(c.MinAllocate, s.Used+s.Pending+c.PreAllocate)
	d.Needed = min(demand, d.Capacity)
	if c.MaxAllocate > 0 {
		d.Needed = min(d.Needed, c.MaxAllocate)
	}
	d.Capped = demand - d.Needed
	d.Excess = max(d.Available-d.Needed-c.MaxAboveWatermark, 0)
	deficit := d.Needed - d.Available
	if deficit <= 0 {
		return d, nil
	}
	want := min(deficit+c.MaxAboveWatermark, d.Capacity-d.Available)
	if c.MaxAllocate > 0 {
		want = min(want, max(c.MaxAllocate-d.Available, deficit))
	}
	wanted := ceilDiv(want, unit)
	units := wanted
	fill := c.FillInterfaces && !prefixes
	if fill && c.MaxAllocate > 0 {
		// Filling stops at MaxAllocate.
		fill = false
		units = max(units, min(c.MaxAllocate, d.Capacity)-d.Available)
		wanted = units
	}

	step := func(kind StepKind, n int) Step {
		st := Step{Kind: kind}
		if prefixes {
			st.Prefixes = n
		} else {
			st.IPs = n
		}
		return st
	}
	assign := StepAssignIPs
	if prefixes {
		assign = StepAssignPrefixes
	}
	// Free addresses per subnet, as the steps use them up (the caller's
	// state is not touched).
	subnetFree := make([]int, len(s.Subnets))
	subnetIndex := make(map[string]int, len(s.Subnets))
	for i, sn := range s.Subnets {
		subnetFree[i] = sn.AvailableIPs
		subnetIndex[sn.ID] = i
	}
	for _, e := range pods {
		room := slots - len(e.SecondaryIPs) - len(e.Prefixes)
		if room <= 0 || units <= 0 || (prefixes && s.NoPrefixSubnets[e.SubnetID]) {
			continue
		}
		n := min(room, units)
		if fill {
			n = room
		}
		// An interface's addresses come from its own subnet.
		si, known := subnetIndex[e.SubnetID]
		if known {
			n = min(n, subnetFree[si]/unit)
			if n == 0 {
				continue
			}
			subnetFree[si] -= n * unit
		}
		st := step(assign, n)
		st.ENIID = e.ID
		d.Steps = append(d.Steps, st)
		units -= n
	}
	subnet := 0
	for i := c.FirstInterfaceIndex; units > 0 && i < s.Limits.MaxENIs && len(usedIndex) < s.Limits.MaxENIs; i++ {
		if usedIndex[i] {
			continue
		}
		n := min(slots, units)
		if fill {
			n = slots
		}
		// The first subnet, in the manager's order, with room for the new
		// interface's primary address and what it asks for.
		for subnet < len(s.Subnets) && (subnetFree[subnet] < 1+n*unit || prefixes && s.NoPrefixSubnets[s.Subnets[subnet].ID]) {
			subnet++
		}
		if subnet == len(s.Subnets) {
			break
		}
		st := step(StepCreateENI, n)
		st.SubnetID = s.Subnets[subnet].ID
		st.DeviceIndex = i
		d.Steps = append(d.Steps, st)
		subnetFree[subnet] -= 1 + n*unit
		usedIndex[i] = true
		units -= n
	}
	units = max(units, 0) // filling may take more than wanted
	d.Short = max(deficit-(wanted-units)*unit, 0)
	return d, nil
}

// hasAnyTag reports whether tags carry any of want's tags (an empty value
// in want matches any value of the key).
func hasAnyTag(tags, want eni.Tags) bool {
	for k, v := range want {
		if got, ok := tags[k]; ok && (v == "" || got == v) {
			return true
		}
	}
	return false
}
