package ipam_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/ipam"
)

var (
	m5large   = eni.Limits{InstanceType: "m5.large", MaxENIs: 3, IPv4PerENI: 10, Hypervisor: "nitro", VCPUs: 2}
	m54xlarge = eni.Limits{InstanceType: "m5.4xlarge", MaxENIs: 8, IPv4PerENI: 30, Hypervisor: "nitro", VCPUs: 16}
	t2medium  = eni.Limits{InstanceType: "t2.medium", MaxENIs: 3, IPv4PerENI: 6, Hypervisor: "xen", VCPUs: 2}
)

// attached returns an attached interface at device index i holding ips
// secondary addresses and prefixes /28s.
func attached(i, ips, prefixes int, tags eni.Tags) eni.ENI {
	e := eni.ENI{ID: fmt.Sprintf("eni-%d", i), Attachment: &eni.Attachment{DeviceIndex: i}, Tags: tags}
	a := netip.AddrFrom4([4]byte{10, 0, byte(i), 10})
	for range ips {
		e.SecondaryIPs = append(e.SecondaryIPs, a)
		a = a.Next()
	}
	for p := range prefixes {
		e.Prefixes = append(e.Prefixes, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), byte(16 * p)}), 28))
	}
	return e
}

func subnets(free ...int) []eni.Subnet {
	out := make([]eni.Subnet, len(free))
	for i, f := range free {
		out[i] = eni.Subnet{ID: fmt.Sprintf("subnet-%d", i), AvailableIPs: f}
	}
	return out
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state ipam.NodeState
		cfg   ipam.PoolConfig
		want  ipam.Decision
	}{
		{
			name:  "first pods, secondary: pre-allocate on the primary interface",
			state: ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{attached(0, 0, 0, nil)}, Subnets: subnets(200)},
			cfg:   ipam.PoolConfig{PreAllocate: 8},
			want: ipam.Decision{Needed: 8, Capacity: 8 * 29, Steps: []ipam.Step{
				{Kind: ipam.StepAssignIPs, ENIID: "eni-0", IPs: 8},
			}},
		},
		{
			name:  "burst of 110 pods, secondary: fill the primary, then create interfaces with their addresses",
			state: ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{attached(0, 0, 0, nil)}, Pending: 110, Subnets: subnets(1000)},
			cfg:   ipam.PoolConfig{PreAllocate: 8},
			want: ipam.Decision{Needed: 118, Capacity: 8 * 29, Steps: []ipam.Step{
				{Kind: ipam.StepAssignIPs, ENIID: "eni-0", IPs: 29},
				{Kind: ipam.StepCreateENI, SubnetID: "subnet-0", DeviceIndex: 1, IPs: 29},
				{Kind: ipam.StepCreateENI, SubnetID: "subnet-0", DeviceIndex: 2, IPs: 29},
				{Kind: ipam.StepCreateENI, SubnetID: "subnet-0", DeviceIndex: 3, IPs: 29},
				{Kind: ipam.StepCreateENI, SubnetID: "subnet-0", DeviceIndex: 4, IPs: 2},
			}},
		},
		{
			name:  "burst of 110 pods, prefix delegation: one call",
			state: ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{attached(0, 0, 0, nil)}, Pending: 110, Subnets: subnets(1000)},
			cfg:   ipam.PoolConfig{Mode: ipam.ModePrefixDelegation, PreAllocate: 8},
			want: ipam.Decision{Needed: 118, Capacity: 8 * 29 * 16, Steps: []ipam.Step{
				{Kind: ipam.StepAssignPrefixes, ENIID: "eni-0", Prefixes: 8},
			}},
		},
		{
			name:  "watermark: allocate beyond the need when allocating anyway",
			state: ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{attached(0, 8, 0, nil)}, Used: 8, Subnets: subnets(200)},
			cfg:   ipam.PoolConfig{PreAllocate: 1, MaxAboveWatermark: 10},
			want: ipam.Decision{Available: 8, Needed: 9, Capacity: 8 * 29, Steps: []ipam.Step{
				{Kind: ipam.StepAssignIPs, ENIID: "eni-0", IPs: 11},
			}},
		},
		{
			name:  "nothing to do; excess above the watermark",
			state: ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{attached(0, 29, 0, nil), attached(1, 11, 0, nil)}, Used: 5},
			cfg:   ipam.PoolConfig{PreAllocate: 5, MaxAboveWatermark: 5},
			want:  ipam.Decision{Available: 40, Needed: 10, Capacity: 8 * 29, Excess: 25},
		},
		{
			name: "first interface index and excluded interfaces are not used",
			state: ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{
				attached(0, 5, 0, nil), attached(1, 0, 0, eni.Tags{"no-pods": "true"}), attached(2, 3, 0, nil),
			}, Pending: 30, Subnets: subnets(100)},
			cfg: ipam.PoolConfig{FirstInterfaceIndex: 1, ExcludeInterfaceTags: eni.Tags{"no-pods": ""}},
			want: ipam.Decision{Available: 3, Needed: 30, Capacity: 6 * 29, Steps: []ipam.Step{
				{Kind: ipam.StepAssignIPs, ENIID: "eni-2", IPs: 26},
				{Kind: ipam.StepCreateENI, SubnetID: "subnet-0", DeviceIndex: 3, IPs: 1},
			}},
		},
		{
			name:  "capacity caps the need: m5.large holds 3 x 9",
			state: ipam.NodeState{Limits: m5large, ENIs: []eni.ENI{attached(0, 0, 0, nil)}, Pending: 100, Subnets: subnets(500)},
			want: ipam.Decision{Needed: 27, Capacity: 27, Capped: 73, Steps: []ipam.Step{
				{Kind: ipam.StepAssignIPs, ENIID: "eni-0", IPs: 9},
				{Kind: ipam.StepCreateENI, SubnetID: "subnet-0", DeviceIndex: 1, IPs: 9},
				{Kind: ipam.StepCreateENI, SubnetID: "subnet-0", DeviceIndex: 2, IPs: 9},
			}},
		},
		{
			name:  "MaxAllocate caps the need and the watermark",
			state: ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{attached(0, 0, 0, nil)}, Pending: 50},
			cfg:   ipam.PoolConfig{MaxAllocate: 20, MaxAboveWatermark: 10},
			want: ipam.Decision{Needed: 20, Capacity: 8 * 29, Capped: 30, Steps: []ipam.Step{
				{Kind: ipam.StepAssignIPs, ENIID: "eni-0", IPs: 20},
			}},
		},
		{
			name:  "subnets in order of preference, skipping full ones; short when none has room",
			state: ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{attached(0, 29, 0, nil)}, Used: 29, Pending: 40, Subnets: subnets(10, 30, 5)},
			want: ipam.Decision{Available: 29, Needed: 69, Capacity: 8 * 29, Short: 11, Steps: []ipam.Step{
				{Kind: ipam.StepCreateENI, SubnetID: "subnet-1", DeviceIndex: 1, IPs: 29},
			}},
		},
		{
			name:  "prefix delegation without free /28s falls back to secondary addresses this time",
			state: ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{attached(0, 0, 2, nil)}, Used: 32, Pending: 3, NoPrefixes: true, Subnets: subnets(100)},
			cfg:   ipam.PoolConfig{Mode: ipam.ModePrefixDelegation},
			want: ipam.Decision{Available: 32, Needed: 35, Capacity: 8*29 + 32 - 29, Steps: []ipam.Step{
				{Kind: ipam.StepAssignIPs, ENIID: "eni-0", IPs: 3},
			}},
		},
		{
			name:  "filling interfaces: one call per interface",
			state: ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{attached(0, 29, 0, nil)}, Used: 25, Subnets: subnets(100)},
			cfg:   ipam.DefaultPoolConfig(),
			want: ipam.Decision{Available: 29, Needed: 33, Capacity: 8 * 29, Steps: []ipam.Step{
				{Kind: ipam.StepCreateENI, SubnetID: "subnet-0", DeviceIndex: 1, IPs: 29},
			}},
		},
		{
			name:  "defaults with prefix delegation: a /28 beyond the need",
			state: ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{attached(0, 0, 1, nil)}, Used: 10, Subnets: subnets(100)},
			cfg:   ipam.PoolConfig{Mode: ipam.ModePrefixDelegation, PreAllocate: 8, MaxAboveWatermark: 16, FillInterfaces: true},
			want: ipam.Decision{Available: 16, Needed: 18, Capacity: 8 * 29 * 16, Steps: []ipam.Step{
				{Kind: ipam.StepAssignPrefixes, ENIID: "eni-0", Prefixes: 2},
			}},
		},
		{
			name:  "filling stops at MaxAllocate",
			state: ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{attached(0, 0, 0, nil)}, Used: 1, Subnets: subnets(100)},
			cfg:   ipam.PoolConfig{PreAllocate: 8, FillInterfaces: true, MaxAllocate: 12},
			want: ipam.Decision{Needed: 9, Capacity: 8 * 29, Steps: []ipam.Step{
				{Kind: ipam.StepAssignIPs, ENIID: "eni-0", IPs: 12},
			}},
		},
		{
			name:  "MinAllocate",
			state: ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{attached(0, 0, 0, nil)}},
			cfg:   ipam.PoolConfig{MinAllocate: 12},
			want: ipam.Decision{Needed: 12, Capacity: 8 * 29, Steps: []ipam.Step{
				{Kind: ipam.StepAssignIPs, ENIID: "eni-0", IPs: 12},
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(tc.state.Subnets)
			got, err := ipam.Decide(tc.state, tc.cfg)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, before, tc.state.Subnets, "Decide does not touch its input")
		})
	}
}

