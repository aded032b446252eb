package ipam_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/ipam"
)

// Max pods of an m7g.xlarge (4 ENIs of 15 IPv4 addresses, 4 vCPUs): with
// prefix delegation it holds 896 pod addresses and is capped at 110 pods,
// not the 64 a widely read guide gives; with secondary addresses, 58.
// (eni.SnapshotLimits("m7g.xlarge") gives the limits, with VCPUs 0.)
func ExampleMaxPods() {
	l := eni.Limits{InstanceType: "m7g.xlarge", MaxENIs: 4, IPv4PerENI: 15, Hypervisor: "nitro", VCPUs: 4}
	pd, err := ipam.MaxPods(l, ipam.ModePrefixDelegation)
	if err != nil {
		panic(err)
	}
	fmt.Println(pd.Explanation)
	sec, err := ipam.MaxPods(l, ipam.ModeSecondaryIPs)
	if err != nil {
		panic(err)
	}
	fmt.Println(sec.MaxPods)
	// Output:
	// m7g.xlarge, prefix delegation: 110 max pods
	//   4 ENIs x 14 /28 prefixes each (15 IPv4 slots per ENI - 1 for the ENI's primary address) x 16 addresses per /28 = 896 pod addresses
	//   896 + 2 host-network pods, which take no pod address = 898
	//   capped at 110, the cap for up to 30 vCPUs (m7g.xlarge has 4) = 110 max pods
	//   Not "4 ENI x 16 IP/Prefix = 64 pods", the guide's count: 16 is the size of one /28, not what an ENI holds; an ENI holds 14 /28 prefixes (IPv4PerENI - 1, one per secondary address slot), 224 addresses
	// 58
}

// The guide's example: 10 nodes of 110 pods with 20% headroom need 1320
// addresses, a /21, since a /22 holds only 1019 after the 5 addresses AWS
// reserves.
func ExamplePlan() {
	p, err := ipam.Plan(ipam.PlanInput{Nodes: 10, MaxPodsPerNode: 110})
	if err != nil {
		panic(err)
	}
	fmt.Print(p)
	// Output:
	// Capacity plan: 10 nodes, secondary addresses, headroom 1.2
	//
	// Max pods per node: 110, as given
	//
	// Addresses: 10 nodes x 110 pods x 1.2 headroom = 1320 (rounded up)
	// Subnet: /21, 2048 addresses, 2043 usable after the 5 AWS reserves (network, VPC router, DNS, future use, broadcast)
	//   a /22 holds only 1019
	//   Not counted: each ENI's primary address, from the same subnet; the headroom must cover it.
	//
	// IAM actions (secondary addresses):
	//   ec2:AssignPrivateIpAddresses
	//   ec2:AttachNetworkInterface
	//   ec2:CreateNetworkInterface
	//   ec2:CreateTags
	//   ec2:DeleteNetworkInterface
	//   ec2:DescribeInstanceTypes
	//   ec2:DescribeInstances
	//   ec2:DescribeNetworkInterfaces
	//   ec2:DescribeRouteTables
	//   ec2:DescribeSubnets
	//   ec2:ModifyNetworkInterfaceAttribute
}

// The same cluster of m5.4xlarge nodes with prefix delegation: 83 /28
// prefixes, which also fit a /21 (126 whole /28s; a /22 has 62).
func ExamplePlan_prefixDelegation() {
	m54xlarge := eni.Limits{InstanceType: "m5.4xlarge", MaxENIs: 8, IPv4PerENI: 30, Hypervisor: "nitro", VCPUs: 16}
	p, err := ipam.Plan(ipam.PlanInput{Nodes: 10, Limits: m54xlarge, Mode: ipam.ModePrefixDelegation})
	if err != nil {
		panic(err)
	}
	fmt.Printf("max pods %d of %d addresses, %d addresses in %d prefixes: /%d with %d whole /28s\n",
		p.MaxPodsPerNode, p.InstanceMaxPods.Addresses, p.Addresses, p.Prefixes, p.SubnetBits, p.SubnetPrefixes)
	// Output:
	// max pods 110 of 3712 addresses, 1320 addresses in 83 prefixes: /21 with 126 whole /28s
}

// Errors name the field at fault.
func ExamplePlanError() {
	m4large := eni.Limits{InstanceType: "m4.large", MaxENIs: 2, IPv4PerENI: 10, Hypervisor: "xen"}
	_, err := ipam.Plan(ipam.PlanInput{Nodes: 3, Limits: m4large, Mode: ipam.ModePrefixDelegation})
	var pe *ipam.PlanError
	if errors.As(err, &pe) {
		fmt.Println(pe.Field, errors.Is(err, ipam.ErrPrefixDelegationNotSupported))
	}
	// Output:
	// Mode true
}

// The IAM actions of a configuration. The union over all configurations is
// what eni/aws calls; ec2:DescribeVpcs, which Cilium needs, is not among
// them.
func ExampleIAMActions() {
	fmt.Println(strings.Join(ipam.IAMActions(ipam.ModePrefixDelegation, ipam.IAMOptions{
		ReleaseExcessIPs:  true,
		SecurityGroupTags: true,
	}), "\n"))
	// Output:
	// ec2:AssignPrivateIpAddresses
	// ec2:AttachNetworkInterface
	// ec2:CreateNetworkInterface
	// ec2:CreateTags
	// ec2:DeleteNetworkInterface
	// ec2:DescribeInstanceTypes
	// ec2:DescribeInstances
	// ec2:DescribeNetworkInterfaces
	// ec2:DescribeRouteTables
	// ec2:DescribeSecurityGroups
	// ec2:DescribeSubnets
	// ec2:DetachNetworkInterface
	// ec2:ModifyNetworkInterfaceAttribute
	// ec2:UnassignPrivateIpAddresses
}
