package ipam_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
	"github.com/eniway/eniway/ipam"
)

type gcWorld struct {
	cloud  *fake.Cloud
	subnet eni.Subnet
	inst   eni.Instance
}

func newGCWorld(t *testing.T) *gcWorld {
	t.Helper()
	c := fake.New(fake.Options{})
	vpc, err := c.AddVPC(netip.MustParsePrefix("10.0.0.0/16"))
	require.NoError(t, err)
	s, err := c.AddSubnet(fake.SubnetSpec{VPCID: vpc, AvailabilityZone: "us-east-1a", CIDR: netip.MustParsePrefix("10.0.1.0/24")})
	require.NoError(t, err)
	in, err := c.AddInstance(fake.InstanceSpec{Type: "m5.large", SubnetID: s.ID})
	require.NoError(t, err)
	return &gcWorld{cloud: c, subnet: s, inst: in}
}

func (w *gcWorld) create(t *testing.T, tags eni.Tags) string {
	t.Helper()
	e, err := w.cloud.CreateENI(t.Context(), eni.CreateENIInput{SubnetID: w.subnet.ID, SecondaryIPs: 2, Tags: tags})
	require.NoError(t, err)
	return e.ID
}

func TestGarbageCollector(t *testing.T) {
	w := newGCWorld(t)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	free := w.subnet.AvailableIPs
	ours := eni.Tags{ipam.TagCluster: "demo", ipam.TagNode: "n1"}

	leaked := w.create(t, ours)                                           // created, never attached
	other := w.create(t, eni.Tags{ipam.TagCluster: "prod"})               // another cluster's
	untagged := w.create(t, nil)                                          // not ours at all
	kept := w.create(t, eni.Tags{ipam.TagCluster: "demo", "keep": "yes"}) // excluded
	old := w.create(t, eni.Tags{ipam.TagCluster: "demo", ipam.TagCreatedAt: now.Add(-time.Hour).Format(time.RFC3339)})
	attached := w.create(t, ours)
	_, err := w.cloud.AttachENI(t.Context(), eni.AttachInput{ENIID: attached, InstanceID: w.inst.ID, DeviceIndex: 1})
	require.NoError(t, err)

	gc, err := ipam.NewGarbageCollector(w.cloud, ipam.GCOptions{
		Cluster: "demo", GracePeriod: 10 * time.Minute, ExcludeTags: eni.Tags{"keep": ""},
		Now: func() time.Time { return now },
	})
	require.NoError(t, err)

	deleted, err := gc.Collect(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{old}, deleted, "only the one tagged older than the grace period goes at once")

	now = now.Add(9 * time.Minute)
	deleted, err = gc.Collect(t.Context())
	require.NoError(t, err)
	require.Empty(t, deleted)

	now = now.Add(time.Minute)
	deleted, err = gc.Collect(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{leaked}, deleted)

	require.Equal(t, 3, w.cloud.Calls(fake.ActionDescribeNetworkInterfaces), "one describe per pass")
	left, err := w.cloud.DescribeENIs(t.Context(), eni.ENIFilter{})
	require.NoError(t, err)
	var ids []string
	for _, e := range left {
		ids = append(ids, e.ID)
	}
	require.ElementsMatch(t, []string{w.inst.ENIs[0].ID, other, untagged, kept, attached}, ids)
	sub, ok := w.cloud.Subnet(w.subnet.ID)
	require.True(t, ok)
	// The instance's primary address, and 6 interfaces x 3 addresses of
	// which 2 interfaces are gone.
	require.Equal(t, free-1-4*3, sub.AvailableIPs, "deleted interfaces returned their addresses")
}

// TestGarbageCollectorForgetsReattached checks that an interface attached
// again, then detached, starts its grace period over.
func TestGarbageCollectorForgetsReattached(t *testing.T) {
	w := newGCWorld(t)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	id := w.create(t, eni.Tags{ipam.TagCluster: "demo"})
	gc, err := ipam.NewGarbageCollector(w.cloud, ipam.GCOptions{Cluster: "demo", Now: func() time.Time { return now }})
	require.NoError(t, err)
	_, err = gc.Collect(t.Context())
	require.NoError(t, err)

	att, err := w.cloud.AttachENI(t.Context(), eni.AttachInput{ENIID: id, InstanceID: w.inst.ID, DeviceIndex: 1})
	require.NoError(t, err)
	now = now.Add(ipam.DefaultGCGracePeriod)
	deleted, err := gc.Collect(t.Context())
	require.NoError(t, err)
	require.Empty(t, deleted, "attached interfaces are never touched")

	require.NoError(t, w.cloud.DetachENI(t.Context(), att, false))
	deleted, err = gc.Collect(t.Context())
	require.NoError(t, err)
	require.Empty(t, deleted, "the grace period starts over")
	now = now.Add(ipam.DefaultGCGracePeriod)
	deleted, err = gc.Collect(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{id}, deleted)
}

func TestGarbageCollectorDeleteRaces(t *testing.T) {
	w := newGCWorld(t)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	stamp := eni.Tags{ipam.TagCluster: "demo", ipam.TagCreatedAt: now.Add(-time.Hour).Format(time.RFC3339)}
	a, b := w.create(t, stamp), w.create(t, stamp)
	gc, err := ipam.NewGarbageCollector(w.cloud, ipam.GCOptions{Cluster: "demo", Now: func() time.Time { return now }})
	require.NoError(t, err)

	// Someone attaches a between the describe and the delete; EC2 throttles b.
	w.cloud.SetFault(fake.ActionDeleteNetworkInterface, func(c fake.Call) error {
		if c.ENIID == a {
			return eni.NewAPIError(fake.ActionDeleteNetworkInterface, "InvalidNetworkInterface.InUse", "%s is in use", a)
		}
		return eni.NewAPIError(fake.ActionDeleteNetworkInterface, "RequestLimitExceeded", "Request limit exceeded.")
	})
	deleted, err := gc.Collect(t.Context())
	require.Empty(t, deleted)
	require.ErrorIs(t, err, eni.ErrThrottled)
	require.NotErrorIs(t, err, eni.ErrInUse)
	require.Contains(t, err.Error(), b)

	w.cloud.SetFault(fake.ActionDeleteNetworkInterface, nil)
	deleted, err = gc.Collect(t.Context())
	require.NoError(t, err)
	require.ElementsMatch(t, []string{a, b}, deleted)
}

func TestGarbageCollectorOptions(t *testing.T) {
	_, err := ipam.NewGarbageCollector(nil, ipam.GCOptions{})
	require.ErrorContains(t, err, "Cluster")
	_, err = ipam.NewGarbageCollector(nil, ipam.GCOptions{Cluster: "x", GracePeriod: -1, Interval: -1})
	require.ErrorContains(t, err, "GracePeriod")
	require.ErrorContains(t, err, "Interval")
}

func TestGarbageCollectorStart(t *testing.T) {
	w := newGCWorld(t)
	id := w.create(t, eni.Tags{ipam.TagCluster: "demo", ipam.TagCreatedAt: "2000-01-01T00:00:00Z"})
	gc, err := ipam.NewGarbageCollector(w.cloud, ipam.GCOptions{Cluster: "demo", Interval: 10 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- gc.Start(ctx) }()
	require.Eventually(t, func() bool {
		_, err := w.cloud.DescribeENIs(t.Context(), eni.ENIFilter{IDs: []string{id}})
		return err != nil
	}, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}
