package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	eniaws "github.com/eniway/eniway/eni/aws"
	"github.com/eniway/eniway/ipam"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "defaults",
			args: nil,
			want: []string{"Capacity plan: 10 nodes of m5.4xlarge, secondary addresses", "8 ENIs x 29 secondary addresses each", "= 234"},
		},
		{
			name: "the guide's subnet",
			args: []string{"-nodes", "10", "-max-pods", "110", "-instance-type", ""},
			want: []string{"10 nodes x 110 pods x 1.2 headroom = 1320", "Subnet: /21, 2048 addresses, 2043 usable", "a /22 holds only 1019"},
		},
		{
			name: "the guide's subnet with prefix delegation",
			args: []string{"-nodes", "10", "-mode", "pd"},
			want: []string{"8 ENIs x 29 /28 prefixes each", "= 3712 pod addresses", "capped at 110", "/28 prefixes: 83", "Subnet: /21", "a /22 holds only 62"},
		},
		{
			name: "m7g.xlarge with prefix delegation",
			args: []string{"-instance-type", "m7g.xlarge", "-mode", "pd", "-nodes", "1"},
			want: []string{
				"4 ENIs x 14 /28 prefixes each", "= 896 pod addresses", "capped at 110, the vCPU count is unknown",
				`Not "4 ENI x 16 IP/Prefix = 64 pods"`, "an ENI holds 14 /28 prefixes",
			},
		},
		{
			name: "m7g.xlarge with secondary addresses",
			args: []string{"-instance-type", "m7g.xlarge", "-nodes", "1"},
			want: []string{"4 ENIs x 14 secondary addresses each", "= 58"},
		},
		{
			name: "m5.large",
			args: []string{"-instance-type", "m5.large", "-nodes", "1"},
			want: []string{"3 ENIs x 9 secondary addresses each (10 IPv4 addresses per ENI - 1, the ENI's primary) = 27", "= 29"},
		},
		{
			name: "96 vCPUs",
			args: []string{"-instance-type", "m5.24xlarge", "-vcpus", "96", "-mode", "pd", "-nodes", "1"},
			want: []string{"capped at 250, the cap above 30 vCPUs (m5.24xlarge has 96)"},
		},
		{
			name: "IAM options",
			args: []string{"-release-excess-ips", "-security-group-tags", "-no-delete-on-termination"},
			want: []string{"ec2:DetachNetworkInterface", "ec2:DescribeSecurityGroups"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			require.NoError(t, run(tc.args, &out))
			for _, w := range tc.want {
				require.Contains(t, out.String(), w)
			}
		})
	}
}

func TestRunJSON(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run([]string{"-instance-type", "m7g.xlarge", "-mode", "pd", "-json"}, &out))
	var p ipam.PlanResult
	d := json.NewDecoder(strings.NewReader(out.String()))
	d.DisallowUnknownFields()
	require.NoError(t, d.Decode(&p))
	require.Equal(t, ipam.ModePrefixDelegation, p.Mode)
	require.Equal(t, 896, p.InstanceMaxPods.Addresses)
	require.Equal(t, 110, p.MaxPodsPerNode)
	require.Equal(t, 1320, p.Addresses)
	require.Equal(t, 21, p.SubnetBits)
}

func TestRunErrors(t *testing.T) {
	var out strings.Builder
	err := run([]string{"-instance-type", "m5.4xlargx"}, &out)
	require.ErrorContains(t, err, `-instance-type "m5.4xlargx": not in eni's snapshot table`)
	require.ErrorContains(t, err, "m5.4xlarge")
	require.ErrorContains(t, run([]string{"-instance-type", "zz9.huge"}, &out), "not in eni's snapshot table")

	err = run([]string{"-mode", "eni"}, &out)
	require.ErrorIs(t, err, ipam.ErrInvalidMode)
	err = run([]string{"-instance-type", "m4.large", "-mode", "pd"}, &out)
	require.ErrorIs(t, err, ipam.ErrPrefixDelegationNotSupported)
	err = run([]string{"-instance-type", "m5.large", "-max-pods", "110"}, &out)
	var pe *ipam.PlanError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "MaxPodsPerNode", pe.Field)
	err = run([]string{"-nodes", "0"}, &out)
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "Nodes", pe.Field)
	err = run([]string{"-instance-type", "", "-max-pods", "0"}, &out)
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "Limits", pe.Field)
	require.Error(t, run([]string{"-nodes", "x"}, &out))
	require.Error(t, run([]string{"extra"}, &out))
}

// The planner lists the IAM actions as data (package ipam cannot import
// eni/aws); the union over every configuration must be exactly what
// eni/aws calls.
func TestIAMActionsMatchAWSBackend(t *testing.T) {
	var union []string
	for _, m := range []ipam.Mode{ipam.ModeSecondaryIPs, ipam.ModePrefixDelegation} {
		for _, release := range []bool{false, true} {
			for _, sgTags := range []bool{false, true} {
				for _, noDoT := range []bool{false, true} {
					got := ipam.IAMActions(m, ipam.IAMOptions{ReleaseExcessIPs: release, SecurityGroupTags: sgTags, NoDeleteOnTermination: noDoT})
					require.Subset(t, eniaws.IAMActions(), got)
					union = append(union, got...)
				}
			}
		}
	}
	slices.Sort(union)
	require.Equal(t, eniaws.IAMActions(), slices.Compact(union))
}

// The tests of package ipam use these limits; the snapshot must agree (its
// vCPU counts may be unknown, 0).
func TestSnapshotAgreesWithPlannerTests(t *testing.T) {
	for _, want := range []eni.Limits{
		{InstanceType: "m5.large", MaxENIs: 3, IPv4PerENI: 10, IPv6PerENI: 10, Hypervisor: "nitro", VCPUs: 2},
		{InstanceType: "m7g.xlarge", MaxENIs: 4, IPv4PerENI: 15, IPv6PerENI: 15, Hypervisor: "nitro", VCPUs: 4},
		{InstanceType: "m5.4xlarge", MaxENIs: 8, IPv4PerENI: 30, IPv6PerENI: 30, Hypervisor: "nitro", VCPUs: 16},
		{InstanceType: "m5.24xlarge", MaxENIs: 15, IPv4PerENI: 50, IPv6PerENI: 50, Hypervisor: "nitro", VCPUs: 96},
		{InstanceType: "m5.metal", MaxENIs: 15, IPv4PerENI: 50, IPv6PerENI: 50, BareMetal: true, VCPUs: 96},
		{InstanceType: "m4.large", MaxENIs: 2, IPv4PerENI: 10, IPv6PerENI: 10, Hypervisor: "xen", VCPUs: 2},
		{InstanceType: "t3.nano", MaxENIs: 2, IPv4PerENI: 2, IPv6PerENI: 2, Hypervisor: "nitro", VCPUs: 2},
	} {
		got, ok := eni.SnapshotLimits(want.InstanceType)
		require.True(t, ok, want.InstanceType)
		if got.VCPUs == 0 {
			want.VCPUs = 0
		}
		require.Equal(t, want, got)
	}
	require.Contains(t, eni.SnapshotTypes(), "m7g.xlarge")
}
