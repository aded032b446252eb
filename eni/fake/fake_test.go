package fake_test

import (
	"net/netip"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
)

func TestIDsAndMACs(t *testing.T) {
	seed := func() (*world, eni.ENI) {
		w := newWorld(t, fake.Options{})
		return w, createENI(t, w.c, w.a.ID, 0)
	}
	w, e := seed()
	id := func(prefix string) *regexp.Regexp { return regexp.MustCompile(`^` + prefix + `-[0-9a-f]{17}$`) }
	assert.Regexp(t, id("vpc"), w.vpc)
	assert.Regexp(t, id("subnet"), w.a.ID)
	assert.Regexp(t, id("sg"), w.sg)
	assert.Regexp(t, id("i"), w.small.ID)
	assert.Regexp(t, id("eni"), e.ID)
	assert.Regexp(t, id("eni-attach"), w.small.ENIs[0].Attachment.ID)
	rt, err := w.c.AddRouteTable(w.vpc, true, w.a.ID)
	require.NoError(t, err)
	assert.Regexp(t, id("rtb"), rt)
	assert.Regexp(t, `^02(:[0-9a-f]{2}){5}$`, e.MAC)

	macs := map[string]bool{}
	for _, e := range w.c.ENIs() {
		assert.False(t, macs[e.MAC], "MAC %s twice", e.MAC)
		macs[e.MAC] = true
	}

	// The same seeding gives the same IDs, MACs and addresses.
	w2, e2 := seed()
	require.Equal(t, w.small, w2.small)
	require.Equal(t, e, e2)
}

func TestSeedingErrors(t *testing.T) {
	w := newWorld(t, fake.Options{})
	otherVPC, err := w.c.AddVPC(netip.MustParsePrefix("10.0.0.0/16"))
	require.NoError(t, err, "VPCs may overlap")

	for _, tc := range []struct {
		name string
		err  func() error
		code string
	}{
		{"VPC too large", func() error { _, err := w.c.AddVPC(netip.MustParsePrefix("10.0.0.0/15")); return err }, "InvalidVpc.Range"},
		{"VPC not masked", func() error { _, err := w.c.AddVPC(netip.MustParsePrefix("10.0.0.1/16")); return err }, "InvalidVpc.Range"},
		{"VPC IPv6", func() error { _, err := w.c.AddVPC(netip.MustParsePrefix("fd00::/56")); return err }, "InvalidVpc.Range"},
		{"subnet in unknown VPC", func() error {
			_, err := w.c.AddSubnet(fake.SubnetSpec{VPCID: "vpc-0000000000000dead", CIDR: netip.MustParsePrefix("10.0.9.0/24")})
			return err
		}, "InvalidVpcID.NotFound"},
		{"subnet outside VPC", func() error {
			_, err := w.c.AddSubnet(fake.SubnetSpec{VPCID: w.vpc, CIDR: netip.MustParsePrefix("10.1.0.0/24")})
			return err
		}, "InvalidSubnet.Range"},
		{"subnet /29", func() error {
			_, err := w.c.AddSubnet(fake.SubnetSpec{VPCID: w.vpc, CIDR: netip.MustParsePrefix("10.0.9.0/29")})
			return err
		}, "InvalidSubnet.Range"},
		{"subnet larger than VPC", func() error {
			v, err := w.c.AddVPC(netip.MustParsePrefix("172.16.0.0/24"))
			require.NoError(t, err)
			_, err = w.c.AddSubnet(fake.SubnetSpec{VPCID: v, CIDR: netip.MustParsePrefix("172.16.0.0/23")})
			return err
		}, "InvalidSubnet.Range"},
		{"subnet overlap", func() error {
			_, err := w.c.AddSubnet(fake.SubnetSpec{VPCID: w.vpc, CIDR: netip.MustParsePrefix("10.0.1.128/25")})
			return err
		}, "InvalidSubnet.Conflict"},
		{"duplicate group", func() error { _, err := w.c.AddSecurityGroup(w.vpc, "nodes", nil); return err }, "InvalidGroup.Duplicate"},
		{"group in unknown VPC", func() error { _, err := w.c.AddSecurityGroup("vpc-0000000000000dead", "x", nil); return err }, "InvalidVpcID.NotFound"},
		{"route table with a subnet of another VPC", func() error { _, err := w.c.AddRouteTable(otherVPC, false, w.a.ID); return err }, "InvalidSubnetID.NotFound"},
		{"route table in unknown VPC", func() error { _, err := w.c.AddRouteTable("vpc-0000000000000dead", false); return err }, "InvalidVpcID.NotFound"},
		{"unknown instance type", func() error {
			_, err := w.c.AddInstance(fake.InstanceSpec{Type: "x9.huge", SubnetID: w.a.ID})
			return err
		}, "InvalidParameterValue"},
		{"instance in unknown subnet", func() error {
			_, err := w.c.AddInstance(fake.InstanceSpec{Type: "m5.large", SubnetID: "subnet-0000000000000dead"})
			return err
		}, "InvalidSubnetID.NotFound"},
		{"instance with unknown group", func() error {
			_, err := w.c.AddInstance(fake.InstanceSpec{Type: "m5.large", SubnetID: w.a.ID, SecurityGroupIDs: []string{"sg-0000000000000dead"}})
			return err
		}, "InvalidGroup.NotFound"},
		{"terminate unknown instance", func() error { return w.c.TerminateInstance("i-0000000000000dead") }, "InvalidInstanceID.NotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var apiErr *eni.APIError
			require.ErrorAs(t, tc.err(), &apiErr)
			require.Equal(t, tc.code, apiErr.Code)
		})
	}

	// Route tables: one main per VPC, one table per subnet.
	_, err = w.c.AddRouteTable(w.vpc, true, w.a.ID)
	require.NoError(t, err)
	_, err = w.c.AddRouteTable(w.vpc, true)
	requireCode(t, err, nil, "Resource.AlreadyAssociated")
	_, err = w.c.AddRouteTable(w.vpc, false, w.a.ID)
	requireCode(t, err, nil, "Resource.AlreadyAssociated")
	_, err = w.c.AddRouteTable(w.vpc, false, w.b.ID)
	require.NoError(t, err)
}

