package ipam_test

import (
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/ipam"
)

// Instance limits for the tests, as EC2 publishes them; examples/ipam-plan
// checks them against eni's snapshot table, whose vCPU counts are unknown.
var (
	m5Large = eni.Limits{InstanceType: "m5.large", MaxENIs: 3, IPv4PerENI: 10, IPv6PerENI: 10, Hypervisor: "nitro", VCPUs: 2}
	m7gXL   = eni.Limits{InstanceType: "m7g.xlarge", MaxENIs: 4, IPv4PerENI: 15, IPv6PerENI: 15, Hypervisor: "nitro", VCPUs: 4}
	m54XL   = eni.Limits{InstanceType: "m5.4xlarge", MaxENIs: 8, IPv4PerENI: 30, IPv6PerENI: 30, Hypervisor: "nitro", VCPUs: 16}
	m524XL  = eni.Limits{InstanceType: "m5.24xlarge", MaxENIs: 15, IPv4PerENI: 50, IPv6PerENI: 50, Hypervisor: "nitro", VCPUs: 96}
	m5Metal = eni.Limits{InstanceType: "m5.metal", MaxENIs: 15, IPv4PerENI: 50, IPv6PerENI: 50, BareMetal: true, VCPUs: 96}
	m4Large = eni.Limits{InstanceType: "m4.large", MaxENIs: 2, IPv4PerENI: 10, IPv6PerENI: 10, Hypervisor: "xen", VCPUs: 2}
	t3Nano  = eni.Limits{InstanceType: "t3.nano", MaxENIs: 2, IPv4PerENI: 2, IPv6PerENI: 2, Hypervisor: "nitro", VCPUs: 2}
)

func withVCPUs(l eni.Limits, n int) eni.Limits { l.VCPUs = n; return l }

func TestMode(t *testing.T) {
	for _, m := range []ipam.Mode{ipam.ModeSecondaryIPs, ipam.ModePrefixDelegation} {
		got, err := ipam.ParseMode(m.String())
		require.NoError(t, err)
		require.Equal(t, m, got)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		var back ipam.Mode
		require.NoError(t, json.Unmarshal(b, &back))
		require.Equal(t, m, back)
	}
	require.Equal(t, "secondary", ipam.ModeSecondaryIPs.String())
	require.Equal(t, "pd", ipam.ModePrefixDelegation.String())
	require.Equal(t, "Mode(7)", ipam.Mode(7).String())
	require.Equal(t, ipam.ModeSecondaryIPs, ipam.Mode(0), "the zero Mode")

	for _, s := range []string{"", "PD", "prefix", "secondary "} {
		_, err := ipam.ParseMode(s)
		require.ErrorIs(t, err, ipam.ErrInvalidMode, "%q", s)
	}
	_, err := json.Marshal(ipam.Mode(-1))
	require.ErrorIs(t, err, ipam.ErrInvalidMode)
	var m ipam.Mode
	require.ErrorIs(t, json.Unmarshal([]byte(`"eni"`), &m), ipam.ErrInvalidMode)
}

