// Package enitest is the conformance suite for eni.Cloud implementations.
// Every backend runs it: eni/fake directly, eni/aws through the real AWS SDK
// against the EC2 wire emulator. A backend that fails it disagrees with EC2's
// semantics as eni/fake models them, and a fake that drifts from the real
// backend is a bug in one of them.
//
// The suite seeds its world into an eni/fake Cloud (the fake is also what
// the wire emulator serves), then asks the backend under test for a Cloud
// that shows that world.
package enitest

import (
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
)

// NewCloud returns the backend under test, showing the world the suite
// seeded into the fake. eni/fake returns world itself.
type NewCloud func(t *testing.T, world *fake.Cloud) eni.Cloud

// World is the fixture every conformance test starts from.
type World struct {
	Fake *fake.Cloud
	VPC  string
	// SubnetA is 10.0.1.0/24 in us-east-1a, tagged eniway.io/pool=a.
	SubnetA eni.Subnet
	// SubnetTiny is 10.0.2.0/28 in us-east-1a: 11 usable addresses and no
	// /28 prefix that avoids the reserved ones.
	SubnetTiny eni.Subnet
	// SubnetB is 10.0.3.0/24 in us-east-1b.
	SubnetB       eni.Subnet
	SecurityGroup string
	RouteTable    string
	// Small is an m5.large (3 ENIs x 10 IPv4) in SubnetA.
	Small eni.Instance
	// Large is an m5.4xlarge (8 ENIs x 30 IPv4) in SubnetA.
	Large eni.Instance
	// Xen is a t2.medium (3 ENIs x 6 IPv4, no prefix delegation) in
	// SubnetA.
	Xen eni.Instance
	// Other is an m5.large in SubnetB (another AZ).
	Other eni.Instance
}

// NewWorld seeds the standard fixture into a new fake.
func NewWorld(t *testing.T) *World {
	t.Helper()
	f := fake.New(fake.Options{})
	w := &World{Fake: f}
	var err error
	w.VPC, err = f.AddVPC(netip.MustParsePrefix("10.0.0.0/16"))
	require.NoError(t, err)
	subnet := func(az, cidr string, tags eni.Tags) eni.Subnet {
		s, err := f.AddSubnet(fake.SubnetSpec{VPCID: w.VPC, AvailabilityZone: az, CIDR: netip.MustParsePrefix(cidr), Tags: tags})
		require.NoError(t, err)
		return s
	}
	w.SubnetA = subnet("us-east-1a", "10.0.1.0/24", eni.Tags{"eniway.io/pool": "a"})
	w.SubnetTiny = subnet("us-east-1a", "10.0.2.0/28", nil)
	w.SubnetB = subnet("us-east-1b", "10.0.3.0/24", nil)
	w.SecurityGroup, err = f.AddSecurityGroup(w.VPC, "nodes", eni.Tags{"eniway.io/role": "nodes"})
	require.NoError(t, err)
	w.RouteTable, err = f.AddRouteTable(w.VPC, true, w.SubnetA.ID, w.SubnetB.ID)
	require.NoError(t, err)
	instance := func(typ, subnet string) eni.Instance {
		in, err := f.AddInstance(fake.InstanceSpec{Type: typ, SubnetID: subnet, SecurityGroupIDs: []string{w.SecurityGroup}})
		require.NoError(t, err)
		return in
	}
	w.Small = instance("m5.large", w.SubnetA.ID)
	w.Large = instance("m5.4xlarge", w.SubnetA.ID)
	w.Xen = instance("t2.medium", w.SubnetA.ID)
	w.Other = instance("m5.large", w.SubnetB.ID)
	return w
}

// Run runs the conformance suite against the backend newCloud returns.
func Run(t *testing.T, newCloud NewCloud) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, c eni.Cloud, w *World)
	}{
		{"DescribeInstance", testDescribeInstance},
		{"DescribeInstanceTypes", testDescribeInstanceTypes},
		{"DescribeNetwork", testDescribeNetwork},
		{"CreateENI", testCreateENI},
		{"AttachLimits", testAttachLimits},
		{"AddressLimits", testAddressLimits},
		{"Prefixes", testPrefixes},
		{"SubnetExhaustion", testSubnetExhaustion},
		{"DetachDelete", testDetachDelete},
		{"DescribeENIs", testDescribeENIs},
		{"Tags", testTags},
		{"DeleteOnTermination", testDeleteOnTermination},
		{"ConcurrentAssign", testConcurrentAssign},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWorld(t)
			tc.test(t, newCloud(t, w.Fake), w)
		})
	}
}