func TestAddInstance(t *testing.T) {
	w := newWorld(t, fake.Options{})
	in := w.small
	require.Equal(t, "m5.large", in.Type)
	require.Equal(t, w.vpc, in.VPCID)
	require.Equal(t, w.a.ID, in.SubnetID)
	require.Equal(t, "us-east-1a", in.AvailabilityZone)
	require.Len(t, in.ENIs, 1)
	p := in.ENIs[0]
	require.Equal(t, eni.StatusInUse, p.Status)
	require.Equal(t, &eni.Attachment{ID: p.Attachment.ID, InstanceID: in.ID, DeviceIndex: 0, DeleteOnTermination: true}, p.Attachment)
	require.Equal(t, netip.MustParseAddr("10.0.1.4"), p.PrimaryIP, "the first address after the 4 reserved")
	require.Equal(t, []string{w.sg}, p.SecurityGroupIDs)
	require.Equal(t, w.a.ID, p.SubnetID)
	require.Equal(t, w.vpc, p.VPCID)

	got, err := w.c.DescribeInstance(t.Context(), in.ID)
	require.NoError(t, err)
	require.Equal(t, in, got)

	// The subnet default AZ.
	s, err := w.c.AddSubnet(fake.SubnetSpec{VPCID: w.vpc, CIDR: netip.MustParsePrefix("10.0.200.0/24")})
	require.NoError(t, err)
	require.Equal(t, "us-east-1a", s.AvailabilityZone)
}

func TestReservedAddresses(t *testing.T) {
	for _, tc := range []struct {
		cidr  string
		avail int
	}{
		{"10.0.16.0/28", 11},
		{"10.0.17.0/24", 251},
		{"10.0.32.0/20", 4091},
	} {
		t.Run(tc.cidr, func(t *testing.T) {
			w := newWorld(t, fake.Options{})
			s := addSubnet(t, w.c, w.vpc, "us-east-1a", tc.cidr)
			require.Equal(t, tc.avail, s.AvailableIPs)

			// Take every address, 50 at a time (the unattached limit).
			var got []netip.Addr
			for left := tc.avail; left > 0; {
				n := min(left, fake.UnattachedAddressLimit)
				e := createENI(t, w.c, s.ID, n-1)
				got = append(got, addrsOf(e)...)
				left -= n
				require.Equal(t, left, free(t, w.c, s.ID), "AvailableIPs = size - 5 - in use")
			}
			slices.SortFunc(got, netip.Addr.Compare)
			require.Equal(t, hosts(s.CIDR), got, "every host address once, none reserved")

			_, err := w.c.CreateENI(t.Context(), eni.CreateENIInput{SubnetID: s.ID})
			requireCode(t, err, eni.ErrInsufficientFreeAddresses, "InsufficientFreeAddressesInSubnet")
			described, err := w.c.DescribeSubnets(t.Context(), eni.SubnetFilter{IDs: []string{s.ID}})
			require.NoError(t, err)
			require.Equal(t, 0, described[0].AvailableIPs)
		})
	}
}

func TestExhaustion(t *testing.T) {
	w := newWorld(t, fake.Options{})
	e, _ := attach(t, w.c, w.tiny.ID, w.large, 1)
	require.Equal(t, 10, free(t, w.c, w.tiny.ID))

	// All or nothing: 11 asked, 10 free, none taken.
	_, err := w.c.AssignIPs(t.Context(), e.ID, 11)
	requireCode(t, err, eni.ErrInsufficientFreeAddresses, "InsufficientFreeAddressesInSubnet")
	require.Equal(t, 10, free(t, w.c, w.tiny.ID))
	require.Empty(t, describe(t, w.c, e.ID).SecondaryIPs)
	_, err = w.c.CreateENI(t.Context(), eni.CreateENIInput{SubnetID: w.tiny.ID, SecondaryIPs: 10})
	requireCode(t, err, eni.ErrInsufficientFreeAddresses, "InsufficientFreeAddressesInSubnet")
	require.Equal(t, 10, free(t, w.c, w.tiny.ID))

	ips, err := w.c.AssignIPs(t.Context(), e.ID, 10)
	require.NoError(t, err)
	require.Equal(t, hosts(w.tiny.CIDR)[1:], ips, "lowest free first")
	require.Equal(t, 0, free(t, w.c, w.tiny.ID))
	_, err = w.c.AssignIPs(t.Context(), e.ID, 1)
	requireCode(t, err, eni.ErrInsufficientFreeAddresses, "InsufficientFreeAddressesInSubnet")

	// Freed addresses come back, lowest first.
	require.NoError(t, w.c.UnassignIPs(t.Context(), e.ID, []netip.Addr{ips[7], ips[2]}))
	again, err := w.c.AssignIPs(t.Context(), e.ID, 1)
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{ips[2]}, again)
}

func TestPrefixes(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t, fake.Options{})
	s := addSubnet(t, w.c, w.vpc, "us-east-1a", "10.0.64.0/24")
	e := createENI(t, w.c, s.ID, 0) // primary 10.0.64.4, in the first /28
	require.Equal(t, netip.MustParseAddr("10.0.64.4"), e.PrimaryIP)

	// The first /28 holds reserved addresses and the last one the
	// broadcast: 14 of the 16 can be delegated.
	var all []netip.Prefix
	for range 7 {
		ps, err := w.c.AssignPrefixes(ctx, e.ID, 2)
		require.NoError(t, err)
		all = append(all, ps...)
	}
	for i, p := range all {
		require.Equal(t, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 64, byte(16 * (i + 1))}), 28), p)
	}
	require.Equal(t, 251-1-14*16, free(t, w.c, s.ID))
	_, err := w.c.AssignPrefixes(ctx, e.ID, 1)
	requireCode(t, err, eni.ErrInsufficientCIDRBlocks, "InsufficientCidrBlocks")
	require.Positive(t, free(t, w.c, s.ID), "addresses are left, /28 blocks are not")

	// Secondary addresses never fall inside a prefix.
	ips, err := w.c.AssignIPs(ctx, e.ID, 26)
	require.NoError(t, err)
	want := append(hosts(s.CIDR)[1:12], hosts(s.CIDR)[236:]...) // .5-.15, .240-.254
	require.Equal(t, want, ips)
	require.Equal(t, 0, free(t, w.c, s.ID))

	// Unassigning a prefix frees its 16 addresses at once.
	require.NoError(t, w.c.UnassignPrefixes(ctx, e.ID, all[3:4]))
	require.Equal(t, 16, free(t, w.c, s.ID))
	back, err := w.c.AssignPrefixes(ctx, e.ID, 1)
	require.NoError(t, err)
	require.Equal(t, all[3:4], back)

	// A /28 subnet never yields a prefix.
	tiny := createENI(t, w.c, w.tiny.ID, 0)
	_, err = w.c.AssignPrefixes(ctx, tiny.ID, 1)
	requireCode(t, err, eni.ErrInsufficientCIDRBlocks, "InsufficientCidrBlocks")
	_, err = w.c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.tiny.ID, Prefixes: 1})
	requireCode(t, err, eni.ErrInsufficientCIDRBlocks, "InsufficientCidrBlocks")
	require.Equal(t, 10, free(t, w.c, w.tiny.ID), "the failed create took no primary address")
}

