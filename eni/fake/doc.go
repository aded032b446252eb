// Package fake is an in-memory EC2 implementing eni.Cloud with EC2's
// semantics: not a call recorder, but a small region whose VPCs, subnets,
// instances and interfaces behave the way EC2's do, so that code tested
// against it meets the same limits, errors and races it meets in AWS. The
// conformance suite in eni/enitest runs against it, and the EC2 wire
// emulator serves its state.
//
// # Model
//
// A Cloud holds VPCs, subnets, security groups, route tables, instances
// and network interfaces. Tests seed them with AddVPC, AddSubnet,
// AddSecurityGroup, AddRouteTable, AddInstance and AddInstanceType, and end
// instances with TerminateInstance; seeding is never counted, throttled,
// delayed or faulted, and its errors are *eni.APIError values for the EC2
// action it stands for (CreateSubnet, RunInstances, ...). Everything else
// happens through the eni.Cloud methods. ENIs, Subnet, Instance and
// CheckInvariants let a test or simulation look at the world without
// calling EC2.
//
// IDs look like AWS's, a prefix and 17 hex digits from one counter (vpc-,
// subnet-, sg-, rtb-, i-, eni-, eni-attach-), and MAC addresses are
// locally administered (02:...) from another counter, so a seeded world is
// the same on every run and IDs sort in creation order.
//
// Every failure is an *eni.APIError built with eni.NewAPIError and EC2's
// error code for the case, so errors.Is works with eni's sentinels and
// errors.As gives the code. Every request is all or nothing: a call that
// fails changes nothing. A context that is already done, or ends during
// the latency, returns ctx.Err() and changes nothing (a call whose context
// is done on entry is not even counted).
//
// # Addresses
//
// AWS reserves five addresses in every subnet: the first four (network,
// VPC router, DNS, future use) and the last. A subnet's AvailableIPs is its
// block size less those five and every address in use, a /28 prefix in use
// counting 16: a fresh /28 subnet has 11, a fresh /24 251. Subnets are /16
// to /28, inside their VPC, overlapping no other subnet of it.
//
// Primary and secondary addresses come from the subnet's free addresses:
// the lowest one by default, or scattered over the subnet by a PCG seeded
// with Options.RandomAddresses (deterministic per seed for a given
// sequence of calls). They are never reserved and never inside a prefix in
// use. A /28 prefix is aligned on 16 and wholly free: no address in it in
// use and none reserved, so a /28 subnet never yields one, and single
// addresses scattered over a subnet fragment it until
// AssignPrefixes fails with InsufficientCidrBlocks (eni.ErrInsufficientCIDRBlocks)
// although AvailableIPs is still positive. Too few free addresses is
// InsufficientFreeAddressesInSubnet (eni.ErrInsufficientFreeAddresses).
//
// # Instance types and limits
//
// Built in, as DescribeInstanceTypes reports them (Options.InstanceTypes
// and AddInstanceType add or replace types):
//
//	type        ENIs  IPv4/ENI  IPv6/ENI  hypervisor  vCPUs
//	m5.large       3        10        10  nitro           2
//	m5.xlarge      4        15        15  nitro           4
//	m5.4xlarge     8        30        30  nitro          16
//	m7g.xlarge     4        15        15  nitro           4
//	t2.medium      3         6         6  xen             2
//
// An unknown type is InvalidInstanceType. An attached interface holds at
// most IPv4PerENI addresses of its instance's type, counting the primary
// address, each secondary address and each /28 prefix as one (an m5.large
// interface: the primary and 9 more); going over is
// PrivateIpAddressLimitExceeded (eni.ErrAddressLimitExceeded). An
// interface that is not attached may hold UnattachedAddressLimit (50, the
// largest IPv4PerENI) in all, and attaching one that holds more than the
// instance's type allows fails with PrivateIpAddressLimitExceeded.
// Prefixes need a Nitro or bare metal type: assigning them to an interface
// attached to another type, or attaching an interface holding some to one,
// is InvalidParameterValue.
//
// # Interfaces
//
// CreateENI makes an available interface with no attachment, the subnet's
// VPC and AZ, the tags given and a primary address, plus SecondaryIPs
// addresses or Prefixes prefixes (not both: InvalidParameterCombination;
// negative: InvalidParameterValue). The subnet must exist
// (InvalidSubnetID.NotFound), and so must the security groups, in the
// subnet's VPC (InvalidGroup.NotFound).
//
// AttachENI needs an existing (InvalidNetworkInterfaceID.NotFound),
// available (InvalidNetworkInterface.InUse) interface, an existing
// instance (InvalidInstanceID.NotFound) in the same AZ, network card 0 and
// a device index from 1 to MaxENIs-1 that the instance does not use (all
// InvalidParameterValue; EC2 does not document its upper bound on device
// indexes, the fake insists on a compact range), and an instance with
// fewer than MaxENIs interfaces (AttachmentLimitExceeded). The attachment
// is complete at once: the interface is in use, its DeleteOnTermination
// false.
//
// DetachENI of an unknown attachment is InvalidAttachmentID.NotFound, of a
// primary interface (device index 0) OperationNotPermitted; it completes
// at once, leaving the interface available with its addresses. DeleteENI
// needs an existing (InvalidNetworkInterfaceID.NotFound), detached
// (InvalidNetworkInterface.InUse) interface, so never a primary one, and
// returns its primary address, secondary addresses and prefixes to the
// subnet. SetDeleteOnTermination needs the interface's own attachment
// (InvalidAttachmentID.NotFound). TerminateInstance deletes the attached
// interfaces marked DeleteOnTermination (the primary one always is, as
// AddInstance makes it) and detaches the others.
//
// AssignIPs and AssignPrefixes need a positive count
// (InvalidParameterValue). UnassignIPs and UnassignPrefixes fail with
// InvalidParameterValue, unassigning nothing, if any address or prefix is
// not the interface's, or is its primary address.
//
// CreateTags tags interfaces, subnets, instances, security groups, VPCs
// and route tables; every resource must exist (its kind's NotFound code;
// InvalidID for an ID of no taggable kind, which maps to no eni
// sentinel), or nothing is tagged.
//
// DescribeENIs returns the interfaces a filter selects ordered by ID;
// naming a missing interface by ID is InvalidNetworkInterfaceID.NotFound.
// DescribeInstance lists the attached interfaces by device index. Every
// describe returns deep copies, so callers cannot corrupt the fake.
//
// # Eventual consistency, latency and faults
//
// With Options.DescribeDelay, an interface CreateENI made is invisible to
// DescribeENIs (NotFound by ID) and DescribeInstance until that long after
// its creation on the Clock; other calls see it at once. Interfaces
// AddInstance seeds are visible at once.
//
// With Options.Latency, every call sleeps that long on the Clock, after it
// is counted and before it is throttled and acts, honouring its context.
// ManualClock drives it from tests and simulations: Sleepers and
// NextDeadline tell what is waiting.
//
// SetFault hooks an action: after throttling and latency, before the
// action looks at the state, the hook gets a Call naming the resources
// involved and may return an error, which the caller gets as it is with
// nothing changed.
//
// Calls counts every call per EC2 action, throttled and faulted ones
// included, and Throttled those answered RequestLimitExceeded. The actions
// are DescribeInstances (DescribeInstance), DescribeInstanceTypes,
// DescribeNetworkInterfaces (DescribeENIs), DescribeSubnets,
// DescribeSecurityGroups, DescribeRouteTables, CreateNetworkInterface,
// AttachNetworkInterface, DetachNetworkInterface, DeleteNetworkInterface,
// ModifyNetworkInterfaceAttribute (SetDeleteOnTermination),
// AssignPrivateIpAddresses (AssignIPs, AssignPrefixes),
// UnassignPrivateIpAddresses (UnassignIPs, UnassignPrefixes) and
// CreateTags; the Action constants name them.
//
// # Throttling
//
// With Options.Throttle, calls take a token from one of AWS's published
// EC2 token buckets, which start full and refill continuously (fractional
// refill) on Clock.Now:
//
//	bucket                                     capacity  refill
//	CreateNetworkInterface, DeleteNetworkInterface,
//	AssignPrivateIpAddresses, UnassignPrivateIpAddresses,
//	ModifyNetworkInterfaceAttribute, CreateTags     100     5/s
//	AttachNetworkInterface, DetachNetworkInterface   50     5/s
//	DescribeNetworkInterfaces and DescribeSecurityGroups
//	without a filter (a zero filter)                  50    10/s
//	every other describe: filtered ones, DescribeInstances,
//	DescribeSubnets, DescribeRouteTables,
//	DescribeInstanceTypes                            100    20/s
//
// Actions in one row share a bucket. A call that finds its bucket empty is
// answered RequestLimitExceeded (eni.ErrThrottled), consuming nothing and
// changing nothing: 100 mutating calls in an instant pass, the 101st is
// throttled, and a second later 5 more pass.
//
// # Not modelled
//
// IPv6 addresses and prefixes; multiple network cards (network card index
// 0 only); the attaching and detaching transition states (attach and
// detach complete at once, so IncorrectState never happens); ENI trunking
// and branch interfaces; EFA; requester-managed interfaces; instance
// states (a terminated instance is simply gone); malformed-ID codes
// (unknown IDs are NotFound); security group rules, routes and the VPC's
// default security group (interfaces created without groups have none);
// per-account quotas other than the buckets above; eventual consistency of
// anything but new interfaces in describes.
package fake