func TestMaxPods(t *testing.T) {
	for _, tc := range []struct {
		name       string
		l          eni.Limits
		m          ipam.Mode
		addresses  int
		cap        int
		capAssumed bool
		maxPods    int
		explain    []string
	}{
		{
			name: "m5.large secondary", l: m5Large, m: ipam.ModeSecondaryIPs,
			addresses: 27, maxPods: 29,
			explain: []string{"3 ENIs x 9 secondary addresses each (10 IPv4 addresses per ENI - 1, the ENI's primary) = 27", "27 + 2 host-network pods", "= 29"},
		},
		{
			name: "m7g.xlarge secondary", l: m7gXL, m: ipam.ModeSecondaryIPs,
			addresses: 56, maxPods: 58,
			explain: []string{"4 ENIs x 14 secondary addresses each", "56 + 2 host-network pods, which take no pod address = 58"},
		},
		{
			name: "m7g.xlarge prefix delegation", l: m7gXL, m: ipam.ModePrefixDelegation,
			addresses: 896, cap: 110, maxPods: 110,
			explain: []string{
				"4 ENIs x 14 /28 prefixes each (15 IPv4 slots per ENI - 1 for the ENI's primary address) x 16 addresses per /28 = 896 pod addresses",
				"896 + 2 host-network pods, which take no pod address = 898",
				"capped at 110, the cap for up to 30 vCPUs (m7g.xlarge has 4) = 110 max pods",
				`Not "4 ENI x 16 IP/Prefix = 64 pods", the guide's count: 16 is the size of one /28, not what an ENI holds;`,
				"an ENI holds 14 /28 prefixes (IPv4PerENI - 1, one per secondary address slot), 224 addresses",
			},
		},
		{
			name: "m5.4xlarge prefix delegation", l: m54XL, m: ipam.ModePrefixDelegation,
			addresses: 3712, cap: 110, maxPods: 110,
			explain: []string{"8 ENIs x 29 /28 prefixes each", "= 3712 pod addresses", "(m5.4xlarge has 16)"},
		},
		{
			name: "m5.4xlarge secondary", l: m54XL, m: ipam.ModeSecondaryIPs,
			addresses: 232, maxPods: 234,
		},
		{
			name: "96 vCPUs", l: m524XL, m: ipam.ModePrefixDelegation,
			addresses: 11760, cap: 250, maxPods: 250,
			explain: []string{"capped at 250, the cap above 30 vCPUs (m5.24xlarge has 96)"},
		},
		{
			name: "secondary is not capped", l: m524XL, m: ipam.ModeSecondaryIPs,
			addresses: 735, maxPods: 737,
		},
		{
			name: "bare metal", l: m5Metal, m: ipam.ModePrefixDelegation,
			addresses: 11760, cap: 250, maxPods: 250,
		},
		{
			name: "30 vCPUs is small", l: withVCPUs(m524XL, 30), m: ipam.ModePrefixDelegation,
			addresses: 11760, cap: 110, maxPods: 110,
		},
		{
			name: "31 vCPUs is large", l: withVCPUs(m524XL, 31), m: ipam.ModePrefixDelegation,
			addresses: 11760, cap: 250, maxPods: 250,
		},
		{
			name: "vCPUs unknown", l: withVCPUs(m524XL, 0), m: ipam.ModePrefixDelegation,
			addresses: 11760, cap: 110, capAssumed: true, maxPods: 110,
			explain: []string{"capped at 110, the vCPU count is unknown, so this assumes at most 30 vCPUs (above, the cap is 250)"},
		},
		{
			name: "under the cap", l: t3Nano, m: ipam.ModePrefixDelegation,
			addresses: 32, cap: 110, maxPods: 34,
			explain: []string{"2 ENIs x 1 /28 prefixes each", "under the cap of 110"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ipam.MaxPods(tc.l, tc.m)
			require.NoError(t, err)
			assert.Equal(t, tc.l.InstanceType, r.InstanceType)
			assert.Equal(t, tc.m, r.Mode)
			assert.Equal(t, tc.l.MaxENIs, r.ENIs)
			assert.Equal(t, tc.l.IPv4PerENI-1, r.SlotsPerENI)
			assert.Equal(t, tc.addresses, r.Addresses)
			assert.Equal(t, tc.cap, r.Cap)
			assert.Equal(t, tc.capAssumed, r.CapAssumed)
			assert.Equal(t, tc.maxPods, r.MaxPods)
			assert.True(t, strings.HasPrefix(r.Explanation, tc.l.InstanceType+", "), r.Explanation)
			for _, want := range tc.explain {
				assert.Contains(t, r.Explanation, want)
			}
			if tc.m == ipam.ModeSecondaryIPs {
				assert.NotContains(t, r.Explanation, "cap")
			}
			if tc.l.IPv4PerENI == 2 {
				assert.NotContains(t, r.Explanation, "Not \"")
			}
		})
	}
}

func TestMaxPodsErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		l     eni.Limits
		m     ipam.Mode
		field string
		is    error
	}{
		{"xen prefix delegation", m4Large, ipam.ModePrefixDelegation, "Mode", ipam.ErrPrefixDelegationNotSupported},
		{"no hypervisor, not metal", eni.Limits{MaxENIs: 2, IPv4PerENI: 4}, ipam.ModePrefixDelegation, "Mode", ipam.ErrPrefixDelegationNotSupported},
		{"undeclared mode", m5Large, ipam.Mode(2), "Mode", ipam.ErrInvalidPlan},
		{"no ENIs", eni.Limits{IPv4PerENI: 10}, ipam.ModeSecondaryIPs, "Limits.MaxENIs", ipam.ErrInvalidPlan},
		{"too many ENIs", eni.Limits{MaxENIs: 1 << 11, IPv4PerENI: 10}, ipam.ModeSecondaryIPs, "Limits.MaxENIs", ipam.ErrInvalidPlan},
		{"no secondary slot", eni.Limits{MaxENIs: 2, IPv4PerENI: 1}, ipam.ModeSecondaryIPs, "Limits.IPv4PerENI", ipam.ErrInvalidPlan},
		{"too many addresses", eni.Limits{MaxENIs: 2, IPv4PerENI: 1 << 11}, ipam.ModeSecondaryIPs, "Limits.IPv4PerENI", ipam.ErrInvalidPlan},
		{"negative vCPUs", withVCPUs(m5Large, -1), ipam.ModePrefixDelegation, "Limits.VCPUs", ipam.ErrInvalidPlan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ipam.MaxPods(tc.l, tc.m)
			require.Zero(t, r)
			var pe *ipam.PlanError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.field, pe.Field)
			require.ErrorIs(t, err, tc.is)
			require.ErrorIs(t, err, ipam.ErrInvalidPlan)
			require.Contains(t, err.Error(), tc.field)
		})
	}
	// Secondary addresses work on every hypervisor.
	r, err := ipam.MaxPods(m4Large, ipam.ModeSecondaryIPs)
	require.NoError(t, err)
	require.Equal(t, 20, r.MaxPods)
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        ipam.PlanInput
		maxPods   int
		addresses int
		prefixes  int
		bits      int
		usable    int
		report    []string
	}{
		{
			// The guide's example: a /22 holds only 1019 after the 5 reserved.
			name:    "guide secondary",
			in:      ipam.PlanInput{Nodes: 10, MaxPodsPerNode: 110},
			maxPods: 110, addresses: 1320, bits: 21, usable: 2043,
			report: []string{"10 nodes x 110 pods x 1.2 headroom = 1320", "Subnet: /21, 2048 addresses, 2043 usable", "a /22 holds only 1019"},
		},
		{
			// ceil(1320/16) = 83 prefixes; a /22 has 64 /28s, 62 clear of
			// the reserved addresses; a /21 126.
			name:    "guide prefix delegation",
			in:      ipam.PlanInput{Nodes: 10, MaxPodsPerNode: 110, Mode: ipam.ModePrefixDelegation},
			maxPods: 110, addresses: 1320, prefixes: 83, bits: 21, usable: 126 * 16,
			report: []string{"/28 prefixes: 83: ceil(1320 / 16) = 83", "10 nodes x ceil(110 / 16) = 70", "Subnet: /21, 2048 addresses, 126 whole /28 prefixes (2016 addresses)", "a /22 holds only 62"},
		},
		{
			name:    "guide prefix delegation from m5.4xlarge limits",
			in:      ipam.PlanInput{Nodes: 10, Limits: m54XL, Mode: ipam.ModePrefixDelegation},
			maxPods: 110, addresses: 1320, prefixes: 83, bits: 21, usable: 126 * 16,
			report: []string{"Capacity plan: 10 nodes of m5.4xlarge, prefix delegation, headroom 1.2", "Max pods per node: 110\n", "8 ENIs x 29 /28 prefixes", "ec2:UnassignPrivateIpAddresses"},
		},
		{
			// 1000 addresses fit a /22 (1019), but 63 prefixes do not (62).
			name:    "alignment needs a larger subnet",
			in:      ipam.PlanInput{Nodes: 1, MaxPodsPerNode: 1000, Headroom: 1, Mode: ipam.ModePrefixDelegation},
			maxPods: 1000, addresses: 1000, prefixes: 63, bits: 21, usable: 126 * 16,
		},
		{
			name:    "alignment, secondary",
			in:      ipam.PlanInput{Nodes: 1, MaxPodsPerNode: 1000, Headroom: 1},
			maxPods: 1000, addresses: 1000, bits: 22, usable: 1019,
		},
		{
			// 3 nodes x 17 pods x 1.2 = 61.2 -> 62 addresses, 4 prefixes;
			// but each node holds 2 whole prefixes.
			name:    "whole prefixes per node",
			in:      ipam.PlanInput{Nodes: 3, MaxPodsPerNode: 17, Mode: ipam.ModePrefixDelegation},
			maxPods: 17, addresses: 62, prefixes: 6, bits: 25, usable: 6 * 16,
		},
		{
			name:    "m5.large secondary from limits",
			in:      ipam.PlanInput{Nodes: 4, InstanceType: "m5.large", Limits: m5Large},
			maxPods: 29, addresses: 140, bits: 24, usable: 251,
			report: []string{"3 ENIs x 9 secondary addresses", "4 nodes x 29 pods x 1.2 headroom = 140", "ec2:ModifyNetworkInterfaceAttribute"},
		},
		{
			name:    "max pods given below the type's",
			in:      ipam.PlanInput{Nodes: 2, Limits: m54XL, MaxPodsPerNode: 50},
			maxPods: 50, addresses: 120, bits: 25, usable: 123,
			report: []string{"Max pods per node: 50, as given; the instance type's would be 234"},
		},
		{
			name:    "max pods given above the cap",
			in:      ipam.PlanInput{Nodes: 1, Limits: m7gXL, MaxPodsPerNode: 898, Headroom: 1, Mode: ipam.ModePrefixDelegation},
			maxPods: 898, addresses: 898, prefixes: 57, bits: 22, usable: 62 * 16,
		},
		{
			name:    "smallest subnet",
			in:      ipam.PlanInput{Nodes: 1, MaxPodsPerNode: 11, Headroom: 1},
			maxPods: 11, addresses: 11, bits: 28, usable: 11,
		},
		{
			// A /28 has no usable /28: the first block is also the last.
			name:    "smallest subnet with a prefix",
			in:      ipam.PlanInput{Nodes: 1, MaxPodsPerNode: 1, Headroom: 1, Mode: ipam.ModePrefixDelegation},
			maxPods: 1, addresses: 1, prefixes: 1, bits: 26, usable: 2 * 16,
		},
		{
			name:    "largest subnet",
			in:      ipam.PlanInput{Nodes: 1, MaxPodsPerNode: 65531, Headroom: 1},
			maxPods: 65531, addresses: 65531, bits: 16, usable: 65531,
		},
		{
			name:    "headroom rounds up",
			in:      ipam.PlanInput{Nodes: 3, MaxPodsPerNode: 10, Headroom: 1.01},
			maxPods: 10, addresses: 31, bits: 26, usable: 59,
		},
		{
			// 1.1 and 1.2 are not exact in binary: 100 x 1.1 must still
			// be 110, not 111.
			name:    "decimal headroom is exact",
			in:      ipam.PlanInput{Nodes: 10, MaxPodsPerNode: 10, Headroom: 1.1},
			maxPods: 10, addresses: 110, bits: 25, usable: 123,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ipam.Plan(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.maxPods, p.MaxPodsPerNode)
			assert.Equal(t, tc.addresses, p.Addresses)
			assert.Equal(t, tc.prefixes, p.Prefixes)
			assert.Equal(t, tc.bits, p.SubnetBits)
			assert.Equal(t, 1<<(32-tc.bits), p.SubnetSize)
			assert.Equal(t, tc.usable, p.SubnetUsable)
			assert.Equal(t, ipam.IAMActions(tc.in.Mode, tc.in.IAM), p.IAMActions)
			if tc.in.Headroom == 0 {
				assert.Equal(t, ipam.DefaultHeadroom, p.Headroom)
			}
			s := p.String()
			for _, want := range tc.report {
				assert.Contains(t, s, want)
			}
			checkPlan(t, tc.in, p)
		})
	}
}

func TestPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    ipam.PlanInput
		field string
		is    error
	}{
		{"no nodes", ipam.PlanInput{MaxPodsPerNode: 110}, "Nodes", ipam.ErrInvalidPlan},
		{"negative nodes", ipam.PlanInput{Nodes: -1, MaxPodsPerNode: 110}, "Nodes", ipam.ErrInvalidPlan},
		{"undeclared mode", ipam.PlanInput{Nodes: 1, MaxPodsPerNode: 110, Mode: 5}, "Mode", ipam.ErrInvalidPlan},
		{"headroom below 1", ipam.PlanInput{Nodes: 1, MaxPodsPerNode: 110, Headroom: 0.9}, "Headroom", ipam.ErrInvalidPlan},
		{"negative headroom", ipam.PlanInput{Nodes: 1, MaxPodsPerNode: 110, Headroom: -1.2}, "Headroom", ipam.ErrInvalidPlan},
		{"NaN headroom", ipam.PlanInput{Nodes: 1, MaxPodsPerNode: 110, Headroom: math.NaN()}, "Headroom", ipam.ErrInvalidPlan},
		{"infinite headroom", ipam.PlanInput{Nodes: 1, MaxPodsPerNode: 110, Headroom: math.Inf(1)}, "Headroom", ipam.ErrInvalidPlan},
		{"negative max pods", ipam.PlanInput{Nodes: 1, MaxPodsPerNode: -1, Limits: m5Large}, "MaxPodsPerNode", ipam.ErrInvalidPlan},
		{"neither limits nor max pods", ipam.PlanInput{Nodes: 1, InstanceType: "m5.large"}, "Limits", ipam.ErrInvalidPlan},
		{"type disagrees with limits", ipam.PlanInput{Nodes: 1, InstanceType: "m5.xlarge", Limits: m5Large}, "InstanceType", ipam.ErrInvalidPlan},
		{"max pods above what the type holds", ipam.PlanInput{Nodes: 1, Limits: m5Large, MaxPodsPerNode: 30}, "MaxPodsPerNode", ipam.ErrInvalidPlan},
		{"bad limits", ipam.PlanInput{Nodes: 1, Limits: eni.Limits{InstanceType: "x", IPv4PerENI: 10}}, "Limits.MaxENIs", ipam.ErrInvalidPlan},
		{"xen prefix delegation", ipam.PlanInput{Nodes: 1, Limits: m4Large, Mode: ipam.ModePrefixDelegation}, "Mode", ipam.ErrPrefixDelegationNotSupported},
		{"beyond a /16", ipam.PlanInput{Nodes: 1, MaxPodsPerNode: 65532, Headroom: 1}, "Nodes", ipam.ErrNoSubnetFits},
		{"beyond a /16 in prefixes", ipam.PlanInput{Nodes: 4095, MaxPodsPerNode: 1, Headroom: 1, Mode: ipam.ModePrefixDelegation}, "Nodes", ipam.ErrNoSubnetFits},
		{"far beyond", ipam.PlanInput{Nodes: math.MaxInt, MaxPodsPerNode: math.MaxInt, Headroom: math.MaxFloat64}, "Nodes", ipam.ErrNoSubnetFits},
		{"guide at scale", ipam.PlanInput{Nodes: 1000, Limits: m54XL, Mode: ipam.ModePrefixDelegation}, "Nodes", ipam.ErrNoSubnetFits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ipam.Plan(tc.in)
			require.Zero(t, p)
			var pe *ipam.PlanError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.field, pe.Field)
			require.ErrorIs(t, err, tc.is)
			require.ErrorIs(t, err, ipam.ErrInvalidPlan)
			require.NotEmpty(t, pe.Reason)
		})
	}
	// The largest plans that fit, and one more.
	_, err := ipam.Plan(ipam.PlanInput{Nodes: 4094, MaxPodsPerNode: 1, Headroom: 1, Mode: ipam.ModePrefixDelegation})
	require.NoError(t, err)
	_, err = ipam.Plan(ipam.PlanInput{Nodes: 65531, MaxPodsPerNode: 1, Headroom: 1})
	require.NoError(t, err)
	_, err = ipam.Plan(ipam.PlanInput{Nodes: 65531, MaxPodsPerNode: 1, Headroom: 1.000001})
	require.ErrorIs(t, err, ipam.ErrNoSubnetFits)
}