func TestPrefixFragmentation(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t, fake.Options{})
	// A /26 has four /28 blocks; the first and last hold reserved
	// addresses, so .16/28 and .32/28 are the only candidates.
	s := addSubnet(t, w.c, w.vpc, "us-east-1a", "10.0.65.0/26")
	e := createENI(t, w.c, s.ID, 40) // .4 to .44
	keep := []netip.Addr{netip.MustParseAddr("10.0.65.20"), netip.MustParseAddr("10.0.65.40")}
	var drop []netip.Addr
	for _, a := range e.SecondaryIPs {
		if !slices.Contains(keep, a) {
			drop = append(drop, a)
		}
	}
	require.NoError(t, w.c.UnassignIPs(ctx, e.ID, drop))
	// Three addresses in use, one in each of the first three blocks.
	require.Equal(t, 64-5-3, free(t, w.c, s.ID))

	_, err := w.c.AssignPrefixes(ctx, e.ID, 1)
	requireCode(t, err, eni.ErrInsufficientCIDRBlocks, "InsufficientCidrBlocks")
	_, err = w.c.CreateENI(ctx, eni.CreateENIInput{SubnetID: s.ID, Prefixes: 1})
	requireCode(t, err, eni.ErrInsufficientCIDRBlocks, "InsufficientCidrBlocks")
	require.Equal(t, 56, free(t, w.c, s.ID), "failures take nothing")

	// Freeing the one address in .16/28 makes it delegable.
	require.NoError(t, w.c.UnassignIPs(ctx, e.ID, keep[:1]))
	got, err := w.c.AssignPrefixes(ctx, e.ID, 1)
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.65.16/28")}, got)
	require.Equal(t, 64-5-2-16, free(t, w.c, s.ID))
}

func TestDescribeInstanceTypes(t *testing.T) {
	c := fake.New(fake.Options{InstanceTypes: []eni.Limits{
		{InstanceType: "m5.large", MaxENIs: 2, IPv4PerENI: 4, Hypervisor: "nitro", VCPUs: 2},
		{InstanceType: "c6in.metal", MaxENIs: 16, IPv4PerENI: 50, IPv6PerENI: 50, BareMetal: true, VCPUs: 128},
	}})
	ctx := t.Context()
	all, err := fake.New(fake.Options{}).DescribeInstanceTypes(ctx)
	require.NoError(t, err)
	require.Equal(t, []eni.Limits{
		{InstanceType: "m5.4xlarge", MaxENIs: 8, IPv4PerENI: 30, IPv6PerENI: 30, Hypervisor: "nitro", VCPUs: 16},
		{InstanceType: "m5.large", MaxENIs: 3, IPv4PerENI: 10, IPv6PerENI: 10, Hypervisor: "nitro", VCPUs: 2},
		{InstanceType: "m5.xlarge", MaxENIs: 4, IPv4PerENI: 15, IPv6PerENI: 15, Hypervisor: "nitro", VCPUs: 4},
		{InstanceType: "m7g.xlarge", MaxENIs: 4, IPv4PerENI: 15, IPv6PerENI: 15, Hypervisor: "nitro", VCPUs: 4},
		{InstanceType: "t2.medium", MaxENIs: 3, IPv4PerENI: 6, IPv6PerENI: 6, Hypervisor: "xen", VCPUs: 2},
	}, all, "the built-in types, by name")

	got, err := c.DescribeInstanceTypes(ctx, "c6in.metal", "m5.large", "t2.medium")
	require.NoError(t, err)
	require.Equal(t, []string{"c6in.metal", "m5.large", "t2.medium"}, []string{got[0].InstanceType, got[1].InstanceType, got[2].InstanceType})
	require.True(t, got[0].PrefixDelegation(), "bare metal")
	require.Equal(t, 2, got[1].MaxENIs, "Options.InstanceTypes overrides a built-in type")
	require.False(t, got[2].PrefixDelegation())

	c.AddInstanceType(eni.Limits{InstanceType: "x1.test", MaxENIs: 1, IPv4PerENI: 2, Hypervisor: "nitro"})
	got, err = c.DescribeInstanceTypes(ctx, "x1.test")
	require.NoError(t, err)
	require.Equal(t, 1, got[0].MaxENIs)

	_, err = c.DescribeInstanceTypes(ctx, "m5.large", "x9.nonexistent")
	requireCode(t, err, eni.ErrInvalidParameter, "InvalidInstanceType")

	require.Panics(t, func() { c.AddInstanceType(eni.Limits{InstanceType: "bad"}) })
	require.Error(t, fake.Options{Latency: -1}.Validate())
	require.Error(t, fake.Options{InstanceTypes: []eni.Limits{{InstanceType: "big", MaxENIs: 1, IPv4PerENI: 51}}}.Validate())
	require.NoError(t, fake.Options{}.Validate())
	require.Panics(t, func() { fake.New(fake.Options{DescribeDelay: -1}) })
}