// requireCode checks that err wraps sentinel and carries the AWS code.
func requireCode(t *testing.T, err error, sentinel error, code string) {
	t.Helper()
	require.ErrorIs(t, err, sentinel)
	var apiErr *eni.APIError
	require.True(t, errors.As(err, &apiErr), "error %v is not an *eni.APIError", err)
	require.Equal(t, code, apiErr.Code)
}

func subnetFree(t *testing.T, c eni.Cloud, id string) int {
	t.Helper()
	subnets, err := c.DescribeSubnets(t.Context(), eni.SubnetFilter{IDs: []string{id}})
	require.NoError(t, err)
	require.Len(t, subnets, 1)
	return subnets[0].AvailableIPs
}

// usable reports whether a is a host address AWS lets an interface use in
// the subnet: inside it and not one of the 5 reserved.
func usable(subnet netip.Prefix, a netip.Addr) bool {
	if !subnet.Contains(a) {
		return false
	}
	first := subnet.Masked().Addr()
	for range 4 {
		if a == first {
			return false
		}
		first = first.Next()
	}
	last := subnet.Masked().Addr()
	for range 1<<(32-subnet.Bits()) - 1 {
		last = last.Next()
	}
	return a != last
}

func testDescribeInstance(t *testing.T, c eni.Cloud, w *World) {
	in, err := c.DescribeInstance(t.Context(), w.Small.ID)
	require.NoError(t, err)
	require.Equal(t, "m5.large", in.Type)
	require.Equal(t, w.VPC, in.VPCID)
	require.Equal(t, w.SubnetA.ID, in.SubnetID)
	require.Equal(t, "us-east-1a", in.AvailabilityZone)
	require.Len(t, in.ENIs, 1)
	primary := in.ENIs[0]
	require.NotNil(t, primary.Attachment)
	require.Equal(t, 0, primary.Attachment.DeviceIndex)
	require.Equal(t, w.Small.ID, primary.Attachment.InstanceID)
	require.True(t, primary.Attachment.DeleteOnTermination)
	require.Equal(t, eni.StatusInUse, primary.Status)
	require.True(t, usable(w.SubnetA.CIDR, primary.PrimaryIP), "primary IP %s", primary.PrimaryIP)
	require.Equal(t, []string{w.SecurityGroup}, primary.SecurityGroupIDs)

	e, err := c.CreateENI(t.Context(), eni.CreateENIInput{SubnetID: w.SubnetA.ID, Tags: eni.Tags{"k": "v"}})
	require.NoError(t, err)
	_, err = c.AttachENI(t.Context(), eni.AttachInput{ENIID: e.ID, InstanceID: w.Small.ID, DeviceIndex: 1})
	require.NoError(t, err)
	in, err = c.DescribeInstance(t.Context(), w.Small.ID)
	require.NoError(t, err)
	require.Len(t, in.ENIs, 2)
	require.Equal(t, e.ID, in.ENIs[1].ID)
	require.Equal(t, "us-east-1a", in.ENIs[1].AvailabilityZone)
	require.Nil(t, in.ENIs[1].Tags, "DescribeInstances reports no interface tags")

	_, err = c.DescribeInstance(t.Context(), "i-0000000000000dead")
	requireCode(t, err, eni.ErrInstanceNotFound, "InvalidInstanceID.NotFound")
	require.ErrorIs(t, err, eni.ErrNotFound)
}

func testDescribeInstanceTypes(t *testing.T, c eni.Cloud, _ *World) {
	got, err := c.DescribeInstanceTypes(t.Context(), "m5.large", "m7g.xlarge", "m5.4xlarge")
	require.NoError(t, err)
	require.Len(t, got, 3)
	for i, want := range []struct {
		name         string
		enis, ipv4   int
		prefixes     bool
		maxSecondary int
	}{{"m5.large", 3, 10, true, 9}, {"m7g.xlarge", 4, 15, true, 14}, {"m5.4xlarge", 8, 30, true, 29}} {
		require.Equal(t, want.name, got[i].InstanceType)
		require.Equal(t, want.enis, got[i].MaxENIs, want.name)
		require.Equal(t, want.ipv4, got[i].IPv4PerENI, want.name)
		require.Equal(t, want.prefixes, got[i].PrefixDelegation(), want.name)
		require.Equal(t, want.maxSecondary, got[i].MaxSecondaryIPv4(), want.name)
	}
	xen, err := c.DescribeInstanceTypes(t.Context(), "t2.medium")
	require.NoError(t, err)
	require.False(t, xen[0].PrefixDelegation())

	_, err = c.DescribeInstanceTypes(t.Context(), "m5.large", "x9.nonexistent")
	requireCode(t, err, eni.ErrInvalidParameter, "InvalidInstanceType")
}

