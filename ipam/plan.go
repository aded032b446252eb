package ipam

import (
	"fmt"
	"math"
	"strings"

	"github.com/eniway/eniway/eni"
)

// The capacity planner: pure functions of their arguments, with no I/O, no
// logging and no goroutines. MaxPods gives an instance type's max pods with
// the arithmetic spelled out, Plan the addresses a cluster needs and the
// smallest subnet that holds them, IAMActions the EC2 actions a
// configuration calls. go run ./examples/ipam-plan prints them.

// Mode is how a node's interfaces hold pod addresses. The zero Mode is
// ModeSecondaryIPs.
type Mode int

const (
	// ModeSecondaryIPs: each pod address is a secondary private IPv4
	// address of one of the node's interfaces ("secondary").
	ModeSecondaryIPs Mode = iota
	// ModePrefixDelegation: the interfaces hold /28 IPv4 prefixes of 16
	// addresses, each in the slot of one secondary address ("pd"). Nitro
	// and bare-metal instance types only.
	ModePrefixDelegation
)

// String returns "secondary", "pd", or "Mode(n)" for a value that is
// neither.
func (m Mode) String() string {
	switch m {
	case ModeSecondaryIPs:
		return "secondary"
	case ModePrefixDelegation:
		return "pd"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode returns the Mode String names: "secondary" or "pd". Anything
// else is an error wrapping ErrInvalidMode.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "secondary":
		return ModeSecondaryIPs, nil
	case "pd":
		return ModePrefixDelegation, nil
	}
	return 0, fmt.Errorf("ipam: parse mode %q: want secondary or pd: %w", s, ErrInvalidMode)
}

// MarshalText encodes m as its String; a Mode that is neither declared
// mode is an error wrapping ErrInvalidMode.
func (m Mode) MarshalText() ([]byte, error) {
	if !m.valid() {
		return nil, fmt.Errorf("ipam: marshal %v: %w", m, ErrInvalidMode)
	}
	return []byte(m.String()), nil
}

// UnmarshalText decodes what MarshalText encodes (see ParseMode).
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

func (m Mode) valid() bool { return m == ModeSecondaryIPs || m == ModePrefixDelegation }

// describe names the mode in prose.
func (m Mode) describe() string {
	if m == ModePrefixDelegation {
		return "prefix delegation"
	}
	return "secondary addresses"
}

const (
	// AddressesPerPrefix is the number of addresses in a /28 prefix.
	AddressesPerPrefix = 16
	// HostNetworkPods is the +2 of the max-pods formulas: pods on the host
	// network (EKS counts its CNI agent and kube-proxy), which take no
	// address from the pool but count against the node's max pods.
	HostNetworkPods = 2
	// SubnetReservedAddresses is the number of addresses AWS reserves in
	// every subnet: the first four (network, VPC router, DNS, future use)
	// and the last (broadcast).
	SubnetReservedAddresses = 5
	// DefaultHeadroom is the guide's rule: plan 20% more addresses than
	// pods.
	DefaultHeadroom = 1.2
	// MinSubnetBits and MaxSubnetBits bound the prefix length of a VPC
	// subnet: /16 is the largest EC2 allows, /28 the smallest.
	MinSubnetBits = 16
	MaxSubnetBits = 28
)

// The max-pods cap under prefix delegation: 110 pods for instance types with
// up to capVCPUs vCPUs, 250 above (EKS's max-pods calculator).
const (
	capSmall = 110
	capLarge = 250
	capVCPUs = 30
)

// Bounds that keep the arithmetic far from overflow; real instance types
// have at most a few dozen interfaces of at most 50 addresses.
const (
	maxLimit = 1 << 10
	maxVCPUs = 1 << 20
)