func TestDecideErrors(t *testing.T) {
	node := ipam.NodeState{Limits: m54xlarge, ENIs: []eni.ENI{attached(0, 0, 0, nil)}}
	for _, tc := range []struct {
		state ipam.NodeState
		cfg   ipam.PoolConfig
		field string
		err   error
	}{
		{node, ipam.PoolConfig{PreAllocate: -1}, "PoolConfig.PreAllocate", ipam.ErrInvalidPlan},
		{node, ipam.PoolConfig{MinAllocate: 5, MaxAllocate: 4}, "PoolConfig.MinAllocate", ipam.ErrInvalidPlan},
		{node, ipam.PoolConfig{Mode: 7}, "PoolConfig.Mode", ipam.ErrInvalidMode},
		{ipam.NodeState{Limits: t2medium}, ipam.PoolConfig{Mode: ipam.ModePrefixDelegation}, "PoolConfig.Mode", ipam.ErrPrefixDelegationNotSupported},
		{ipam.NodeState{}, ipam.PoolConfig{}, "NodeState.Limits", ipam.ErrInvalidPlan},
	} {
		_, err := ipam.Decide(tc.state, tc.cfg)
		require.ErrorIs(t, err, tc.err)
		var pe *ipam.PlanError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, tc.field, pe.Field)
	}
}