func testDescribeNetwork(t *testing.T, c eni.Cloud, w *World) {
	ctx := t.Context()
	all, err := c.DescribeSubnets(ctx, eni.SubnetFilter{VPCID: w.VPC})
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.True(t, slices.IsSortedFunc(all, func(a, b eni.Subnet) int { return cmpString(a.ID, b.ID) }))

	byAZ, err := c.DescribeSubnets(ctx, eni.SubnetFilter{AvailabilityZone: "us-east-1b"})
	require.NoError(t, err)
	require.Len(t, byAZ, 1)
	require.Equal(t, w.SubnetB.ID, byAZ[0].ID)
	require.Equal(t, netip.MustParsePrefix("10.0.3.0/24"), byAZ[0].CIDR)
	// 256 - 5 reserved - the primary address of Other.
	require.Equal(t, 250, byAZ[0].AvailableIPs)

	byTag, err := c.DescribeSubnets(ctx, eni.SubnetFilter{Tags: eni.Tags{"eniway.io/pool": ""}})
	require.NoError(t, err)
	require.Len(t, byTag, 1)
	require.Equal(t, w.SubnetA.ID, byTag[0].ID)
	require.Equal(t, "a", byTag[0].Tags["eniway.io/pool"])

	tiny, err := c.DescribeSubnets(ctx, eni.SubnetFilter{IDs: []string{w.SubnetTiny.ID}})
	require.NoError(t, err)
	require.Len(t, tiny, 1)
	require.Equal(t, 11, tiny[0].AvailableIPs, "a /28 keeps 16 - 5 reserved")

	groups, err := c.DescribeSecurityGroups(ctx, eni.SecurityGroupFilter{Tags: eni.Tags{"eniway.io/role": "nodes"}})
	require.NoError(t, err)
	require.Len(t, groups, 1)
	require.Equal(t, w.SecurityGroup, groups[0].ID)
	require.Equal(t, w.VPC, groups[0].VPCID)

	tables, err := c.DescribeRouteTables(ctx, eni.RouteTableFilter{SubnetID: w.SubnetB.ID})
	require.NoError(t, err)
	require.Len(t, tables, 1)
	require.Equal(t, w.RouteTable, tables[0].ID)
	require.True(t, tables[0].Main)
	none, err := c.DescribeRouteTables(ctx, eni.RouteTableFilter{SubnetID: w.SubnetTiny.ID})
	require.NoError(t, err)
	require.Empty(t, none)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testCreateENI(t *testing.T, c eni.Cloud, w *World) {
	ctx := t.Context()
	before := subnetFree(t, c, w.SubnetA.ID)
	e, err := c.CreateENI(ctx, eni.CreateENIInput{
		SubnetID: w.SubnetA.ID, SecurityGroupIDs: []string{w.SecurityGroup}, Description: "pods",
		SecondaryIPs: 4, Tags: eni.Tags{"eniway.io/cluster": "demo"},
	})
	require.NoError(t, err)
	require.Equal(t, eni.StatusAvailable, e.Status)
	require.Nil(t, e.Attachment)
	require.Equal(t, w.SubnetA.ID, e.SubnetID)
	require.Equal(t, w.VPC, e.VPCID)
	require.Equal(t, "us-east-1a", e.AvailabilityZone)
	require.Equal(t, "pods", e.Description)
	require.Equal(t, "demo", e.Tags["eniway.io/cluster"])
	require.NotEmpty(t, e.MAC)
	require.Len(t, e.SecondaryIPs, 4)
	seen := map[netip.Addr]bool{e.PrimaryIP: true}
	for _, a := range append([]netip.Addr{e.PrimaryIP}, e.SecondaryIPs...) {
		require.True(t, usable(w.SubnetA.CIDR, a), "address %s", a)
		seen[a] = true
	}
	require.Len(t, seen, 5, "addresses are distinct")
	require.Equal(t, before-5, subnetFree(t, c, w.SubnetA.ID))

	_, err = c.CreateENI(ctx, eni.CreateENIInput{SubnetID: "subnet-0000000000000dead"})
	requireCode(t, err, eni.ErrSubnetNotFound, "InvalidSubnetID.NotFound")
	_, err = c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.SubnetA.ID, SecondaryIPs: 1, Prefixes: 1})
	require.ErrorIs(t, err, eni.ErrInvalidParameter)
	_, err = c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.SubnetA.ID, SecurityGroupIDs: []string{"sg-0000000000000dead"}})
	requireCode(t, err, eni.ErrSecurityGroupNotFound, "InvalidGroup.NotFound")
	require.Equal(t, before-5, subnetFree(t, c, w.SubnetA.ID), "failed creates consume nothing")
}