func TestPlanJSON(t *testing.T) {
	p, err := ipam.Plan(ipam.PlanInput{Nodes: 10, Limits: m7gXL, Mode: ipam.ModePrefixDelegation})
	require.NoError(t, err)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.Equal(t, "pd", m["mode"])
	require.EqualValues(t, 21, m["subnet_bits"])
	require.EqualValues(t, 110, m["max_pods_per_node"])
	require.EqualValues(t, 896, m["instance_max_pods"].(map[string]any)["addresses"])

	var back ipam.PlanResult
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, p, back)

	// Without limits, the max-pods section is left out.
	p, err = ipam.Plan(ipam.PlanInput{Nodes: 10, MaxPodsPerNode: 110})
	require.NoError(t, err)
	b, err = json.Marshal(p)
	require.NoError(t, err)
	require.NotContains(t, string(b), "instance_max_pods")
	require.NotContains(t, string(b), "prefixes")
}

func TestIAMActions(t *testing.T) {
	base := []string{
		"ec2:AssignPrivateIpAddresses",
		"ec2:AttachNetworkInterface",
		"ec2:CreateNetworkInterface",
		"ec2:CreateTags",
		"ec2:DeleteNetworkInterface",
		"ec2:DescribeInstanceTypes",
		"ec2:DescribeInstances",
		"ec2:DescribeNetworkInterfaces",
		"ec2:DescribeRouteTables",
		"ec2:DescribeSubnets",
	}
	with := func(extra ...string) []string {
		out := append(append([]string(nil), base...), extra...)
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name string
		m    ipam.Mode
		o    ipam.IAMOptions
		want []string
	}{
		{"secondary, defaults", ipam.ModeSecondaryIPs, ipam.IAMOptions{}, with("ec2:ModifyNetworkInterfaceAttribute")},
		{"secondary, minimal", ipam.ModeSecondaryIPs, ipam.IAMOptions{NoDeleteOnTermination: true}, with()},
		{"pd, defaults", ipam.ModePrefixDelegation, ipam.IAMOptions{}, with("ec2:ModifyNetworkInterfaceAttribute", "ec2:UnassignPrivateIpAddresses")},
		{"secondary, release", ipam.ModeSecondaryIPs, ipam.IAMOptions{ReleaseExcessIPs: true, NoDeleteOnTermination: true},
			with("ec2:DetachNetworkInterface", "ec2:UnassignPrivateIpAddresses")},
		{"secondary, security group tags", ipam.ModeSecondaryIPs, ipam.IAMOptions{SecurityGroupTags: true, NoDeleteOnTermination: true},
			with("ec2:DescribeSecurityGroups")},
		{"undeclared mode", ipam.Mode(9), ipam.IAMOptions{NoDeleteOnTermination: true}, with("ec2:UnassignPrivateIpAddresses")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ipam.IAMActions(tc.m, tc.o)
			require.Equal(t, tc.want, got)
			require.True(t, slices.IsSorted(got))
			require.NotContains(t, got, "ec2:DescribeVpcs")
		})
	}
}