// MaxPodsResult is an instance type's max pods in a mode, with the
// arithmetic behind it.
type MaxPodsResult struct {
	// InstanceType is the type's name, as the limits gave it.
	InstanceType string `json:"instance_type,omitempty"`
	// Mode is the mode computed for.
	Mode Mode `json:"mode"`
	// ENIs is the number of interfaces the type attaches (Limits.MaxENIs).
	ENIs int `json:"enis"`
	// SlotsPerENI is the secondary addresses, or /28 prefixes, one
	// interface holds: Limits.IPv4PerENI - 1, the primary address taking
	// the other slot.
	SlotsPerENI int `json:"slots_per_eni"`
	// AddressesPerSlot is 1 with secondary addresses, 16 (a /28) with
	// prefix delegation.
	AddressesPerSlot int `json:"addresses_per_slot"`
	// Addresses is the pod addresses the type can hold:
	// ENIs x SlotsPerENI x AddressesPerSlot.
	Addresses int `json:"addresses"`
	// Cap is the max-pods cap under prefix delegation: 110 up to 30 vCPUs,
	// 250 above. 0 with secondary addresses, which are not capped.
	Cap int `json:"cap,omitempty"`
	// VCPUs is the type's vCPU count; 0 means unknown.
	VCPUs int `json:"vcpus,omitempty"`
	// CapAssumed reports that the vCPU count was unknown, so Cap (110)
	// assumes at most 30 vCPUs.
	CapAssumed bool `json:"cap_assumed,omitempty"`
	// MaxPods is Addresses + HostNetworkPods, at most Cap when there is
	// one.
	MaxPods int `json:"max_pods"`
	// Explanation lists the arithmetic in prose, one step a line.
	Explanation string `json:"explanation"`
}

// MaxPods returns the max pods of an instance type with limits l in mode m:
//
//	secondary addresses   ENIs x (IPv4PerENI - 1) + 2
//	prefix delegation     ENIs x (IPv4PerENI - 1) x 16 + 2, capped at 110 up to 30 vCPUs, 250 above
//
// The +2 is for host-network pods, which take no pod address. With prefix
// delegation each /28 takes the slot of one secondary address, so an ENI
// holds IPv4PerENI - 1 prefixes of 16 addresses: m7g.xlarge (4 ENIs of 15)
// holds 4 x 14 x 16 = 896 addresses and, with 4 vCPUs, is capped at 110
// pods, not the "4 ENI x 16 IP/Prefix = 64 pods" a widely read guide gives;
// the Explanation says so. When l.VCPUs is 0 (unknown) the cap is 110 and
// CapAssumed is set. Secondary addresses are not capped: the interface
// limits are the bound (m5.24xlarge: 15 x 49 + 2 = 737).
//
// Errors are a *PlanError naming the field, wrapping ErrInvalidPlan: an
// undeclared mode, limits out of range (MaxENIs from 1 and IPv4PerENI from
// 2, both up to 1024; VCPUs from 0), and ErrPrefixDelegationNotSupported
// for prefix delegation on a type that is neither Nitro nor bare metal.
func MaxPods(l eni.Limits, m Mode) (MaxPodsResult, error) {
	if err := checkMaxPodsInput(l, m); err != nil {
		return MaxPodsResult{}, err
	}
	r := MaxPodsResult{
		InstanceType:     l.InstanceType,
		Mode:             m,
		ENIs:             l.MaxENIs,
		SlotsPerENI:      l.MaxSecondaryIPv4(),
		AddressesPerSlot: 1,
		VCPUs:            l.VCPUs,
	}
	if m == ModePrefixDelegation {
		r.AddressesPerSlot = AddressesPerPrefix
	}
	r.Addresses = r.ENIs * r.SlotsPerENI * r.AddressesPerSlot
	r.MaxPods = r.Addresses + HostNetworkPods
	if m == ModePrefixDelegation {
		r.Cap = capSmall
		if l.VCPUs > capVCPUs {
			r.Cap = capLarge
		}
		r.CapAssumed = l.VCPUs == 0
		r.MaxPods = min(r.MaxPods, r.Cap)
	}
	r.Explanation = r.explain()
	return r, nil
}

func checkMaxPodsInput(l eni.Limits, m Mode) error {
	switch {
	case !m.valid():
		return &PlanError{Field: "Mode", Reason: fmt.Sprintf("%v is not a declared mode", m)}
	case l.MaxENIs < 1 || l.MaxENIs > maxLimit:
		return &PlanError{Field: "Limits.MaxENIs", Reason: fmt.Sprintf("%d is not from 1 to %d", l.MaxENIs, maxLimit)}
	case l.IPv4PerENI < 2 || l.IPv4PerENI > maxLimit:
		return &PlanError{Field: "Limits.IPv4PerENI", Reason: fmt.Sprintf("%d is not from 2 (a primary and one secondary address) to %d", l.IPv4PerENI, maxLimit)}
	case l.VCPUs < 0 || l.VCPUs > maxVCPUs:
		return &PlanError{Field: "Limits.VCPUs", Reason: fmt.Sprintf("%d is not from 0 (unknown) to %d", l.VCPUs, maxVCPUs)}
	case m == ModePrefixDelegation && !l.PrefixDelegation():
		hv := fmt.Sprintf("runs on the %q hypervisor", l.Hypervisor)
		if l.Hypervisor == "" {
			hv = "has no hypervisor given"
		}
		return &PlanError{
			Field:  "Mode",
			Reason: fmt.Sprintf("%s %s and is not bare metal: prefix delegation needs a Nitro or bare-metal instance type", typeName(l.InstanceType), hv),
			Err:    ErrPrefixDelegationNotSupported,
		}
	}
	return nil
}

