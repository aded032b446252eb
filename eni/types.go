package eni

import (
	"maps"
	"net/netip"
	"slices"
)

// Tags are EC2 resource tags.
type Tags map[string]string

// Clone returns a copy of t (nil for nil).
func (t Tags) Clone() Tags { return maps.Clone(t) }

// Matches reports whether t carries every tag in want. An empty value in
// want matches any value of that key (EC2's tag-key filter).
func (t Tags) Matches(want Tags) bool {
	for k, v := range want {
		got, ok := t[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

// Limits are an instance type's networking limits, as DescribeInstanceTypes
// reports them.
type Limits struct {
	// InstanceType is the type's name, e.g. "m5.large".
	InstanceType string
	// MaxENIs is the number of network interfaces the type can attach,
	// the primary one included.
	MaxENIs int
	// IPv4PerENI is the number of private IPv4 addresses per interface, the
	// primary address included. With prefix delegation each /28 takes the
	// place of one secondary address.
	IPv4PerENI int
	// IPv6PerENI is the number of IPv6 addresses per interface.
	IPv6PerENI int
	// Hypervisor is "nitro", "xen" or "" (bare metal).
	Hypervisor string
	// BareMetal reports a metal instance.
	BareMetal bool
	// VCPUs is the default number of vCPUs (it caps max pods: 110 up to 30
	// vCPUs, 250 above).
	VCPUs int
}

// PrefixDelegation reports whether the type supports /28 IPv4 prefixes on
// its interfaces: Nitro and bare metal instances do.
func (l Limits) PrefixDelegation() bool { return l.Hypervisor == "nitro" || l.BareMetal }

// MaxSecondaryIPv4 returns the secondary IPv4 addresses (or /28 prefixes)
// one interface can hold: every slot but the primary address's.
func (l Limits) MaxSecondaryIPv4() int { return max(l.IPv4PerENI-1, 0) }

// Subnet is a VPC subnet.
type Subnet struct {
	ID               string
	VPCID            string
	AvailabilityZone string
	// CIDR is the subnet's IPv4 block.
	CIDR netip.Prefix
	// AvailableIPs is EC2's count of free addresses (AvailableIpAddressCount):
	// the block less the 5 addresses AWS reserves and every assigned
	// address, a /28 prefix counting 16.
	AvailableIPs int
	Tags         Tags
}

// SecurityGroup is a VPC security group.
type SecurityGroup struct {
	ID    string
	VPCID string
	Name  string
	Tags  Tags
}

// RouteTable is a VPC route table and the subnets associated with it.
type RouteTable struct {
	ID        string
	VPCID     string
	Main      bool
	SubnetIDs []string
	Tags      Tags
}

// ENI status values, as EC2 reports them.
const (
	StatusAvailable = "available"
	StatusInUse     = "in-use"
)

// ENI is an elastic network interface.
type ENI struct {
	ID               string
	SubnetID         string
	VPCID            string
	AvailabilityZone string
	MAC              string
	Description      string
	SecurityGroupIDs []string
	// PrimaryIP is the interface's primary private IPv4 address.
	PrimaryIP netip.Addr
	// SecondaryIPs are its other private IPv4 addresses, in assignment
	// order.
	SecondaryIPs []netip.Addr
	// Prefixes are its /28 IPv4 prefixes, in assignment order.
	Prefixes []netip.Prefix
	// Status is StatusAvailable or StatusInUse.
	Status string
	// Attachment is nil for an interface that is not attached.
	Attachment *Attachment
	Tags       Tags
}

// Clone returns a deep copy of e.
func (e ENI) Clone() ENI {
	e.SecurityGroupIDs = slices.Clone(e.SecurityGroupIDs)
	e.SecondaryIPs = slices.Clone(e.SecondaryIPs)
	e.Prefixes = slices.Clone(e.Prefixes)
	e.Tags = e.Tags.Clone()
	if e.Attachment != nil {
		a := *e.Attachment
		e.Attachment = &a
	}
	return e
}

// Attachment ties an ENI to an instance.
type Attachment struct {
	ID                  string
	InstanceID          string
	DeviceIndex         int
	NetworkCardIndex    int
	DeleteOnTermination bool
}

// Instance is an EC2 instance with the interfaces attached to it.
type Instance struct {
	ID               string
	Type             string
	VPCID            string
	SubnetID         string
	AvailabilityZone string
	// ENIs are the attached interfaces, ordered by device index. Their
	// Tags are nil: EC2's DescribeInstances does not report interface tags
	// (describe the interfaces for those).
	ENIs []ENI
}

// ENIFilter selects interfaces. Zero fields match everything; a zero
// ENIFilter is an unfiltered describe, which EC2 throttles harder.
type ENIFilter struct {
	IDs        []string
	InstanceID string // attachment.instance-id
	SubnetID   string
	VPCID      string
	Status     string
	Tags       Tags // every tag must match; an empty value matches any
}

// IsZero reports whether f selects everything.
func (f ENIFilter) IsZero() bool {
	return len(f.IDs) == 0 && f.InstanceID == "" && f.SubnetID == "" && f.VPCID == "" && f.Status == "" && len(f.Tags) == 0
}

// Match reports whether e passes the filter.
func (f ENIFilter) Match(e ENI) bool {
	if len(f.IDs) > 0 && !slices.Contains(f.IDs, e.ID) {
		return false
	}
	if f.InstanceID != "" && (e.Attachment == nil || e.Attachment.InstanceID != f.InstanceID) {
		return false
	}
	return (f.SubnetID == "" || e.SubnetID == f.SubnetID) &&
		(f.VPCID == "" || e.VPCID == f.VPCID) &&
		(f.Status == "" || e.Status == f.Status) &&
		e.Tags.Matches(f.Tags)
}

// SubnetFilter selects subnets; zero fields match everything.
type SubnetFilter struct {
	IDs              []string
	VPCID            string
	AvailabilityZone string
	Tags             Tags
}

// IsZero reports whether f selects everything.
func (f SubnetFilter) IsZero() bool {
	return len(f.IDs) == 0 && f.VPCID == "" && f.AvailabilityZone == "" && len(f.Tags) == 0
}

// Match reports whether s passes the filter.
func (f SubnetFilter) Match(s Subnet) bool {
	return (len(f.IDs) == 0 || slices.Contains(f.IDs, s.ID)) &&
		(f.VPCID == "" || s.VPCID == f.VPCID) &&
		(f.AvailabilityZone == "" || s.AvailabilityZone == f.AvailabilityZone) &&
		s.Tags.Matches(f.Tags)
}

// SecurityGroupFilter selects security groups; zero fields match
// everything.
type SecurityGroupFilter struct {
	IDs   []string
	VPCID string
	Tags  Tags
}

// IsZero reports whether f selects everything.
func (f SecurityGroupFilter) IsZero() bool {
	return len(f.IDs) == 0 && f.VPCID == "" && len(f.Tags) == 0
}

// Match reports whether g passes the filter.
func (f SecurityGroupFilter) Match(g SecurityGroup) bool {
	return (len(f.IDs) == 0 || slices.Contains(f.IDs, g.ID)) &&
		(f.VPCID == "" || g.VPCID == f.VPCID) &&
		g.Tags.Matches(f.Tags)
}

// RouteTableFilter selects route tables; zero fields match everything.
type RouteTableFilter struct {
	VPCID    string
	SubnetID string // association.subnet-id
}

// Match reports whether r passes the filter.
func (f RouteTableFilter) Match(r RouteTable) bool {
	return (f.VPCID == "" || r.VPCID == f.VPCID) &&
		(f.SubnetID == "" || slices.Contains(r.SubnetIDs, f.SubnetID))
}

// CreateENIInput describes an interface to create.
type CreateENIInput struct {
	SubnetID         string
	SecurityGroupIDs []string
	Description      string
	// SecondaryIPs and Prefixes ask for that many secondary addresses or /28
	// prefixes at creation (at most one of them may be set, as in EC2).
	SecondaryIPs int
	Prefixes     int
	Tags         Tags
}

// AttachInput describes an attachment to make.
type AttachInput struct {
	ENIID            string
	InstanceID       string
	DeviceIndex      int
	NetworkCardIndex int
}