func TestAddressLimits(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t, fake.Options{})

	t.Run("m5.large secondary", func(t *testing.T) {
		e, _ := attach(t, w.c, w.a.ID, w.small, 1)
		_, err := w.c.AssignIPs(ctx, e.ID, 10)
		requireCode(t, err, eni.ErrAddressLimitExceeded, "PrivateIpAddressLimitExceeded")
		ips, err := w.c.AssignIPs(ctx, e.ID, 9)
		require.NoError(t, err, "10 addresses per ENI, the primary included")
		require.Len(t, ips, 9)
		before := free(t, w.c, w.a.ID)
		_, err = w.c.AssignIPs(ctx, e.ID, 1)
		requireCode(t, err, eni.ErrAddressLimitExceeded, "PrivateIpAddressLimitExceeded")
		require.Equal(t, before, free(t, w.c, w.a.ID))
		require.Len(t, describe(t, w.c, e.ID).SecondaryIPs, 9)
	})

	t.Run("primary interface", func(t *testing.T) {
		p := w.small.ENIs[0].ID
		_, err := w.c.AssignIPs(ctx, p, 9)
		require.NoError(t, err)
		_, err = w.c.AssignIPs(ctx, p, 1)
		requireCode(t, err, eni.ErrAddressLimitExceeded, "PrivateIpAddressLimitExceeded")
	})

	t.Run("prefixes take one slot each", func(t *testing.T) {
		e, _ := attach(t, w.c, w.a.ID, w.small, 2)
		_, err := w.c.AssignIPs(ctx, e.ID, 5)
		require.NoError(t, err)
		_, err = w.c.AssignPrefixes(ctx, e.ID, 4)
		require.NoError(t, err)
		_, err = w.c.AssignPrefixes(ctx, e.ID, 1)
		requireCode(t, err, eni.ErrAddressLimitExceeded, "PrivateIpAddressLimitExceeded")
		_, err = w.c.AssignIPs(ctx, e.ID, 1)
		requireCode(t, err, eni.ErrAddressLimitExceeded, "PrivateIpAddressLimitExceeded")
	})

	t.Run("unattached", func(t *testing.T) {
		_, err := w.c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.a.ID, SecondaryIPs: fake.UnattachedAddressLimit})
		requireCode(t, err, eni.ErrAddressLimitExceeded, "PrivateIpAddressLimitExceeded")
		e := createENI(t, w.c, w.a.ID, fake.UnattachedAddressLimit-1)
		_, err = w.c.AssignIPs(ctx, e.ID, 1)
		requireCode(t, err, eni.ErrAddressLimitExceeded, "PrivateIpAddressLimitExceeded")
		_, err = w.c.AttachENI(ctx, eni.AttachInput{ENIID: e.ID, InstanceID: w.large.ID, DeviceIndex: 1})
		requireCode(t, err, eni.ErrAddressLimitExceeded, "PrivateIpAddressLimitExceeded")
		require.Equal(t, eni.StatusAvailable, describe(t, w.c, e.ID).Status)

		// Shrunk to what an m5.4xlarge allows, it attaches.
		require.NoError(t, w.c.UnassignIPs(ctx, e.ID, e.SecondaryIPs[29:]))
		_, err = w.c.AttachENI(ctx, eni.AttachInput{ENIID: e.ID, InstanceID: w.large.ID, DeviceIndex: 1})
		require.NoError(t, err)
		_, err = w.c.AssignIPs(ctx, e.ID, 1)
		requireCode(t, err, eni.ErrAddressLimitExceeded, "PrivateIpAddressLimitExceeded")
	})

	t.Run("no prefixes on xen", func(t *testing.T) {
		x, _ := attach(t, w.c, w.a.ID, w.xen, 1)
		_, err := w.c.AssignPrefixes(ctx, x.ID, 1)
		requireCode(t, err, eni.ErrInvalidParameter, "InvalidParameterValue")
		withPrefix, err := w.c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.a.ID, Prefixes: 1})
		require.NoError(t, err, "an unattached interface may hold prefixes")
		_, err = w.c.AttachENI(ctx, eni.AttachInput{ENIID: withPrefix.ID, InstanceID: w.xen.ID, DeviceIndex: 2})
		requireCode(t, err, eni.ErrInvalidParameter, "InvalidParameterValue")
		// t2.medium: 6 addresses per ENI.
		_, err = w.c.AssignIPs(ctx, x.ID, 6)
		requireCode(t, err, eni.ErrAddressLimitExceeded, "PrivateIpAddressLimitExceeded")
		_, err = w.c.AssignIPs(ctx, x.ID, 5)
		require.NoError(t, err)
	})
}

func TestCreateENI(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t, fake.Options{})
	otherVPC, err := w.c.AddVPC(netip.MustParsePrefix("192.168.0.0/16"))
	require.NoError(t, err)
	foreignSG, err := w.c.AddSecurityGroup(otherVPC, "nodes", nil)
	require.NoError(t, err)

	e, err := w.c.CreateENI(ctx, eni.CreateENIInput{
		SubnetID: w.b.ID, SecurityGroupIDs: []string{w.sg}, Description: "pods", Prefixes: 2, Tags: eni.Tags{"k": "v"},
	})
	require.NoError(t, err)
	require.Equal(t, eni.ENI{
		ID: e.ID, SubnetID: w.b.ID, VPCID: w.vpc, AvailabilityZone: "us-east-1b", MAC: e.MAC, Description: "pods",
		SecurityGroupIDs: []string{w.sg}, PrimaryIP: netip.MustParseAddr("10.0.3.5"),
		Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.3.16/28"), netip.MustParsePrefix("10.0.3.32/28")},
		Status:   eni.StatusAvailable, Tags: eni.Tags{"k": "v"},
	}, e)

	before := free(t, w.c, w.a.ID)
	for _, tc := range []struct {
		name     string
		in       eni.CreateENIInput
		sentinel error
		code     string
	}{
		{"unknown subnet", eni.CreateENIInput{SubnetID: "subnet-0000000000000dead"}, eni.ErrSubnetNotFound, "InvalidSubnetID.NotFound"},
		{"unknown group", eni.CreateENIInput{SubnetID: w.a.ID, SecurityGroupIDs: []string{w.sg, "sg-0000000000000dead"}}, eni.ErrSecurityGroupNotFound, "InvalidGroup.NotFound"},
		{"group of another VPC", eni.CreateENIInput{SubnetID: w.a.ID, SecurityGroupIDs: []string{foreignSG}}, eni.ErrSecurityGroupNotFound, "InvalidGroup.NotFound"},
		{"both counts", eni.CreateENIInput{SubnetID: w.a.ID, SecondaryIPs: 1, Prefixes: 1}, eni.ErrInvalidParameter, "InvalidParameterCombination"},
		{"negative secondary", eni.CreateENIInput{SubnetID: w.a.ID, SecondaryIPs: -1}, eni.ErrInvalidParameter, "InvalidParameterValue"},
		{"negative prefixes", eni.CreateENIInput{SubnetID: w.a.ID, Prefixes: -1}, eni.ErrInvalidParameter, "InvalidParameterValue"},
		{"too many prefixes", eni.CreateENIInput{SubnetID: w.a.ID, Prefixes: 15}, eni.ErrInsufficientCIDRBlocks, "InsufficientCidrBlocks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(w.c.ENIs())
			_, err := w.c.CreateENI(ctx, tc.in)
			requireCode(t, err, tc.sentinel, tc.code)
			require.Len(t, w.c.ENIs(), n, "nothing created")
			require.Equal(t, before, free(t, w.c, w.a.ID), "nothing taken")
		})
	}
}