// typeName names an instance type in prose.
func typeName(t string) string {
	if t == "" {
		return "the instance type"
	}
	return t
}

func (r MaxPodsResult) explain() string {
	var b strings.Builder
	name := typeName(r.InstanceType)
	fmt.Fprintf(&b, "%s, %s: %d max pods\n", name, r.Mode.describe(), r.MaxPods)
	ipv4 := r.SlotsPerENI + 1
	if r.Mode == ModePrefixDelegation {
		fmt.Fprintf(&b, "  %d ENIs x %d /28 prefixes each (%d IPv4 slots per ENI - 1 for the ENI's primary address) x %d addresses per /28 = %d pod addresses\n",
			r.ENIs, r.SlotsPerENI, ipv4, AddressesPerPrefix, r.Addresses)
	} else {
		fmt.Fprintf(&b, "  %d ENIs x %d secondary addresses each (%d IPv4 addresses per ENI - 1, the ENI's primary) = %d pod addresses\n",
			r.ENIs, r.SlotsPerENI, ipv4, r.Addresses)
	}
	sum := r.Addresses + HostNetworkPods
	fmt.Fprintf(&b, "  %d + %d host-network pods, which take no pod address = %d", r.Addresses, HostNetworkPods, sum)
	if r.Mode != ModePrefixDelegation {
		return b.String()
	}
	var why string
	switch {
	case r.CapAssumed:
		why = fmt.Sprintf("the vCPU count is unknown, so this assumes at most %d vCPUs (above, the cap is %d)", capVCPUs, capLarge)
	case r.Cap == capSmall:
		why = fmt.Sprintf("the cap for up to %d vCPUs (%s has %d)", capVCPUs, name, r.VCPUs)
	default:
		why = fmt.Sprintf("the cap above %d vCPUs (%s has %d)", capVCPUs, name, r.VCPUs)
	}
	if sum > r.Cap {
		fmt.Fprintf(&b, "\n  capped at %d, %s = %d max pods", r.Cap, why, r.MaxPods)
	} else {
		fmt.Fprintf(&b, "\n  under the cap of %d, %s", r.Cap, why)
	}
	if r.SlotsPerENI != 1 {
		wrong := r.ENIs * AddressesPerPrefix
		fmt.Fprintf(&b, "\n  Not \"%d ENI x 16 IP/Prefix = %d pods\", the guide's count: 16 is the size of one /28, not what an ENI holds;"+
			" an ENI holds %d /28 prefixes (IPv4PerENI - 1, one per secondary address slot), %d addresses",
			r.ENIs, wrong, r.SlotsPerENI, r.SlotsPerENI*AddressesPerPrefix)
	}
	return b.String()
}

// PlanInput describes a cluster, or a node group, to plan addresses for.
type PlanInput struct {
	// Nodes is the number of nodes, at least 1.
	Nodes int
	// InstanceType names the nodes' instance type; "" takes
	// Limits.InstanceType. When both are set they must agree.
	InstanceType string
	// Limits are the instance type's limits (eni.SnapshotLimits or
	// DescribeInstanceTypes). They may be zero only when MaxPodsPerNode is
	// set.
	Limits eni.Limits
	// Mode is how the nodes hold pod addresses.
	Mode Mode
	// MaxPodsPerNode is the nodes' max pods (kubelet's --max-pods); 0 takes
	// MaxPods(Limits, Mode). With limits given it may not exceed the pod
	// addresses the type can hold plus the host-network pods; it may exceed
	// the prefix-delegation cap, which is a recommendation.
	MaxPodsPerNode int
	// Headroom multiplies the addresses pods need: 0 means DefaultHeadroom
	// (1.2, the guide's rule); otherwise at least 1, used to 6 decimal
	// places.
	Headroom float64
	// IAM is the configuration IAMActions lists the EC2 actions of.
	IAM IAMOptions
}