// checkPlan checks the invariants of a successful plan: the subnet holds
// the addresses, counted independently with netip, and one bit smaller
// would not.
func checkPlan(t *testing.T, in ipam.PlanInput, p ipam.PlanResult) {
	t.Helper()
	require.GreaterOrEqual(t, p.SubnetBits, ipam.MinSubnetBits)
	require.LessOrEqual(t, p.SubnetBits, ipam.MaxSubnetBits)
	require.Equal(t, 1<<(32-p.SubnetBits), p.SubnetSize)
	require.GreaterOrEqual(t, p.MaxPodsPerNode, 1)
	if in.MaxPodsPerNode > 0 {
		require.Equal(t, in.MaxPodsPerNode, p.MaxPodsPerNode)
	}
	if in.Limits != (eni.Limits{}) {
		require.LessOrEqual(t, p.MaxPodsPerNode, p.InstanceMaxPods.Addresses+ipam.HostNetworkPods)
	}

	// Addresses = ceil(nodes x pods x headroom), give or take float error.
	pods := p.Nodes * p.MaxPodsPerNode
	require.GreaterOrEqual(t, p.Addresses, pods)
	exact := float64(pods) * p.Headroom
	require.InDelta(t, math.Ceil(exact), float64(p.Addresses), 1+exact*1e-6)

	need, usable := p.Addresses, refUsableAddresses
	if in.Mode == ipam.ModePrefixDelegation {
		require.GreaterOrEqual(t, p.Prefixes*ipam.AddressesPerPrefix, p.Addresses)
		require.Less(t, (p.Prefixes-1)*ipam.AddressesPerPrefix, max(p.Addresses, p.Nodes*roundUp16(p.MaxPodsPerNode)))
		require.GreaterOrEqual(t, p.Prefixes, p.Nodes*roundUp16(p.MaxPodsPerNode)/16)
		need, usable = p.Prefixes, refUsablePrefixes
		require.Equal(t, usable(p.SubnetBits), p.SubnetPrefixes)
		require.Equal(t, p.SubnetPrefixes*16, p.SubnetUsable)
	} else {
		require.Zero(t, p.Prefixes)
		require.Equal(t, usable(p.SubnetBits), p.SubnetUsable)
	}
	require.GreaterOrEqual(t, usable(p.SubnetBits), need, "/%d too small", p.SubnetBits)
	if p.SubnetBits < ipam.MaxSubnetBits {
		require.Less(t, usable(p.SubnetBits+1), need, "/%d is not the smallest", p.SubnetBits)
	}
	require.Contains(t, p.String(), "Subnet: /"+strconv.Itoa(p.SubnetBits)+",")
}