func TestAttach(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t, fake.Options{})
	e1, att1 := attach(t, w.c, w.a.ID, w.small, 1)
	got := describe(t, w.c, e1.ID)
	require.Equal(t, eni.StatusInUse, got.Status)
	require.Equal(t, &eni.Attachment{ID: att1, InstanceID: w.small.ID, DeviceIndex: 1}, got.Attachment)

	e2 := createENI(t, w.c, w.a.ID, 0)
	for _, tc := range []struct {
		name     string
		in       eni.AttachInput
		sentinel error
		code     string
	}{
		{"unknown interface", eni.AttachInput{ENIID: "eni-0000000000000dead", InstanceID: w.small.ID, DeviceIndex: 2}, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound"},
		{"unknown instance", eni.AttachInput{ENIID: e2.ID, InstanceID: "i-0000000000000dead", DeviceIndex: 2}, eni.ErrInstanceNotFound, "InvalidInstanceID.NotFound"},
		{"in use", eni.AttachInput{ENIID: e1.ID, InstanceID: w.large.ID, DeviceIndex: 1}, eni.ErrInUse, "InvalidNetworkInterface.InUse"},
		{"primary in use", eni.AttachInput{ENIID: w.large.ENIs[0].ID, InstanceID: w.small.ID, DeviceIndex: 2}, eni.ErrInUse, "InvalidNetworkInterface.InUse"},
		{"other AZ", eni.AttachInput{ENIID: e2.ID, InstanceID: w.other.ID, DeviceIndex: 1}, eni.ErrInvalidParameter, "InvalidParameterValue"},
		{"network card 1", eni.AttachInput{ENIID: e2.ID, InstanceID: w.small.ID, DeviceIndex: 2, NetworkCardIndex: 1}, eni.ErrInvalidParameter, "InvalidParameterValue"},
		{"device index 0", eni.AttachInput{ENIID: e2.ID, InstanceID: w.small.ID, DeviceIndex: 0}, eni.ErrInvalidParameter, "InvalidParameterValue"},
		{"device index taken", eni.AttachInput{ENIID: e2.ID, InstanceID: w.small.ID, DeviceIndex: 1}, eni.ErrInvalidParameter, "InvalidParameterValue"},
		{"device index negative", eni.AttachInput{ENIID: e2.ID, InstanceID: w.small.ID, DeviceIndex: -1}, eni.ErrInvalidParameter, "InvalidParameterValue"},
		{"device index out of range", eni.AttachInput{ENIID: e2.ID, InstanceID: w.small.ID, DeviceIndex: 3}, eni.ErrInvalidParameter, "InvalidParameterValue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.c.AttachENI(ctx, tc.in)
			requireCode(t, err, tc.sentinel, tc.code)
			require.Equal(t, eni.StatusAvailable, describe(t, w.c, e2.ID).Status)
			in, err := w.c.DescribeInstance(ctx, w.small.ID)
			require.NoError(t, err)
			require.Len(t, in.ENIs, 2)
		})
	}

	// m5.large: 3 interfaces, the primary included.
	att2, err := w.c.AttachENI(ctx, eni.AttachInput{ENIID: e2.ID, InstanceID: w.small.ID, DeviceIndex: 2})
	require.NoError(t, err)
	e3 := createENI(t, w.c, w.a.ID, 0)
	_, err = w.c.AttachENI(ctx, eni.AttachInput{ENIID: e3.ID, InstanceID: w.small.ID, DeviceIndex: 3})
	requireCode(t, err, eni.ErrAttachmentLimitExceeded, "AttachmentLimitExceeded")

	in, err := w.c.DescribeInstance(ctx, w.small.ID)
	require.NoError(t, err)
	require.Equal(t, []string{w.small.ENIs[0].ID, e1.ID, e2.ID}, []string{in.ENIs[0].ID, in.ENIs[1].ID, in.ENIs[2].ID})
	for i, e := range in.ENIs {
		require.Equal(t, i, e.Attachment.DeviceIndex, "ordered by device index")
	}

	// Detaching frees the index and the slot; attach order does not matter.
	require.NoError(t, w.c.DetachENI(ctx, att1, false))
	_, err = w.c.AttachENI(ctx, eni.AttachInput{ENIID: e3.ID, InstanceID: w.small.ID, DeviceIndex: 1})
	require.NoError(t, err)
	in, err = w.c.DescribeInstance(ctx, w.small.ID)
	require.NoError(t, err)
	require.Equal(t, []string{w.small.ENIs[0].ID, e3.ID, e2.ID}, []string{in.ENIs[0].ID, in.ENIs[1].ID, in.ENIs[2].ID})
	require.Equal(t, att2, in.ENIs[2].Attachment.ID)
}

