package fake_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
)

// world is the fixture most tests start from.
type world struct {
	c   *fake.Cloud
	vpc string
	// a is 10.0.1.0/24 in us-east-1a, b 10.0.3.0/24 in us-east-1b, tiny
	// 10.0.2.0/28 in us-east-1a.
	a, b, tiny eni.Subnet
	sg         string
	// small is an m5.large in a, large an m5.4xlarge in a, xen a t2.medium
	// in a, other an m5.large in b.
	small, large, xen, other eni.Instance
}

// newWorld seeds the fixture into a fake with opts, and checks the fake's
// invariants when the test ends.
func newWorld(t *testing.T, opts fake.Options) *world {
	t.Helper()
	w := &world{c: fake.New(opts)}
	var err error
	w.vpc, err = w.c.AddVPC(netip.MustParsePrefix("10.0.0.0/16"))
	require.NoError(t, err)
	w.a = addSubnet(t, w.c, w.vpc, "us-east-1a", "10.0.1.0/24")
	w.tiny = addSubnet(t, w.c, w.vpc, "us-east-1a", "10.0.2.0/28")
	w.b = addSubnet(t, w.c, w.vpc, "us-east-1b", "10.0.3.0/24")
	w.sg, err = w.c.AddSecurityGroup(w.vpc, "nodes", eni.Tags{"role": "nodes"})
	require.NoError(t, err)
	w.small = addInstance(t, w.c, "m5.large", w.a.ID, w.sg)
	w.large = addInstance(t, w.c, "m5.4xlarge", w.a.ID, w.sg)
	w.xen = addInstance(t, w.c, "t2.medium", w.a.ID, w.sg)
	w.other = addInstance(t, w.c, "m5.large", w.b.ID, w.sg)
	t.Cleanup(func() { require.NoError(t, w.c.CheckInvariants()) })
	return w
}

func addSubnet(t *testing.T, c *fake.Cloud, vpc, az, cidr string) eni.Subnet {
	t.Helper()
	s, err := c.AddSubnet(fake.SubnetSpec{VPCID: vpc, AvailabilityZone: az, CIDR: netip.MustParsePrefix(cidr)})
	require.NoError(t, err)
	return s
}

func addInstance(t *testing.T, c *fake.Cloud, typ, subnet string, groups ...string) eni.Instance {
	t.Helper()
	in, err := c.AddInstance(fake.InstanceSpec{Type: typ, SubnetID: subnet, SecurityGroupIDs: groups})
	require.NoError(t, err)
	return in
}

// createENI creates an interface in subnet with extra secondary addresses.
func createENI(t *testing.T, c eni.Cloud, subnet string, secondary int) eni.ENI {
	t.Helper()
	e, err := c.CreateENI(t.Context(), eni.CreateENIInput{SubnetID: subnet, SecondaryIPs: secondary})
	require.NoError(t, err)
	return e
}

// attach creates an interface in subnet and attaches it to in at index.
func attach(t *testing.T, c eni.Cloud, subnet string, in eni.Instance, index int) (eni.ENI, string) {
	t.Helper()
	e := createENI(t, c, subnet, 0)
	att, err := c.AttachENI(t.Context(), eni.AttachInput{ENIID: e.ID, InstanceID: in.ID, DeviceIndex: index})
	require.NoError(t, err)
	return e, att
}

// describe returns one interface as DescribeENIs shows it.
func describe(t *testing.T, c eni.Cloud, id string) eni.ENI {
	t.Helper()
	got, err := c.DescribeENIs(t.Context(), eni.ENIFilter{IDs: []string{id}})
	require.NoError(t, err)
	require.Len(t, got, 1)
	return got[0]
}

func free(t *testing.T, c *fake.Cloud, subnet string) int {
	t.Helper()
	s, ok := c.Subnet(subnet)
	require.True(t, ok)
	return s.AvailableIPs
}

// requireCode checks that err wraps sentinel (nil: none) and is an
// *eni.APIError with code.
func requireCode(t *testing.T, err error, sentinel error, code string) {
	t.Helper()
	require.Error(t, err)
	var apiErr *eni.APIError
	require.True(t, errors.As(err, &apiErr), "%v is not an *eni.APIError", err)
	require.Equal(t, code, apiErr.Code, "%v", err)
	if sentinel != nil {
		require.ErrorIs(t, err, sentinel)
	} else {
		require.Nil(t, errors.Unwrap(err))
	}
}

// hosts returns every address of p AWS lets interfaces use.
func hosts(p netip.Prefix) []netip.Addr {
	var out []netip.Addr
	a := p.Addr()
	n := 1 << (32 - p.Bits())
	for i := range n {
		if i >= 4 && i < n-1 {
			out = append(out, a)
		}
		a = a.Next()
	}
	return out
}

// addrsOf returns every address an interface holds, prefixes expanded.
func addrsOf(e eni.ENI) []netip.Addr {
	out := append([]netip.Addr{e.PrimaryIP}, e.SecondaryIPs...)
	for _, p := range e.Prefixes {
		for a, i := p.Addr(), 0; i < 16; a, i = a.Next(), i+1 {
			out = append(out, a)
		}
	}
	return out
}