// FuzzDecide checks Decide's invariants: the steps never overfill an
// interface, the instance or a subnet, use each free device index at most
// once, and provide the deficit or report what is short.
func FuzzDecide(f *testing.F) {
	f.Add(uint8(8), uint8(30), uint8(0), uint8(3), uint16(0), uint16(110), uint8(8), uint8(0), uint8(0), false, uint16(1000), uint16(50))
	f.Add(uint8(3), uint8(10), uint8(1), uint8(2), uint16(5), uint16(40), uint8(0), uint8(4), uint8(1), true, uint16(20), uint16(0))
	f.Fuzz(func(t *testing.T, maxENIs, ipv4, first, attachedN uint8, used, pending uint16, pre, above, held uint8, pd bool, free0, free1 uint16) {
		fill := above%2 == 1
		limits := eni.Limits{MaxENIs: int(maxENIs%16) + 1, IPv4PerENI: int(ipv4%50) + 2, Hypervisor: "nitro"}
		slots := limits.MaxSecondaryIPv4()
		var enis []eni.ENI
		for i := range min(int(attachedN), limits.MaxENIs) {
			h := int(held) % (slots + 1)
			if pd {
				enis = append(enis, attached(i, 0, h, nil))
			} else {
				enis = append(enis, attached(i, h, 0, nil))
			}
		}
		cfg := ipam.PoolConfig{PreAllocate: int(pre), MaxAboveWatermark: int(above), FirstInterfaceIndex: int(first % 3), FillInterfaces: fill}
		unit := 1
		if pd {
			cfg.Mode = ipam.ModePrefixDelegation
			unit = 16
		}
		state := ipam.NodeState{Limits: limits, ENIs: enis, Used: int(used), Pending: int(pending), Subnets: subnets(int(free0), int(free1))}
		d, err := ipam.Decide(state, cfg)
		require.NoError(t, err)
		require.LessOrEqual(t, d.Needed, d.Capacity)
		require.GreaterOrEqual(t, d.Available, 0)
		provided := 0
		devices := map[int]bool{}
		for _, e := range enis {
			devices[e.Attachment.DeviceIndex] = true
		}
		byID := map[string]eni.ENI{}
		for _, e := range enis {
			byID[e.ID] = e
		}
		subnetUse := map[string]int{}
		for _, st := range d.Steps {
			n := st.IPs + st.Prefixes
			require.Positive(t, n)
			provided += n * unit
			switch st.Kind {
			case ipam.StepCreateENI:
				require.False(t, devices[st.DeviceIndex], "device index %d used twice", st.DeviceIndex)
				require.GreaterOrEqual(t, st.DeviceIndex, cfg.FirstInterfaceIndex)
				require.Less(t, st.DeviceIndex, limits.MaxENIs)
				devices[st.DeviceIndex] = true
				require.LessOrEqual(t, n, slots)
				subnetUse[st.SubnetID] += 1 + n*unit
			default:
				e, ok := byID[st.ENIID]
				require.True(t, ok)
				require.LessOrEqual(t, len(e.SecondaryIPs)+len(e.Prefixes)+n, slots, "interface %s overfilled", e.ID)
			}
		}
		require.LessOrEqual(t, len(devices), limits.MaxENIs)
		for _, sn := range state.Subnets {
			require.LessOrEqual(t, subnetUse[sn.ID], sn.AvailableIPs, "subnet %s overused", sn.ID)
		}
		deficit := d.Needed - d.Available
		if deficit <= 0 {
			require.Empty(t, d.Steps)
			require.Zero(t, d.Short)
			return
		}
		require.GreaterOrEqual(t, provided+d.Short, deficit, "steps and shortfall cover the deficit")
		require.LessOrEqual(t, d.Available+provided, d.Capacity+unit-1)
	})
}