func TestDetachDelete(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t, fake.Options{})
	before := free(t, w.c, w.a.ID)
	e, att := attach(t, w.c, w.a.ID, w.small, 1)
	_, err := w.c.AssignIPs(ctx, e.ID, 3)
	require.NoError(t, err)
	prefixes, err := w.c.AssignPrefixes(ctx, e.ID, 2)
	require.NoError(t, err)
	require.Equal(t, before-4-32, free(t, w.c, w.a.ID))

	err = w.c.DeleteENI(ctx, e.ID)
	requireCode(t, err, eni.ErrInUse, "InvalidNetworkInterface.InUse")
	err = w.c.DeleteENI(ctx, w.small.ENIs[0].ID)
	requireCode(t, err, eni.ErrInUse, "InvalidNetworkInterface.InUse")
	err = w.c.DetachENI(ctx, w.small.ENIs[0].Attachment.ID, true)
	requireCode(t, err, eni.ErrOperationNotPermitted, "OperationNotPermitted")
	err = w.c.DetachENI(ctx, "eni-attach-0000000000000dead", false)
	requireCode(t, err, eni.ErrAttachmentNotFound, "InvalidAttachmentID.NotFound")

	require.NoError(t, w.c.DetachENI(ctx, att, false))
	got := describe(t, w.c, e.ID)
	require.Equal(t, eni.StatusAvailable, got.Status)
	require.Nil(t, got.Attachment)
	require.Len(t, got.SecondaryIPs, 3, "addresses stay with a detached interface")
	require.Equal(t, prefixes, got.Prefixes)
	err = w.c.DetachENI(ctx, att, false)
	requireCode(t, err, eni.ErrAttachmentNotFound, "InvalidAttachmentID.NotFound")
	err = w.c.SetDeleteOnTermination(ctx, e.ID, att, true)
	requireCode(t, err, eni.ErrAttachmentNotFound, "InvalidAttachmentID.NotFound")

	require.NoError(t, w.c.DeleteENI(ctx, e.ID))
	require.Equal(t, before, free(t, w.c, w.a.ID), "deleting releases every address and prefix")
	err = w.c.DeleteENI(ctx, e.ID)
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")
	_, err = w.c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{e.ID}})
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")
	_, err = w.c.AssignIPs(ctx, e.ID, 1)
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")
}

func TestDeleteOnTerminationAndTerminate(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t, fake.Options{})
	before := free(t, w.c, w.a.ID)
	keep, keepAtt := attach(t, w.c, w.a.ID, w.large, 1)
	gone, goneAtt := attach(t, w.c, w.a.ID, w.large, 2)
	_, err := w.c.AssignIPs(ctx, gone.ID, 5)
	require.NoError(t, err)
	_, err = w.c.AssignIPs(ctx, keep.ID, 2)
	require.NoError(t, err)

	require.NoError(t, w.c.SetDeleteOnTermination(ctx, gone.ID, goneAtt, true))
	require.True(t, describe(t, w.c, gone.ID).Attachment.DeleteOnTermination)
	require.NoError(t, w.c.SetDeleteOnTermination(ctx, keep.ID, keepAtt, false))
	err = w.c.SetDeleteOnTermination(ctx, keep.ID, goneAtt, true)
	requireCode(t, err, eni.ErrAttachmentNotFound, "InvalidAttachmentID.NotFound")
	err = w.c.SetDeleteOnTermination(ctx, "eni-0000000000000dead", goneAtt, true)
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")

	require.NoError(t, w.c.TerminateInstance(w.large.ID))
	_, err = w.c.DescribeInstance(ctx, w.large.ID)
	requireCode(t, err, eni.ErrInstanceNotFound, "InvalidInstanceID.NotFound")
	_, err = w.c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{gone.ID}})
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")
	_, err = w.c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{w.large.ENIs[0].ID}})
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")
	kept := describe(t, w.c, keep.ID)
	require.Equal(t, eni.StatusAvailable, kept.Status)
	require.Nil(t, kept.Attachment)
	require.Len(t, kept.SecondaryIPs, 2)
	// The primary of the large instance and gone's 6 addresses are back.
	require.Equal(t, before+1-3, free(t, w.c, w.a.ID))
	err = w.c.TerminateInstance(w.large.ID)
	requireCode(t, err, eni.ErrInstanceNotFound, "InvalidInstanceID.NotFound")
}

func TestUnassignAllOrNothing(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t, fake.Options{})
	e, _ := attach(t, w.c, w.a.ID, w.large, 1)
	ips, err := w.c.AssignIPs(ctx, e.ID, 4)
	require.NoError(t, err)
	prefixes, err := w.c.AssignPrefixes(ctx, e.ID, 2)
	require.NoError(t, err)
	other := w.small.ENIs[0]
	inPrefix := prefixes[0].Addr().Next()

	for _, tc := range []struct {
		name     string
		addrs    []netip.Addr
		prefixes []netip.Prefix
	}{
		{"no address", []netip.Addr{}, nil},
		{"a foreign address", []netip.Addr{ips[0], ips[1], netip.MustParseAddr("10.0.1.250")}, nil},
		{"another interface's address", []netip.Addr{ips[0], other.PrimaryIP}, nil},
		{"the primary address", []netip.Addr{ips[0], e.PrimaryIP}, nil},
		{"an address inside a prefix", []netip.Addr{ips[0], inPrefix}, nil},
		{"no prefix", nil, []netip.Prefix{}},
		{"a foreign prefix", nil, []netip.Prefix{prefixes[0], netip.MustParsePrefix("10.0.1.224/28")}},
		{"an unaligned prefix", nil, []netip.Prefix{netip.PrefixFrom(prefixes[1].Addr().Next(), 28)}},
		{"a /27 covering prefixes", nil, []netip.Prefix{netip.PrefixFrom(prefixes[0].Addr(), 27)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := free(t, w.c, w.a.ID)
			if tc.addrs != nil {
				err = w.c.UnassignIPs(ctx, e.ID, tc.addrs)
			} else {
				err = w.c.UnassignPrefixes(ctx, e.ID, tc.prefixes)
			}
			requireCode(t, err, eni.ErrInvalidParameter, "InvalidParameterValue")
			got := describe(t, w.c, e.ID)
			require.Equal(t, ips, got.SecondaryIPs)
			require.Equal(t, prefixes, got.Prefixes)
			require.Equal(t, before, free(t, w.c, w.a.ID))
		})
	}

	// An address listed twice is unassigned once.
	before := free(t, w.c, w.a.ID)
	require.NoError(t, w.c.UnassignIPs(ctx, e.ID, []netip.Addr{ips[1], ips[3], ips[1]}))
	require.Equal(t, []netip.Addr{ips[0], ips[2]}, describe(t, w.c, e.ID).SecondaryIPs, "assignment order kept")
	require.NoError(t, w.c.UnassignPrefixes(ctx, e.ID, []netip.Prefix{prefixes[0], prefixes[0]}))
	require.Equal(t, prefixes[1:], describe(t, w.c, e.ID).Prefixes)
	require.Equal(t, before+2+16, free(t, w.c, w.a.ID))

	_, err = w.c.AssignIPs(ctx, e.ID, 0)
	requireCode(t, err, eni.ErrInvalidParameter, "InvalidParameterValue")
	_, err = w.c.AssignPrefixes(ctx, e.ID, -1)
	requireCode(t, err, eni.ErrInvalidParameter, "InvalidParameterValue")
	err = w.c.UnassignIPs(ctx, "eni-0000000000000dead", ips[:1])
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")
	err = w.c.UnassignPrefixes(ctx, "eni-0000000000000dead", prefixes[:1])
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")
}