func createAttached(t *testing.T, c eni.Cloud, subnet string, in eni.Instance, index int) (eni.ENI, string) {
	t.Helper()
	e, err := c.CreateENI(t.Context(), eni.CreateENIInput{SubnetID: subnet})
	require.NoError(t, err)
	att, err := c.AttachENI(t.Context(), eni.AttachInput{ENIID: e.ID, InstanceID: in.ID, DeviceIndex: index})
	require.NoError(t, err)
	require.NotEmpty(t, att)
	return e, att
}

func testAttachLimits(t *testing.T, c eni.Cloud, w *World) {
	ctx := t.Context()
	e1, att1 := createAttached(t, c, w.SubnetA.ID, w.Small, 1)
	got, err := c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{e1.ID}})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, eni.StatusInUse, got[0].Status)
	require.Equal(t, &eni.Attachment{ID: att1, InstanceID: w.Small.ID, DeviceIndex: 1}, got[0].Attachment)

	// Device index 1 is taken; index 0 is the primary's.
	e2, err := c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.SubnetA.ID})
	require.NoError(t, err)
	for _, idx := range []int{0, 1, -1} {
		_, err = c.AttachENI(ctx, eni.AttachInput{ENIID: e2.ID, InstanceID: w.Small.ID, DeviceIndex: idx})
		require.ErrorIs(t, err, eni.ErrInvalidParameter, "device index %d", idx)
	}
	_, err = c.AttachENI(ctx, eni.AttachInput{ENIID: e2.ID, InstanceID: w.Small.ID, DeviceIndex: 2, NetworkCardIndex: 1})
	require.ErrorIs(t, err, eni.ErrInvalidParameter, "network card 1 on a single-card type")
	// Another AZ.
	_, err = c.AttachENI(ctx, eni.AttachInput{ENIID: e2.ID, InstanceID: w.Other.ID, DeviceIndex: 1})
	require.ErrorIs(t, err, eni.ErrInvalidParameter)
	// Already attached.
	_, err = c.AttachENI(ctx, eni.AttachInput{ENIID: e1.ID, InstanceID: w.Large.ID, DeviceIndex: 1})
	requireCode(t, err, eni.ErrInUse, "InvalidNetworkInterface.InUse")
	_, err = c.AttachENI(ctx, eni.AttachInput{ENIID: "eni-0000000000000dead", InstanceID: w.Small.ID, DeviceIndex: 2})
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")
	_, err = c.AttachENI(ctx, eni.AttachInput{ENIID: e2.ID, InstanceID: "i-0000000000000dead", DeviceIndex: 2})
	requireCode(t, err, eni.ErrInstanceNotFound, "InvalidInstanceID.NotFound")

	// m5.large holds 3 interfaces: the primary and two more.
	_, err = c.AttachENI(ctx, eni.AttachInput{ENIID: e2.ID, InstanceID: w.Small.ID, DeviceIndex: 2})
	require.NoError(t, err)
	e3, err := c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.SubnetA.ID})
	require.NoError(t, err)
	_, err = c.AttachENI(ctx, eni.AttachInput{ENIID: e3.ID, InstanceID: w.Small.ID, DeviceIndex: 3})
	requireCode(t, err, eni.ErrAttachmentLimitExceeded, "AttachmentLimitExceeded")

	in, err := c.DescribeInstance(ctx, w.Small.ID)
	require.NoError(t, err)
	require.Len(t, in.ENIs, 3)
	for i, e := range in.ENIs {
		require.Equal(t, i, e.Attachment.DeviceIndex, "ENIs ordered by device index")
	}
}