// PlanResult is a capacity plan. Its String is a readable report; it
// encodes to JSON with snake_case keys.
type PlanResult struct {
	// Nodes, InstanceType and Mode are the input's; Headroom is the
	// headroom used (DefaultHeadroom for 0).
	Nodes        int     `json:"nodes"`
	InstanceType string  `json:"instance_type,omitempty"`
	Mode         Mode    `json:"mode"`
	Headroom     float64 `json:"headroom"`
	// InstanceMaxPods is MaxPods(Limits, Mode); zero when no limits were
	// given.
	InstanceMaxPods MaxPodsResult `json:"instance_max_pods,omitzero"`
	// MaxPodsPerNode is the max pods planned for: PlanInput.MaxPodsPerNode,
	// or InstanceMaxPods.MaxPods.
	MaxPodsPerNode int `json:"max_pods_per_node"`
	// MaxPodsGiven reports that MaxPodsPerNode came from the input.
	MaxPodsGiven bool `json:"max_pods_given,omitempty"`
	// Addresses is ceil(Nodes x MaxPodsPerNode x Headroom): the guide's
	// rule, which counts the host-network pods too.
	Addresses int `json:"addresses"`
	// Prefixes, with prefix delegation, is the /28 prefixes those
	// addresses take: ceil(Addresses / 16), and at least
	// Nodes x ceil(MaxPodsPerNode / 16), since a node holds whole prefixes.
	Prefixes int `json:"prefixes,omitempty"`
	// SubnetBits is the prefix length of the smallest subnet that holds
	// them (MinSubnetBits to MaxSubnetBits).
	SubnetBits int `json:"subnet_bits"`
	// SubnetSize is 2^(32 - SubnetBits).
	SubnetSize int `json:"subnet_size"`
	// SubnetPrefixes, with prefix delegation, is the aligned /28 blocks of
	// the subnet clear of the reserved addresses: all but the first (which
	// holds the four reserved at the start) and the last (which holds the
	// broadcast address).
	SubnetPrefixes int `json:"subnet_prefixes,omitempty"`
	// SubnetUsable is the pod addresses the subnet holds:
	// SubnetSize - 5 with secondary addresses, SubnetPrefixes x 16 with
	// prefix delegation.
	SubnetUsable int `json:"subnet_usable"`
	// IAMActions are IAMActions(Mode, PlanInput.IAM).
	IAMActions []string `json:"iam_actions"`
}