func TestCreateTags(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t, fake.Options{})
	e, err := w.c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.a.ID, Tags: eni.Tags{"a": "1"}})
	require.NoError(t, err)
	rt, err := w.c.AddRouteTable(w.vpc, false, w.a.ID)
	require.NoError(t, err)

	ids := []string{e.ID, w.a.ID, w.small.ID, w.sg, w.vpc, rt}
	require.NoError(t, w.c.CreateTags(ctx, ids, eni.Tags{"a": "2", "b": "3"}))
	require.Equal(t, eni.Tags{"a": "2", "b": "3"}, describe(t, w.c, e.ID).Tags)
	subnets, err := w.c.DescribeSubnets(ctx, eni.SubnetFilter{Tags: eni.Tags{"b": "3"}})
	require.NoError(t, err)
	require.Equal(t, []string{w.a.ID}, []string{subnets[0].ID})
	groups, err := w.c.DescribeSecurityGroups(ctx, eni.SecurityGroupFilter{Tags: eni.Tags{"b": ""}})
	require.NoError(t, err)
	require.Equal(t, eni.Tags{"role": "nodes", "a": "2", "b": "3"}, groups[0].Tags)
	tables, err := w.c.DescribeRouteTables(ctx, eni.RouteTableFilter{SubnetID: w.a.ID})
	require.NoError(t, err)
	require.Equal(t, eni.Tags{"a": "2", "b": "3"}, tables[0].Tags)

	for _, tc := range []struct {
		id       string
		sentinel error
		code     string
	}{
		{"eni-0000000000000dead", eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound"},
		{"subnet-0000000000000dead", eni.ErrSubnetNotFound, "InvalidSubnetID.NotFound"},
		{"i-0000000000000dead", eni.ErrInstanceNotFound, "InvalidInstanceID.NotFound"},
		{"sg-0000000000000dead", eni.ErrSecurityGroupNotFound, "InvalidGroup.NotFound"},
		{"vpc-0000000000000dead", nil, "InvalidVpcID.NotFound"},
		{"rtb-0000000000000dead", nil, "InvalidRouteTableID.NotFound"},
		{w.small.ENIs[0].Attachment.ID, nil, "InvalidID"},
		{"foo", nil, "InvalidID"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			err := w.c.CreateTags(ctx, []string{e.ID, w.a.ID, tc.id}, eni.Tags{"c": "4"})
			requireCode(t, err, tc.sentinel, tc.code)
			require.NotContains(t, describe(t, w.c, e.ID).Tags, "c", "all or nothing")
			s, _ := w.c.Subnet(w.a.ID)
			require.NotContains(t, s.Tags, "c", "all or nothing")
		})
	}
	requireCode(t, w.c.CreateTags(ctx, nil, eni.Tags{"c": "4"}), eni.ErrInvalidParameter, "MissingParameter")
	requireCode(t, w.c.CreateTags(ctx, []string{e.ID}, nil), eni.ErrInvalidParameter, "MissingParameter")
}

