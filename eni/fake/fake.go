package fake

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/eniway/eniway/eni"
)

// EC2 action names, as Calls, Throttled and SetFault take them.
const (
	ActionDescribeInstances               = "DescribeInstances"
	ActionDescribeInstanceTypes           = "DescribeInstanceTypes"
	ActionDescribeNetworkInterfaces       = "DescribeNetworkInterfaces"
	ActionDescribeSubnets                 = "DescribeSubnets"
	ActionDescribeSecurityGroups          = "DescribeSecurityGroups"
	ActionDescribeRouteTables             = "DescribeRouteTables"
	ActionCreateNetworkInterface          = "CreateNetworkInterface"
	ActionAttachNetworkInterface          = "AttachNetworkInterface"
	ActionDetachNetworkInterface          = "DetachNetworkInterface"
	ActionDeleteNetworkInterface          = "DeleteNetworkInterface"
	ActionModifyNetworkInterfaceAttribute = "ModifyNetworkInterfaceAttribute"
	ActionAssignPrivateIPAddresses        = "AssignPrivateIpAddresses"
	ActionUnassignPrivateIPAddresses      = "UnassignPrivateIpAddresses"
	ActionCreateTags                      = "CreateTags"
)

// UnattachedAddressLimit is the most private IPv4 addresses (primary,
// secondary and /28 prefixes, one slot each) an interface that is not
// attached may hold: the largest IPv4PerENI of any instance type.
const UnattachedAddressLimit = 50

// Options configure a Cloud. The zero value is valid: real time, no
// throttling, no latency, no eventual consistency, the built-in instance
// types, lowest-free address choice.
type Options struct {
	// Clock dates everything; nil is RealClock().
	Clock Clock
	// Throttle enables AWS's per-action token buckets (see the package
	// documentation).
	Throttle bool
	// Latency is how long every call sleeps on Clock before acting.
	Latency time.Duration
	// DescribeDelay is EC2's eventual consistency: a new interface is
	// invisible to DescribeENIs and DescribeInstance for this long after
	// its creation.
	DescribeDelay time.Duration
	// InstanceTypes are added to the built-in types, replacing those of the
	// same name.
	InstanceTypes []eni.Limits
	// RandomAddresses, when not 0, seeds a math/rand/v2 PCG that scatters
	// addresses and prefixes over the subnet's free space as EC2 does. The
	// choice is deterministic per seed for a given sequence of calls. 0
	// hands out the lowest free address or prefix.
	RandomAddresses int64
}