// Plan sizes the addresses of in.Nodes nodes by the guide's rule, total =
// nodes x max pods x headroom rounded up, and finds the smallest subnet
// (the longest prefix, /16 to /28) that holds them:
//
//   - with secondary addresses, a subnet of 2^(32-bits) addresses holds
//     2^(32-bits) - 5 after the 5 AWS reserves: 10 nodes x 110 pods x 1.2 =
//     1320 addresses need a /21, since a /22 holds only 1019;
//   - with prefix delegation, pods get aligned /28 blocks, and the first
//     and the last /28 of a subnet hold reserved addresses, so a subnet
//     holds 2^(28-bits) - 2 usable prefixes (none in a /28); the subnet must
//     hold ceil(total / 16) of them, and at least nodes x ceil(max pods /
//     16), since each node holds whole prefixes.
//
// Not counted: the primary address of each ENI, which EC2 takes from the
// same subnet (the headroom is meant to cover it). With prefix delegation
// EC2 may place those addresses inside otherwise free /28 blocks; a subnet
// CIDR reservation for prefixes, or a separate subnet for the nodes' primary
// interfaces, keeps the blocks whole.
//
// Errors are a *PlanError naming the field, wrapping ErrInvalidPlan: those
// of MaxPods, invalid Nodes, Headroom, MaxPodsPerNode or InstanceType,
// limits missing without MaxPodsPerNode, and ErrNoSubnetFits (field Nodes)
// when not even a /16 holds the addresses. On error the result is zero.
func Plan(in PlanInput) (PlanResult, error) {
	p := PlanResult{Nodes: in.Nodes, InstanceType: in.InstanceType, Mode: in.Mode, Headroom: in.Headroom}
	if p.Headroom == 0 {
		p.Headroom = DefaultHeadroom
	}
	switch {
	case in.Nodes < 1:
		return PlanResult{}, &PlanError{Field: "Nodes", Reason: fmt.Sprintf("%d is not at least 1", in.Nodes)}
	case !in.Mode.valid():
		return PlanResult{}, &PlanError{Field: "Mode", Reason: fmt.Sprintf("%v is not a declared mode", in.Mode)}
	case math.IsNaN(p.Headroom) || math.IsInf(p.Headroom, 0) || p.Headroom < 1:
		return PlanResult{}, &PlanError{Field: "Headroom", Reason: fmt.Sprintf("%g is not a finite number of at least 1 (0 means %g)", in.Headroom, DefaultHeadroom)}
	case in.MaxPodsPerNode < 0:
		return PlanResult{}, &PlanError{Field: "MaxPodsPerNode", Reason: fmt.Sprintf("%d is negative (0 means the instance type's max pods)", in.MaxPodsPerNode)}
	case in.InstanceType != "" && in.Limits.InstanceType != "" && in.InstanceType != in.Limits.InstanceType:
		return PlanResult{}, &PlanError{Field: "InstanceType", Reason: fmt.Sprintf("%q, but the limits are those of %q", in.InstanceType, in.Limits.InstanceType)}
	}
	if p.InstanceType == "" {
		p.InstanceType = in.Limits.InstanceType
	}

	p.MaxPodsPerNode, p.MaxPodsGiven = in.MaxPodsPerNode, in.MaxPodsPerNode > 0
	if in.Limits != (eni.Limits{}) {
		l := in.Limits
		l.InstanceType = p.InstanceType
		mp, err := MaxPods(l, in.Mode)
		if err != nil {
			return PlanResult{}, err
		}
		p.InstanceMaxPods = mp
		if hold := mp.Addresses + HostNetworkPods; p.MaxPodsPerNode > hold {
			return PlanResult{}, &PlanError{Field: "MaxPodsPerNode", Reason: fmt.Sprintf(
				"%d, but %s holds %d pod addresses with %s, enough for %d pods with the %d host-network pods",
				p.MaxPodsPerNode, typeName(p.InstanceType), mp.Addresses, in.Mode.describe(), hold, HostNetworkPods)}
		}
		if !p.MaxPodsGiven {
			p.MaxPodsPerNode = mp.MaxPods
		}
	} else if !p.MaxPodsGiven {
		return PlanResult{}, &PlanError{Field: "Limits", Reason: "zero: give the instance type's limits, or MaxPodsPerNode"}
	}

	// The largest subnet holds fewer than 2^16 addresses; anything above
	// twice that is refused before the exact integer arithmetic below,
	// which then cannot overflow.
	const bound = 2 << (32 - MinSubnetBits)
	if approx := float64(p.Nodes) * float64(p.MaxPodsPerNode) * p.Headroom; approx > bound {
		return PlanResult{}, p.tooLarge(fmt.Sprintf("about %.0f addresses", approx))
	}
	micro := int64(math.Round(p.Headroom * 1e6))
	p.Addresses = int((int64(p.Nodes)*int64(p.MaxPodsPerNode)*micro + 999_999) / 1_000_000)

	need, fits := p.Addresses, subnetHolds
	if p.Mode == ModePrefixDelegation {
		perNode := p.Nodes * ceilDiv(p.MaxPodsPerNode, AddressesPerPrefix)
		p.Prefixes = max(ceilDiv(p.Addresses, AddressesPerPrefix), perNode)
		need, fits = p.Prefixes, subnetPrefixes
	}
	if fits(MinSubnetBits) < need {
		what := fmt.Sprintf("%d addresses", p.Addresses)
		if p.Mode == ModePrefixDelegation {
			what += fmt.Sprintf(" in %d /28 prefixes", p.Prefixes)
		}
		return PlanResult{}, p.tooLarge(what)
	}
	p.SubnetBits = MaxSubnetBits
	for fits(p.SubnetBits) < need {
		p.SubnetBits--
	}
	p.SubnetSize = 1 << (32 - p.SubnetBits)
	p.SubnetUsable = subnetHolds(p.SubnetBits)
	if p.Mode == ModePrefixDelegation {
		p.SubnetPrefixes = subnetPrefixes(p.SubnetBits)
		p.SubnetUsable = p.SubnetPrefixes * AddressesPerPrefix
	}
	p.IAMActions = IAMActions(p.Mode, in.IAM)
	return p, nil
}

// tooLarge is the error for a plan no subnet holds; need says how much it
// needs.
func (p PlanResult) tooLarge(need string) error {
	holds := fmt.Sprintf("%d addresses", subnetHolds(MinSubnetBits))
	if p.Mode == ModePrefixDelegation {
		holds = fmt.Sprintf("%d usable /28 prefixes", subnetPrefixes(MinSubnetBits))
	}
	return &PlanError{
		Field: "Nodes",
		Reason: fmt.Sprintf("%d nodes x %d pods x %g headroom need %s, more than the largest subnet, a /%d of %s, holds: spread the nodes over several subnets",
			p.Nodes, p.MaxPodsPerNode, p.Headroom, need, MinSubnetBits, holds),
		Err: ErrNoSubnetFits,
	}
}