func TestDescribe(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t, fake.Options{})
	tagged, err := w.c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.a.ID, Tags: eni.Tags{"cluster": "demo", "node": "n1"}})
	require.NoError(t, err)
	onOther, _ := attach(t, w.c, w.b.ID, w.other, 1)
	ids := func(es []eni.ENI) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	primaries := []string{w.small.ENIs[0].ID, w.large.ENIs[0].ID, w.xen.ENIs[0].ID, w.other.ENIs[0].ID}

	for _, tc := range []struct {
		name string
		f    eni.ENIFilter
		want []string
	}{
		{"all", eni.ENIFilter{}, append(slices.Clone(primaries), tagged.ID, onOther.ID)},
		{"by tag value", eni.ENIFilter{Tags: eni.Tags{"cluster": "demo"}}, []string{tagged.ID}},
		{"by tag key", eni.ENIFilter{Tags: eni.Tags{"node": ""}}, []string{tagged.ID}},
		{"by wrong tag value", eni.ENIFilter{Tags: eni.Tags{"cluster": "prod"}}, nil},
		{"available in VPC", eni.ENIFilter{Status: eni.StatusAvailable, VPCID: w.vpc}, []string{tagged.ID}},
		{"by instance", eni.ENIFilter{InstanceID: w.other.ID}, []string{w.other.ENIs[0].ID, onOther.ID}},
		{"by subnet", eni.ENIFilter{SubnetID: w.b.ID}, []string{w.other.ENIs[0].ID, onOther.ID}},
		{"by IDs", eni.ENIFilter{IDs: []string{onOther.ID, tagged.ID}}, []string{tagged.ID, onOther.ID}},
		{"by IDs and status", eni.ENIFilter{IDs: []string{onOther.ID, tagged.ID}, Status: eni.StatusInUse}, []string{onOther.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := w.c.DescribeENIs(ctx, tc.f)
			require.NoError(t, err)
			require.Equal(t, tc.want, ids(got))
		})
	}
	_, err = w.c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{tagged.ID, "eni-0000000000000dead"}})
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")

	subnets, err := w.c.DescribeSubnets(ctx, eni.SubnetFilter{VPCID: w.vpc})
	require.NoError(t, err)
	require.Equal(t, []string{w.a.ID, w.tiny.ID, w.b.ID}, []string{subnets[0].ID, subnets[1].ID, subnets[2].ID})
	require.Equal(t, 251-4, subnets[0].AvailableIPs, "3 primaries and tagged")
	require.Equal(t, 251-2, subnets[2].AvailableIPs)
	byAZ, err := w.c.DescribeSubnets(ctx, eni.SubnetFilter{AvailabilityZone: "us-east-1b"})
	require.NoError(t, err)
	require.Len(t, byAZ, 1)
	_, err = w.c.DescribeSubnets(ctx, eni.SubnetFilter{IDs: []string{"subnet-0000000000000dead"}})
	requireCode(t, err, eni.ErrSubnetNotFound, "InvalidSubnetID.NotFound")

	groups, err := w.c.DescribeSecurityGroups(ctx, eni.SecurityGroupFilter{})
	require.NoError(t, err)
	require.Equal(t, []eni.SecurityGroup{{ID: w.sg, VPCID: w.vpc, Name: "nodes", Tags: eni.Tags{"role": "nodes"}}}, groups)
	_, err = w.c.DescribeSecurityGroups(ctx, eni.SecurityGroupFilter{IDs: []string{"sg-0000000000000dead"}})
	requireCode(t, err, eni.ErrSecurityGroupNotFound, "InvalidGroup.NotFound")

	main, err := w.c.AddRouteTable(w.vpc, true, w.a.ID, w.b.ID)
	require.NoError(t, err)
	tables, err := w.c.DescribeRouteTables(ctx, eni.RouteTableFilter{SubnetID: w.b.ID})
	require.NoError(t, err)
	require.Equal(t, []eni.RouteTable{{ID: main, VPCID: w.vpc, Main: true, SubnetIDs: []string{w.a.ID, w.b.ID}}}, tables)
	tables, err = w.c.DescribeRouteTables(ctx, eni.RouteTableFilter{SubnetID: w.tiny.ID})
	require.NoError(t, err)
	require.Empty(t, tables)

	_, err = w.c.DescribeInstance(ctx, "i-0000000000000dead")
	requireCode(t, err, eni.ErrInstanceNotFound, "InvalidInstanceID.NotFound")
	require.ErrorIs(t, err, eni.ErrNotFound)
}

// TestDeepCopies changes everything a describe returns and checks that the
// fake did not change.
func TestDeepCopies(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t, fake.Options{})
	e, att := attach(t, w.c, w.a.ID, w.large, 1)
	_, err := w.c.AssignIPs(ctx, e.ID, 2)
	require.NoError(t, err)
	_, err = w.c.AssignPrefixes(ctx, e.ID, 1)
	require.NoError(t, err)
	require.NoError(t, w.c.CreateTags(ctx, []string{e.ID, w.a.ID}, eni.Tags{"k": "v"}))
	_, err = w.c.AddRouteTable(w.vpc, true, w.a.ID)
	require.NoError(t, err)
	want := describe(t, w.c, e.ID)
	wantInstance, err := w.c.DescribeInstance(ctx, w.large.ID)
	require.NoError(t, err)

	mutate := func(e *eni.ENI) {
		e.SecondaryIPs[0] = netip.MustParseAddr("10.9.9.9")
		e.Prefixes[0] = netip.MustParsePrefix("10.9.9.0/28")
		e.SecurityGroupIDs = append(e.SecurityGroupIDs[:0], "sg-x")
		if e.Tags != nil { // nil in DescribeInstance's view
			e.Tags["k"] = "changed"
		}
		e.Attachment.DeleteOnTermination = true
		e.Attachment.DeviceIndex = 7
		e.Status = "broken"
	}
	got, err := w.c.DescribeENIs(ctx, eni.ENIFilter{})
	require.NoError(t, err)
	for i := range got {
		if got[i].ID == e.ID {
			mutate(&got[i])
		}
	}
	in, err := w.c.DescribeInstance(ctx, w.large.ID)
	require.NoError(t, err)
	mutate(&in.ENIs[1])
	for _, e := range w.c.ENIs() {
		if e.ID == want.ID {
			mutate(&e)
		}
	}
	inst, _ := w.c.Instance(w.large.ID)
	mutate(&inst.ENIs[1])

	subnets, err := w.c.DescribeSubnets(ctx, eni.SubnetFilter{})
	require.NoError(t, err)
	for _, s := range subnets {
		if s.Tags != nil {
			s.Tags["k"] = "changed"
		}
	}
	tables, err := w.c.DescribeRouteTables(ctx, eni.RouteTableFilter{})
	require.NoError(t, err)
	tables[0].SubnetIDs[0] = "subnet-x"
	groups, err := w.c.DescribeSecurityGroups(ctx, eni.SecurityGroupFilter{})
	require.NoError(t, err)
	groups[0].Tags["role"] = "changed"

	require.Equal(t, want, describe(t, w.c, e.ID))
	again, err := w.c.DescribeInstance(ctx, w.large.ID)
	require.NoError(t, err)
	require.Equal(t, wantInstance, again)
	require.Equal(t, att, again.ENIs[1].Attachment.ID)
	s, _ := w.c.Subnet(w.a.ID)
	require.Equal(t, "v", s.Tags["k"])
	tables, err = w.c.DescribeRouteTables(ctx, eni.RouteTableFilter{})
	require.NoError(t, err)
	require.Equal(t, w.a.ID, tables[0].SubnetIDs[0])
	groups, err = w.c.DescribeSecurityGroups(ctx, eni.SecurityGroupFilter{})
	require.NoError(t, err)
	require.Equal(t, "nodes", groups[0].Tags["role"])

	// Inputs are copied too.
	tags := eni.Tags{"x": "1"}
	sgs := []string{w.sg}
	created, err := w.c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.a.ID, SecurityGroupIDs: sgs, Tags: tags})
	require.NoError(t, err)
	tags["x"] = "2"
	sgs[0] = "sg-x"
	got1 := describe(t, w.c, created.ID)
	require.Equal(t, "1", got1.Tags["x"])
	require.Equal(t, []string{w.sg}, got1.SecurityGroupIDs)
}