func testAddressLimits(t *testing.T, c eni.Cloud, w *World) {
	ctx := t.Context()
	e, _ := createAttached(t, c, w.SubnetA.ID, w.Small, 1)
	// m5.large: 10 IPv4 per ENI, the primary included.
	ips, err := c.AssignIPs(ctx, e.ID, 5)
	require.NoError(t, err)
	require.Len(t, ips, 5)
	more, err := c.AssignIPs(ctx, e.ID, 4)
	require.NoError(t, err)
	require.Len(t, more, 4)
	before := subnetFree(t, c, w.SubnetA.ID)
	_, err = c.AssignIPs(ctx, e.ID, 1)
	requireCode(t, err, eni.ErrAddressLimitExceeded, "PrivateIpAddressLimitExceeded")
	require.Equal(t, before, subnetFree(t, c, w.SubnetA.ID))

	got, err := c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{e.ID}})
	require.NoError(t, err)
	require.ElementsMatch(t, append(ips, more...), got[0].SecondaryIPs)

	// Unassign is all or nothing: one foreign address spoils the batch.
	err = c.UnassignIPs(ctx, e.ID, []netip.Addr{ips[0], netip.MustParseAddr("10.0.1.250")})
	require.ErrorIs(t, err, eni.ErrInvalidParameter)
	err = c.UnassignIPs(ctx, e.ID, []netip.Addr{got[0].PrimaryIP})
	require.ErrorIs(t, err, eni.ErrInvalidParameter, "the primary address cannot be unassigned")
	got, err = c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{e.ID}})
	require.NoError(t, err)
	require.Len(t, got[0].SecondaryIPs, 9)

	require.NoError(t, c.UnassignIPs(ctx, e.ID, ips[:2]))
	require.Equal(t, before+2, subnetFree(t, c, w.SubnetA.ID))
	got, err = c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{e.ID}})
	require.NoError(t, err)
	require.NotContains(t, got[0].SecondaryIPs, ips[0])
	require.Len(t, got[0].SecondaryIPs, 7)

	_, err = c.AssignIPs(ctx, e.ID, 0)
	require.ErrorIs(t, err, eni.ErrInvalidParameter)
	_, err = c.AssignIPs(ctx, "eni-0000000000000dead", 1)
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")
}

func testPrefixes(t *testing.T, c eni.Cloud, w *World) {
	ctx := t.Context()
	e, _ := createAttached(t, c, w.SubnetA.ID, w.Large, 1)
	before := subnetFree(t, c, w.SubnetA.ID)
	prefixes, err := c.AssignPrefixes(ctx, e.ID, 3)
	require.NoError(t, err)
	require.Len(t, prefixes, 3)
	for _, p := range prefixes {
		require.Equal(t, 28, p.Bits(), "prefix %s", p)
		require.Equal(t, p, p.Masked(), "prefix %s is aligned", p)
		require.True(t, w.SubnetA.CIDR.Contains(p.Addr()), "prefix %s in subnet", p)
		for a, i := p.Addr(), 0; i < 16; a, i = a.Next(), i+1 {
			require.True(t, usable(w.SubnetA.CIDR, a), "prefix %s holds reserved %s", p, a)
		}
	}
	require.False(t, prefixes[0].Overlaps(prefixes[1]) || prefixes[1].Overlaps(prefixes[2]) || prefixes[0].Overlaps(prefixes[2]))
	require.Equal(t, before-48, subnetFree(t, c, w.SubnetA.ID), "a /28 takes 16 addresses")

	// A secondary address never falls inside a prefix.
	ips, err := c.AssignIPs(ctx, e.ID, 20)
	require.NoError(t, err)
	for _, a := range ips {
		for _, p := range prefixes {
			require.False(t, p.Contains(a), "%s inside %s", a, p)
		}
	}

	require.NoError(t, c.UnassignPrefixes(ctx, e.ID, prefixes[:1]))
	err = c.UnassignPrefixes(ctx, e.ID, []netip.Prefix{prefixes[0]})
	require.ErrorIs(t, err, eni.ErrInvalidParameter, "already unassigned")

	// Xen instances cannot hold prefixes.
	x, _ := createAttached(t, c, w.SubnetA.ID, w.Xen, 1)
	_, err = c.AssignPrefixes(ctx, x.ID, 1)
	require.ErrorIs(t, err, eni.ErrInvalidParameter)

	// The tiny /28 has 11 free addresses but no /28 free of reserved ones.
	tiny, err := c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.SubnetTiny.ID})
	require.NoError(t, err)
	_, err = c.AttachENI(ctx, eni.AttachInput{ENIID: tiny.ID, InstanceID: w.Large.ID, DeviceIndex: 2})
	require.NoError(t, err)
	_, err = c.AssignPrefixes(ctx, tiny.ID, 1)
	requireCode(t, err, eni.ErrInsufficientCIDRBlocks, "InsufficientCidrBlocks")
	require.Equal(t, 10, subnetFree(t, c, w.SubnetTiny.ID))
}