// Validate reports options New would reject.
func (o Options) Validate() error {
	var errs []error
	if o.Latency < 0 {
		errs = append(errs, fmt.Errorf("fake: negative Latency %v", o.Latency))
	}
	if o.DescribeDelay < 0 {
		errs = append(errs, fmt.Errorf("fake: negative DescribeDelay %v", o.DescribeDelay))
	}
	for _, l := range o.InstanceTypes {
		if err := validateLimits(l); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func validateLimits(l eni.Limits) error {
	if l.InstanceType == "" || l.MaxENIs < 1 || l.IPv4PerENI < 1 || l.IPv4PerENI > UnattachedAddressLimit || l.IPv6PerENI < 0 || l.VCPUs < 0 {
		return fmt.Errorf("fake: invalid instance type %+v: want a name, MaxENIs >= 1, 1 <= IPv4PerENI <= %d", l, UnattachedAddressLimit)
	}
	return nil
}

// builtinTypes are real instance types' networking limits.
var builtinTypes = []eni.Limits{
	{InstanceType: "m5.large", MaxENIs: 3, IPv4PerENI: 10, IPv6PerENI: 10, Hypervisor: "nitro", VCPUs: 2},
	{InstanceType: "m5.xlarge", MaxENIs: 4, IPv4PerENI: 15, IPv6PerENI: 15, Hypervisor: "nitro", VCPUs: 4},
	{InstanceType: "m5.4xlarge", MaxENIs: 8, IPv4PerENI: 30, IPv6PerENI: 30, Hypervisor: "nitro", VCPUs: 16},
	{InstanceType: "m7g.xlarge", MaxENIs: 4, IPv4PerENI: 15, IPv6PerENI: 15, Hypervisor: "nitro", VCPUs: 4},
	{InstanceType: "t2.medium", MaxENIs: 3, IPv4PerENI: 6, IPv6PerENI: 6, Hypervisor: "xen", VCPUs: 2},
}

// Cloud is an in-memory EC2 region implementing eni.Cloud. Seed it with
// AddVPC, AddSubnet, AddSecurityGroup, AddRouteTable and AddInstance; watch
// it with Calls and Throttled; break it with SetFault. It is safe for
// concurrent use.
type Cloud struct {
	clock    Clock
	latency  time.Duration
	delay    time.Duration
	throttle bool

	mu          sync.Mutex
	seq         uint64
	macSeq      uint64
	rng         *rand.Rand // nil: lowest free
	types       map[string]eni.Limits
	vpcs        map[string]*vpc
	subnets     map[string]*subnet
	groups      map[string]*eni.SecurityGroup
	routeTables map[string]*eni.RouteTable
	instances   map[string]*instance
	enis        map[string]*iface
	attachments map[string]string // attachment ID -> ENI ID
	buckets     [numClasses]bucket
	calls       map[string]int
	throttled   map[string]int
	faults      map[string]func(Call) error
}

var _ eni.Cloud = (*Cloud)(nil)

type vpc struct {
	id   string
	cidr netip.Prefix
	tags eni.Tags
}

type instance struct {
	eni.Instance                // ENIs unused: see devices
	tags         eni.Tags       // kept for CreateTags, not described
	devices      map[int]string // device index -> ENI ID
}

type iface struct {
	eni.ENI
	visibleAt time.Time // DescribeDelay
}

// New returns an empty region. It panics if opts.Validate fails: options
// are a test's constants.
func New(opts Options) *Cloud {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	if opts.Clock == nil {
		opts.Clock = RealClock()
	}
	c := &Cloud{
		clock:       opts.Clock,
		latency:     opts.Latency,
		delay:       opts.DescribeDelay,
		throttle:    opts.Throttle,
		types:       map[string]eni.Limits{},
		vpcs:        map[string]*vpc{},
		subnets:     map[string]*subnet{},
		groups:      map[string]*eni.SecurityGroup{},
		routeTables: map[string]*eni.RouteTable{},
		instances:   map[string]*instance{},
		enis:        map[string]*iface{},
		attachments: map[string]string{},
		calls:       map[string]int{},
		throttled:   map[string]int{},
		faults:      map[string]func(Call) error{},
	}
	if opts.RandomAddresses != 0 {
		seed := uint64(opts.RandomAddresses)
		c.rng = rand.New(rand.NewPCG(seed, seed))
	}
	for _, l := range slices.Concat(builtinTypes, opts.InstanceTypes) {
		c.types[l.InstanceType] = l
	}
	now := c.clock.Now()
	for cl := range numClasses {
		c.buckets[cl] = newBucket(cl, now)
	}
	return c
}

// newID returns the next AWS-like ID: prefix, a dash, 17 hex digits.
func (c *Cloud) newID(prefix string) string {
	c.seq++
	return fmt.Sprintf("%s-%017x", prefix, c.seq)
}

// newMAC returns the next locally administered MAC address.
func (c *Cloud) newMAC() string {
	c.macSeq++
	m := c.macSeq
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", byte(m>>32), byte(m>>24), byte(m>>16), byte(m>>8), byte(m))
}

func apiError(action, code, format string, args ...any) error {
	return eni.NewAPIError(action, code, format, args...)
}

// AddVPC creates a VPC with an IPv4 block between /16 and /28. Errors are
// *eni.APIError for CreateVpc (InvalidVpc.Range).
func (c *Cloud) AddVPC(cidr netip.Prefix) (string, error) {
	if !cidr.IsValid() || !cidr.Addr().Is4() || cidr != cidr.Masked() || cidr.Bits() < 16 || cidr.Bits() > 28 {
		return "", apiError("CreateVpc", "InvalidVpc.Range", "The CIDR '%s' is invalid.", cidr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v := &vpc{id: c.newID("vpc"), cidr: cidr}
	c.vpcs[v.id] = v
	return v.id, nil
}

// SubnetSpec describes a subnet to seed.
type SubnetSpec struct {
	VPCID string
	// AvailabilityZone defaults to "us-east-1a".
	AvailabilityZone string
	// CIDR is an IPv4 block from /16 to /28, inside the VPC's and
	// overlapping no other subnet of the VPC.
	CIDR netip.Prefix
	Tags eni.Tags
}

// AddSubnet creates a subnet and returns it as DescribeSubnets would. Errors
// are *eni.APIError for CreateSubnet: InvalidVpcID.NotFound,
// InvalidSubnet.Range (block malformed, outside /16../28 or outside the
// VPC), InvalidSubnet.Conflict (overlap).
func (c *Cloud) AddSubnet(s SubnetSpec) (eni.Subnet, error) {
	const action = "CreateSubnet"
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.vpcs[s.VPCID]
	if v == nil {
		return eni.Subnet{}, apiError(action, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", s.VPCID)
	}
	p := s.CIDR
	if !p.IsValid() || !p.Addr().Is4() || p != p.Masked() || p.Bits() < 16 || p.Bits() > 28 ||
		p.Bits() < v.cidr.Bits() || !v.cidr.Contains(p.Addr()) {
		return eni.Subnet{}, apiError(action, "InvalidSubnet.Range", "The CIDR '%s' is invalid.", p)
	}
	for _, o := range c.subnets {
		if o.VPCID == v.id && o.CIDR.Overlaps(p) {
			return eni.Subnet{}, apiError(action, "InvalidSubnet.Conflict", "The CIDR '%s' conflicts with another subnet", p)
		}
	}
	az := s.AvailabilityZone
	if az == "" {
		az = "us-east-1a"
	}
	sn := newSubnet(eni.Subnet{ID: c.newID("subnet"), VPCID: v.id, AvailabilityZone: az, CIDR: p, Tags: s.Tags.Clone()})
	c.subnets[sn.ID] = sn
	return sn.view(), nil
}

// AddSecurityGroup creates a security group. Errors are *eni.APIError for
// CreateSecurityGroup: InvalidVpcID.NotFound, InvalidGroup.Duplicate (the
// name is taken in the VPC).
func (c *Cloud) AddSecurityGroup(vpcID, name string, tags eni.Tags) (string, error) {
	const action = "CreateSecurityGroup"
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.vpcs[vpcID] == nil {
		return "", apiError(action, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpcID)
	}
	for _, g := range c.groups {
		if g.VPCID == vpcID && g.Name == name {
			return "", apiError(action, "InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vpcID)
		}
	}
	g := &eni.SecurityGroup{ID: c.newID("sg"), VPCID: vpcID, Name: name, Tags: tags.Clone()}
	c.groups[g.ID] = g
	return g.ID, nil
}

// AddRouteTable creates a route table associated with subnets of its VPC.
// Errors are *eni.APIError for CreateRouteTable: InvalidVpcID.NotFound,
// InvalidSubnetID.NotFound (also for a subnet of another VPC),
// Resource.AlreadyAssociated (a subnet has a route table already, or the
// VPC a main one).
func (c *Cloud) AddRouteTable(vpcID string, main bool, subnetIDs ...string) (string, error) {
	const action = "CreateRouteTable"
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.vpcs[vpcID] == nil {
		return "", apiError(action, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpcID)
	}
	for _, id := range subnetIDs {
		if s := c.subnets[id]; s == nil || s.VPCID != vpcID {
			return "", apiError(action, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
	}
	for _, rt := range c.routeTables {
		if rt.VPCID != vpcID {
			continue
		}
		if main && rt.Main {
			return "", apiError(action, "Resource.AlreadyAssociated", "VPC '%s' already has a main route table '%s'", vpcID, rt.ID)
		}
		for _, id := range subnetIDs {
			if slices.Contains(rt.SubnetIDs, id) {
				return "", apiError(action, "Resource.AlreadyAssociated", "the subnet '%s' is already associated with route table '%s'", id, rt.ID)
			}
		}
	}
	rt := &eni.RouteTable{ID: c.newID("rtb"), VPCID: vpcID, Main: main, SubnetIDs: slices.Clone(subnetIDs)}
	c.routeTables[rt.ID] = rt
	return rt.ID, nil
}

// InstanceSpec describes an instance to seed.
type InstanceSpec struct {
	// Type is a built-in type or one added with Options.InstanceTypes or
	// AddInstanceType.
	Type     string
	SubnetID string
	// SecurityGroupIDs go to the primary interface; they must be in the
	// subnet's VPC.
	SecurityGroupIDs []string
	// Tags are the instance's (CreateTags can change them; nothing
	// describes them).
	Tags eni.Tags
}

// AddInstance launches an instance in a subnet, with its primary interface:
// device index 0, DeleteOnTermination, in use, its primary address the
// subnet's next free one. The instance's AZ and VPC are the subnet's. Its
// primary interface is visible at once, whatever Options.DescribeDelay.
// Errors are *eni.APIError for RunInstances: InvalidParameterValue (unknown
// type), InvalidSubnetID.NotFound, InvalidGroup.NotFound,
// InsufficientFreeAddressesInSubnet.
func (c *Cloud) AddInstance(s InstanceSpec) (eni.Instance, error) {
	const action = "RunInstances"
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.types[s.Type]; !ok {
		return eni.Instance{}, apiError(action, "InvalidParameterValue", "Invalid value '%s' for InstanceType.", s.Type)
	}
	sn := c.subnets[s.SubnetID]
	if sn == nil {
		return eni.Instance{}, apiError(action, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", s.SubnetID)
	}
	if err := c.checkGroups(action, sn, s.SecurityGroupIDs); err != nil {
		return eni.Instance{}, err
	}
	addrs, ok := sn.allocAddrs(1, c.rng)
	if !ok {
		return eni.Instance{}, insufficientAddresses(action)
	}
	in := &instance{
		Instance: eni.Instance{ID: c.newID("i"), Type: s.Type, VPCID: sn.VPCID, SubnetID: sn.ID, AvailabilityZone: sn.AvailabilityZone},
		tags:     s.Tags.Clone(),
		devices:  map[int]string{},
	}
	e := c.newENI(sn, addrs[0], slices.Clone(s.SecurityGroupIDs), "", nil, time.Time{})
	c.attachLocked(e, in, 0, true)
	c.instances[in.ID] = in
	return c.describeInstanceLocked(in, time.Time{}, true), nil
}

// AddInstanceType adds an instance type, or replaces the one of the same
// name. It panics on limits that make no sense (no name, MaxENIs < 1,
// IPv4PerENI outside 1..UnattachedAddressLimit).
func (c *Cloud) AddInstanceType(l eni.Limits) {
	if err := validateLimits(l); err != nil {
		panic(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.types[l.InstanceType] = l
}

// TerminateInstance terminates an instance at once: its attached
// interfaces with DeleteOnTermination are deleted and their addresses
// released, the others are detached and become available. The instance is
// then gone (EC2 would describe it as terminated for a while). Errors are
// *eni.APIError for TerminateInstances: InvalidInstanceID.NotFound.
func (c *Cloud) TerminateInstance(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.instances[id]
	if in == nil {
		return apiError("TerminateInstances", "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}
	for _, eniID := range in.devices {
		e := c.enis[eniID]
		deleteIt := e.Attachment.DeleteOnTermination
		c.detachLocked(e)
		if deleteIt {
			c.deleteLocked(e)
		}
	}
	delete(c.instances, id)
	return nil
}

// Calls returns the calls made to an EC2 action (see the Action
// constants), throttled and faulted ones included.
func (c *Cloud) Calls(action string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[action]
}

// CallCounts returns a copy of every action's call count.
func (c *Cloud) CallCounts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.calls)
}

// Throttled returns the calls to an action answered RequestLimitExceeded.
func (c *Cloud) Throttled(action string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.throttled[action]
}

// ResetCounters zeroes the call and throttle counters (not the buckets).
func (c *Cloud) ResetCounters() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.calls)
	clear(c.throttled)
}

// Call is what a fault hook learns about a call: the action and the
// resources it names, completed from the current state (an attachment's
// interface, an interface's subnet, instance and attachment).
type Call struct {
	Action       string
	ENIID        string
	InstanceID   string
	SubnetID     string
	AttachmentID string
}

// SetFault installs a hook on an action, replacing any previous one; nil
// removes it. The hook runs after throttling and latency, before the action
// looks at or changes anything, without the fake's lock held (it may call
// the Cloud). A non-nil error is returned to the caller as it is and the
// state is left untouched; build EC2 failures with eni.NewAPIError.
func (c *Cloud) SetFault(action string, fault func(Call) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fault == nil {
		delete(c.faults, action)
		return
	}
	c.faults[action] = fault
}

// ENIs returns every interface, ordered by ID, ignoring
// Options.DescribeDelay, without counting, throttling or latency: for tests
// and simulations to inspect the world.
func (c *Cloud) ENIs() []eni.ENI {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]eni.ENI, 0, len(c.enis))
	for _, e := range c.enis {
		out = append(out, e.Clone())
	}
	slices.SortFunc(out, func(a, b eni.ENI) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Subnet returns a subnet as DescribeSubnets would, without counting,
// throttling or latency.
func (c *Cloud) Subnet(id string) (eni.Subnet, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.subnets[id]
	if s == nil {
		return eni.Subnet{}, false
	}
	return s.view(), true
}

// Instance returns an instance with every attached interface, ordered by
// device index, ignoring Options.DescribeDelay, without counting,
// throttling or latency.
func (c *Cloud) Instance(id string) (eni.Instance, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.instances[id]
	if in == nil {
		return eni.Instance{}, false
	}
	return c.describeInstanceLocked(in, time.Time{}, true), true
}

// CheckInvariants verifies the fake's bookkeeping: every address and
// prefix an interface holds lies in its subnet, is held once, avoids the
// reserved addresses and is marked in use; every address marked in use is
// held; attachments and device indexes agree. Tests and simulations call it
// to prove that no address was handed out twice or leaked.
func (c *Cloud) CheckInvariants() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	shadow := map[string]*subnet{}
	for id, s := range c.subnets {
		shadow[id] = newSubnet(s.Subnet)
	}
	hold := func(e *iface, sh *subnet, a netip.Addr, what string) {
		i, ok := sh.index(a)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: %s %s outside %s %s", e.ID, what, a, sh.ID, sh.CIDR))
		case sh.isSet(i):
			errs = append(errs, fmt.Errorf("%s: %s %s is reserved or held twice", e.ID, what, a))
		default:
			sh.set(i)
			sh.inUse++
		}
	}
	for _, e := range c.enis {
		sh := shadow[e.SubnetID]
		if sh == nil {
			errs = append(errs, fmt.Errorf("%s: unknown subnet %s", e.ID, e.SubnetID))
			continue
		}
		hold(e, sh, e.PrimaryIP, "primary address")
		for _, a := range e.SecondaryIPs {
			hold(e, sh, a, "secondary address")
		}
		for _, p := range e.Prefixes {
			if p.Bits() != 28 || p != p.Masked() {
				errs = append(errs, fmt.Errorf("%s: prefix %s is not an aligned /28", e.ID, p))
				continue
			}
			for a, i := p.Addr(), 0; i < prefixSize; a, i = a.Next(), i+1 {
				hold(e, sh, a, "address of prefix "+p.String()+":")
			}
		}
		if e.Attachment != nil {
			in := c.instances[e.Attachment.InstanceID]
			switch {
			case in == nil:
				errs = append(errs, fmt.Errorf("%s: attached to unknown instance %s", e.ID, e.Attachment.InstanceID))
			case in.devices[e.Attachment.DeviceIndex] != e.ID:
				errs = append(errs, fmt.Errorf("%s: instance %s does not hold it at device index %d", e.ID, in.ID, e.Attachment.DeviceIndex))
			}
			if c.attachments[e.Attachment.ID] != e.ID {
				errs = append(errs, fmt.Errorf("%s: attachment %s not indexed", e.ID, e.Attachment.ID))
			}
			if e.Status != eni.StatusInUse {
				errs = append(errs, fmt.Errorf("%s: attached but %s", e.ID, e.Status))
			}
		} else if e.Status != eni.StatusAvailable {
			errs = append(errs, fmt.Errorf("%s: not attached but %s", e.ID, e.Status))
		}
	}
	for id, s := range c.subnets {
		sh := shadow[id]
		if sh.inUse != s.inUse || !slices.Equal(sh.used, s.used) {
			errs = append(errs, fmt.Errorf("%s: %d addresses in use by its interfaces, %d by its books", id, sh.inUse, s.inUse))
		}
	}
	for _, in := range c.instances {
		for idx, id := range in.devices {
			if e := c.enis[id]; e == nil || e.Attachment == nil || e.Attachment.InstanceID != in.ID || e.Attachment.DeviceIndex != idx {
				errs = append(errs, fmt.Errorf("%s: device index %d names %s, which is not attached there", in.ID, idx, id))
			}
		}
	}
	if len(c.attachments) != countAttached(c.enis) {
		errs = append(errs, fmt.Errorf("%d attachments indexed, %d interfaces attached", len(c.attachments), countAttached(c.enis)))
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

func countAttached(enis map[string]*iface) int {
	n := 0
	for _, e := range enis {
		if e.Attachment != nil {
			n++
		}
	}
	return n
}