// subnetHolds returns the addresses a subnet with prefix length bits holds
// after the 5 AWS reserves.
func subnetHolds(bits int) int { return 1<<(32-bits) - SubnetReservedAddresses }

// subnetPrefixes returns the aligned /28 blocks of a subnet with prefix
// length bits that hold no reserved address: the first block holds the
// four reserved at the start and the last one the broadcast address (in a
// /28 they are the same block).
func subnetPrefixes(bits int) int { return max(1<<(28-bits)-2, 0) }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// String is a readable report of the plan: the max-pods arithmetic, the
// addresses, the subnet and the IAM actions.
func (p PlanResult) String() string {
	var b strings.Builder
	mode := p.Mode.describe()
	if p.InstanceType != "" {
		fmt.Fprintf(&b, "Capacity plan: %d nodes of %s, %s, headroom %g\n", p.Nodes, p.InstanceType, mode, p.Headroom)
	} else {
		fmt.Fprintf(&b, "Capacity plan: %d nodes, %s, headroom %g\n", p.Nodes, mode, p.Headroom)
	}

	b.WriteString("\nMax pods per node: ")
	switch {
	case p.MaxPodsGiven && p.InstanceMaxPods.MaxPods > 0:
		fmt.Fprintf(&b, "%d, as given; the instance type's would be %d:\n", p.MaxPodsPerNode, p.InstanceMaxPods.MaxPods)
	case p.MaxPodsGiven:
		fmt.Fprintf(&b, "%d, as given\n", p.MaxPodsPerNode)
	default:
		fmt.Fprintf(&b, "%d\n", p.MaxPodsPerNode)
	}
	if p.InstanceMaxPods.MaxPods > 0 {
		for line := range strings.SplitSeq(p.InstanceMaxPods.Explanation, "\n") {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}

	fmt.Fprintf(&b, "\nAddresses: %d nodes x %d pods x %g headroom = %d (rounded up)\n", p.Nodes, p.MaxPodsPerNode, p.Headroom, p.Addresses)
	if p.Mode == ModePrefixDelegation {
		fmt.Fprintf(&b, "/28 prefixes: %d: ceil(%d / %d) = %d; a node holds whole prefixes, %d nodes x ceil(%d / %d) = %d\n",
			p.Prefixes, p.Addresses, AddressesPerPrefix, ceilDiv(p.Addresses, AddressesPerPrefix),
			p.Nodes, p.MaxPodsPerNode, AddressesPerPrefix, p.Nodes*ceilDiv(p.MaxPodsPerNode, AddressesPerPrefix))
		fmt.Fprintf(&b, "Subnet: /%d, %d addresses, %d whole /28 prefixes (%d addresses) clear of the 5 AWS reserves (the first /28 holds 4 of them, the last one the broadcast address)\n",
			p.SubnetBits, p.SubnetSize, p.SubnetPrefixes, p.SubnetUsable)
		if p.SubnetBits < MaxSubnetBits {
			fmt.Fprintf(&b, "  a /%d holds only %d\n", p.SubnetBits+1, subnetPrefixes(p.SubnetBits+1))
		}
		b.WriteString("  Not counted: each ENI's primary address, from the same subnet, which EC2 may place inside a free /28;\n" +
			"  a subnet CIDR reservation for prefixes, or a separate subnet for the nodes, keeps the /28s whole.\n")
	} else {
		fmt.Fprintf(&b, "Subnet: /%d, %d addresses, %d usable after the 5 AWS reserves (network, VPC router, DNS, future use, broadcast)\n",
			p.SubnetBits, p.SubnetSize, p.SubnetUsable)
		if p.SubnetBits < MaxSubnetBits {
			fmt.Fprintf(&b, "  a /%d holds only %d\n", p.SubnetBits+1, subnetHolds(p.SubnetBits+1))
		}
		b.WriteString("  Not counted: each ENI's primary address, from the same subnet; the headroom must cover it.\n")
	}

	fmt.Fprintf(&b, "\nIAM actions (%s):\n", mode)
	for _, a := range p.IAMActions {
		fmt.Fprintf(&b, "  %s\n", a)
	}
	return b.String()
}