func testSubnetExhaustion(t *testing.T, c eni.Cloud, w *World) {
	ctx := t.Context()
	e, err := c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.SubnetTiny.ID})
	require.NoError(t, err)
	_, err = c.AttachENI(ctx, eni.AttachInput{ENIID: e.ID, InstanceID: w.Large.ID, DeviceIndex: 1})
	require.NoError(t, err)
	require.Equal(t, 10, subnetFree(t, c, w.SubnetTiny.ID))
	// Asking for more than is free fails whole.
	_, err = c.AssignIPs(ctx, e.ID, 11)
	requireCode(t, err, eni.ErrInsufficientFreeAddresses, "InsufficientFreeAddressesInSubnet")
	require.Equal(t, 10, subnetFree(t, c, w.SubnetTiny.ID))
	ips, err := c.AssignIPs(ctx, e.ID, 10)
	require.NoError(t, err)
	require.Len(t, ips, 10)
	require.Equal(t, 0, subnetFree(t, c, w.SubnetTiny.ID))
	_, err = c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.SubnetTiny.ID})
	require.ErrorIs(t, err, eni.ErrInsufficientFreeAddresses)
	require.NoError(t, c.UnassignIPs(ctx, e.ID, ips[3:5]))
	require.Equal(t, 2, subnetFree(t, c, w.SubnetTiny.ID))
	again, err := c.AssignIPs(ctx, e.ID, 2)
	require.NoError(t, err)
	require.ElementsMatch(t, ips[3:5], again, "freed addresses are handed out again")
}

func testDetachDelete(t *testing.T, c eni.Cloud, w *World) {
	ctx := t.Context()
	before := subnetFree(t, c, w.SubnetA.ID)
	e, att := createAttached(t, c, w.SubnetA.ID, w.Small, 1)
	_, err := c.AssignIPs(ctx, e.ID, 3)
	require.NoError(t, err)
	require.Equal(t, before-4, subnetFree(t, c, w.SubnetA.ID))

	err = c.DeleteENI(ctx, e.ID)
	requireCode(t, err, eni.ErrInUse, "InvalidNetworkInterface.InUse")

	primaryAtt := w.Small.ENIs[0].Attachment.ID
	err = c.DetachENI(ctx, primaryAtt, false)
	requireCode(t, err, eni.ErrOperationNotPermitted, "OperationNotPermitted")
	err = c.DetachENI(ctx, "eni-attach-0000000000000dead", false)
	requireCode(t, err, eni.ErrAttachmentNotFound, "InvalidAttachmentID.NotFound")

	require.NoError(t, c.DetachENI(ctx, att, false))
	got, err := c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{e.ID}})
	require.NoError(t, err)
	require.Equal(t, eni.StatusAvailable, got[0].Status)
	require.Nil(t, got[0].Attachment)
	require.Len(t, got[0].SecondaryIPs, 3, "addresses stay with a detached interface")

	require.NoError(t, c.DeleteENI(ctx, e.ID))
	require.Equal(t, before, subnetFree(t, c, w.SubnetA.ID), "deleting releases every address")
	err = c.DeleteENI(ctx, e.ID)
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")
	_, err = c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{e.ID}})
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")
}