func roundUp16(n int) int { return (n + 15) / 16 * 16 }

// refSubnet is 10.0.0.0 with the given prefix length, and the addresses AWS
// reserves in it: the first four and the last.
func refSubnet(bits int) (netip.Prefix, map[netip.Addr]bool) {
	p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, 0}), bits)
	reserved := map[netip.Addr]bool{}
	a := p.Addr()
	for range 4 {
		reserved[a] = true
		a = a.Next()
	}
	last := p.Addr()
	for n := 1; n < 1<<(32-bits); n++ {
		last = last.Next()
	}
	reserved[last] = true
	return p, reserved
}

// refUsableAddresses counts the addresses of a subnet AWS does not reserve,
// one by one.
func refUsableAddresses(bits int) int {
	p, reserved := refSubnet(bits)
	n := 0
	for a := p.Addr(); p.Contains(a); a = a.Next() {
		if !reserved[a] {
			n++
		}
	}
	return n
}

// refUsablePrefixes counts the aligned /28 blocks of a subnet that hold no
// reserved address.
func refUsablePrefixes(bits int) int {
	p, reserved := refSubnet(bits)
	n := 0
	for a := p.Addr(); p.Contains(a); {
		block := netip.PrefixFrom(a, 28)
		clean := true
		for r := range reserved {
			if block.Contains(r) {
				clean = false
			}
		}
		if clean {
			n++
		}
		for range 16 {
			a = a.Next()
		}
	}
	return n
}

func TestReferenceCounts(t *testing.T) {
	// The guide's figures, counted one address at a time.
	require.Equal(t, 1019, refUsableAddresses(22))
	require.Equal(t, 2043, refUsableAddresses(21))
	require.Equal(t, 62, refUsablePrefixes(22))
	require.Equal(t, 0, refUsablePrefixes(28))
	require.Equal(t, 2, refUsablePrefixes(26))
}

func FuzzPlan(f *testing.F) {
	f.Add(10, 110, 1.2, false, 0, 0, 0, true)
	f.Add(10, 0, 0.0, true, 4, 15, 4, true)
	f.Add(10, 0, 0.0, true, 8, 30, 16, true)
	f.Add(3, 17, 1.2, true, 0, 0, 0, false)
	f.Add(1, 0, 1.0, true, 2, 10, 2, false)
	f.Add(1000, 0, 1.5, false, 15, 50, 96, true)
	f.Add(65531, 1, 1.0, false, 0, 0, 0, true)
	f.Fuzz(func(t *testing.T, nodes, maxPods int, headroom float64, pd bool, enis, ipv4, vcpus int, nitro bool) {
		in := ipam.PlanInput{Nodes: nodes, MaxPodsPerNode: maxPods, Headroom: headroom}
		if pd {
			in.Mode = ipam.ModePrefixDelegation
		}
		if enis != 0 || ipv4 != 0 || vcpus != 0 {
			in.Limits = eni.Limits{InstanceType: "fuzz.large", MaxENIs: enis, IPv4PerENI: ipv4, VCPUs: vcpus, Hypervisor: "xen"}
			if nitro {
				in.Limits.Hypervisor = "nitro"
			}
		}
		p, err := ipam.Plan(in)
		if err != nil {
			require.Zero(t, p)
			var pe *ipam.PlanError
			require.True(t, errors.As(err, &pe), "%T %v", err, err)
			require.ErrorIs(t, err, ipam.ErrInvalidPlan)
			require.NotEmpty(t, pe.Field)
			return
		}
		checkPlan(t, in, p)
		if in.Limits != (eni.Limits{}) {
			mp, err := ipam.MaxPods(in.Limits, in.Mode)
			require.NoError(t, err)
			if pd {
				require.LessOrEqual(t, mp.MaxPods, mp.Cap)
				require.Contains(t, []int{110, 250}, mp.Cap)
			}
			require.Equal(t, mp.ENIs*mp.SlotsPerENI*mp.AddressesPerSlot, mp.Addresses)
		}
	})
}
