package eni

import (
	"context"
	"net/netip"
)

// The interfaces below cover what ENI-mode address management needs from
// EC2, one concern each. Implementations must be safe for concurrent use.
// Methods return errors that wrap this package's sentinels (see errors.go);
// failures EC2 reported are also an *APIError carrying the AWS error code.
// Describe methods return every page: pagination is the backend's business.

// InstanceDescriber describes instances.
type InstanceDescriber interface {
	// DescribeInstance returns an instance with its attached interfaces.
	// ErrInstanceNotFound if it does not exist.
	DescribeInstance(ctx context.Context, instanceID string) (Instance, error)
}

// InstanceTypeDescriber describes instance types' network limits.
type InstanceTypeDescriber interface {
	// DescribeInstanceTypes returns the limits of the named types, in the
	// order asked (every known type when none is named).
	// ErrInvalidParameter names a type EC2 does not know.
	DescribeInstanceTypes(ctx context.Context, types ...string) ([]Limits, error)
}

// ENIDescriber describes network interfaces.
type ENIDescriber interface {
	// DescribeENIs returns the interfaces the filter selects, ordered by
	// ID. Asking by ID for an interface that does not exist is
	// ErrENINotFound.
	DescribeENIs(ctx context.Context, f ENIFilter) ([]ENI, error)
}

// NetworkDescriber describes the VPC resources interfaces are made from.
type NetworkDescriber interface {
	// DescribeSubnets returns the subnets the filter selects, ordered by ID.
	DescribeSubnets(ctx context.Context, f SubnetFilter) ([]Subnet, error)
	// DescribeSecurityGroups returns the groups the filter selects, ordered
	// by ID.
	DescribeSecurityGroups(ctx context.Context, f SecurityGroupFilter) ([]SecurityGroup, error)
	// DescribeRouteTables returns the route tables the filter selects,
	// ordered by ID.
	DescribeRouteTables(ctx context.Context, f RouteTableFilter) ([]RouteTable, error)
}

// ENILifecycle creates, attaches, detaches and deletes interfaces.
type ENILifecycle interface {
	// CreateENI creates an interface in a subnet, with a primary address
	// and, if asked, secondary addresses or /28 prefixes. Errors:
	// ErrSubnetNotFound, ErrSecurityGroupNotFound,
	// ErrInsufficientFreeAddresses, ErrInsufficientCIDRBlocks,
	// ErrAddressLimitExceeded (more addresses than an interface that is
	// not attached may hold), ErrInvalidParameter.
	CreateENI(ctx context.Context, in CreateENIInput) (ENI, error)
	// AttachENI attaches an available interface to an instance in the same
	// availability zone at a free device index and returns the attachment
	// ID. Errors: ErrENINotFound, ErrInstanceNotFound,
	// ErrAttachmentLimitExceeded (the type's MaxENIs reached),
	// ErrInvalidParameter (device index 0, taken, or not below MaxENIs;
	// network card other than 0; another AZ), ErrInUse (already attached),
	// ErrAddressLimitExceeded (the interface holds more addresses than the
	// type allows).
	AttachENI(ctx context.Context, in AttachInput) (string, error)
	// DetachENI detaches an interface. ErrAttachmentNotFound if the
	// attachment does not exist; ErrOperationNotPermitted for the primary
	// interface (device index 0).
	DetachENI(ctx context.Context, attachmentID string, force bool) error
	// DeleteENI deletes an interface and releases its addresses. It must be
	// detached first (ErrInUse otherwise). ErrENINotFound if it does not
	// exist.
	DeleteENI(ctx context.Context, eniID string) error
}

// ENIModifier changes attachment attributes.
type ENIModifier interface {
	// SetDeleteOnTermination sets whether an attached interface is deleted
	// with its instance.
	SetDeleteOnTermination(ctx context.Context, eniID, attachmentID string, deleteOnTermination bool) error
}

// AddressAssigner assigns and unassigns secondary IPv4 addresses and /28
// prefixes on an interface.
type AddressAssigner interface {
	// AssignIPs assigns count secondary addresses from the interface's
	// subnet and returns them. Errors: ErrENINotFound,
	// ErrAddressLimitExceeded (the type's IPv4PerENI would be exceeded; an
	// interface that is not attached may hold 50 addresses, the largest
	// IPv4PerENI of any type), ErrInsufficientFreeAddresses,
	// ErrInvalidParameter (count not positive).
	AssignIPs(ctx context.Context, eniID string, count int) ([]netip.Addr, error)
	// UnassignIPs returns secondary addresses to the subnet. Unassigning an
	// address the interface does not hold, or its primary address, is
	// ErrInvalidParameter, and nothing is unassigned.
	UnassignIPs(ctx context.Context, eniID string, addrs []netip.Addr) error
	// AssignPrefixes assigns count /28 prefixes, aligned, from free space in
	// the interface's subnet. Errors as AssignIPs, plus
	// ErrInsufficientCIDRBlocks when no aligned /28 is wholly free, even
	// though enough single addresses may be, and ErrInvalidParameter on an
	// instance type without prefix delegation.
	AssignPrefixes(ctx context.Context, eniID string, count int) ([]netip.Prefix, error)
	// UnassignPrefixes returns prefixes to the subnet, all or nothing.
	UnassignPrefixes(ctx context.Context, eniID string, prefixes []netip.Prefix) error
}

// Tagger tags resources.
type Tagger interface {
	// CreateTags adds or overwrites tags on resources (interfaces,
	// subnets, instances).
	CreateTags(ctx context.Context, resourceIDs []string, tags Tags) error
}

// Cloud is everything ENI-mode address management needs from EC2.
// Implementations: package eni/aws (the AWS SDK for Go v2) and package
// eni/fake (in memory, with EC2's semantics).
type Cloud interface {
	InstanceDescriber
	InstanceTypeDescriber
	ENIDescriber
	NetworkDescriber
	ENILifecycle
	ENIModifier
	AddressAssigner
	Tagger
}