func testDescribeENIs(t *testing.T, c eni.Cloud, w *World) {
	ctx := t.Context()
	tagged, err := c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.SubnetA.ID, Tags: eni.Tags{"eniway.io/cluster": "demo", "eniway.io/node": "n1"}})
	require.NoError(t, err)
	attached, _ := createAttached(t, c, w.SubnetB.ID, w.Other, 1)

	byTag, err := c.DescribeENIs(ctx, eni.ENIFilter{Tags: eni.Tags{"eniway.io/cluster": "demo"}})
	require.NoError(t, err)
	require.Len(t, byTag, 1)
	require.Equal(t, tagged.ID, byTag[0].ID)

	byKey, err := c.DescribeENIs(ctx, eni.ENIFilter{Tags: eni.Tags{"eniway.io/node": ""}})
	require.NoError(t, err)
	require.Len(t, byKey, 1)

	available, err := c.DescribeENIs(ctx, eni.ENIFilter{Status: eni.StatusAvailable, VPCID: w.VPC})
	require.NoError(t, err)
	require.Len(t, available, 1)
	require.Equal(t, tagged.ID, available[0].ID)

	onOther, err := c.DescribeENIs(ctx, eni.ENIFilter{InstanceID: w.Other.ID})
	require.NoError(t, err)
	require.Len(t, onOther, 2, "primary and the new one")
	require.True(t, slices.ContainsFunc(onOther, func(e eni.ENI) bool { return e.ID == attached.ID }))

	inB, err := c.DescribeENIs(ctx, eni.ENIFilter{SubnetID: w.SubnetB.ID})
	require.NoError(t, err)
	require.Len(t, inB, 2)

	all, err := c.DescribeENIs(ctx, eni.ENIFilter{})
	require.NoError(t, err)
	require.Len(t, all, 6, "4 primaries, 2 created")
	require.True(t, slices.IsSortedFunc(all, func(a, b eni.ENI) int { return cmpString(a.ID, b.ID) }))

	// Results are copies: changing them changes nothing.
	all[0].SecondaryIPs = append(all[0].SecondaryIPs, netip.MustParseAddr("10.9.9.9"))
	all[0].Tags = eni.Tags{"x": "y"}
	again, err := c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{all[0].ID}})
	require.NoError(t, err)
	assert.NotContains(t, again[0].SecondaryIPs, netip.MustParseAddr("10.9.9.9"))
	assert.NotEqual(t, "y", again[0].Tags["x"])
}

func testTags(t *testing.T, c eni.Cloud, w *World) {
	ctx := t.Context()
	e, err := c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.SubnetA.ID, Tags: eni.Tags{"a": "1"}})
	require.NoError(t, err)
	require.NoError(t, c.CreateTags(ctx, []string{e.ID}, eni.Tags{"a": "2", "b": "3"}))
	got, err := c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{e.ID}})
	require.NoError(t, err)
	require.Equal(t, eni.Tags{"a": "2", "b": "3"}, got[0].Tags)

	err = c.CreateTags(ctx, []string{e.ID, "eni-0000000000000dead"}, eni.Tags{"c": "4"})
	require.ErrorIs(t, err, eni.ErrENINotFound)
	got, err = c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{e.ID}})
	require.NoError(t, err)
	require.NotContains(t, got[0].Tags, "c", "tagging is all or nothing")
}

func testDeleteOnTermination(t *testing.T, c eni.Cloud, w *World) {
	ctx := t.Context()
	e, att := createAttached(t, c, w.SubnetA.ID, w.Small, 1)
	require.NoError(t, c.SetDeleteOnTermination(ctx, e.ID, att, true))
	got, err := c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{e.ID}})
	require.NoError(t, err)
	require.True(t, got[0].Attachment.DeleteOnTermination)
	err = c.SetDeleteOnTermination(ctx, e.ID, w.Small.ENIs[0].Attachment.ID, true)
	require.ErrorIs(t, err, eni.ErrAttachmentNotFound, "the attachment must belong to the interface")
}

func testConcurrentAssign(t *testing.T, c eni.Cloud, w *World) {
	ctx := t.Context()
	var enis []string
	for i := 1; i <= 7; i++ {
		e, _ := createAttached(t, c, w.SubnetA.ID, w.Large, i)
		enis = append(enis, e.ID)
	}
	var (
		mu  sync.Mutex
		all []netip.Addr
		wg  sync.WaitGroup
	)
	for _, id := range enis {
		wg.Go(func() {
			for range 4 {
				ips, err := c.AssignIPs(ctx, id, 5)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				all = append(all, ips...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, all, 7*4*5)
	seen := map[netip.Addr]bool{}
	for _, a := range all {
		require.False(t, seen[a], "address %s handed out twice", a)
		seen[a] = true
	}
}
