package ipam_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
	"github.com/eniway/eniway/ipam"
)

type releaseWorld struct {
	*mgrWorld
	in    eni.Instance
	alloc *ipam.Allocator
	mgr   *ipam.Manager
	now   time.Time
}

func newReleaseWorld(t *testing.T, mode ipam.Mode) *releaseWorld {
	t.Helper()
	w := &releaseWorld{mgrWorld: newMgrWorld(t, "10.0.0.0/22"), now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	w.in = w.instance(t, "m5.4xlarge")
	var err error
	w.alloc, err = ipam.NewAllocator(ipam.AllocatorOptions{})
	require.NoError(t, err)
	cfg := ipam.DefaultPoolConfig()
	cfg.Mode = mode
	w.mgr, err = ipam.NewManager(ipam.ManagerOptions{
		Cloud: w.cloud, Cluster: "demo", Pool: cfg, ReleaseExcessIPs: true,
		Releaser: func(string) ipam.Releaser { return w.alloc },
		Now:      func() time.Time { return w.now },
	})
	require.NoError(t, err)
	return w
}

// sync hands the manager's pool to the allocator and the allocator's use
// to the manager, then reconciles.
func (w *releaseWorld) reconcile(t *testing.T, pending int) error {
	t.Helper()
	require.NoError(t, w.alloc.SetPool(w.mgr.Pool("n1")))
	w.mgr.SetNode("n1", w.in.ID, len(w.alloc.Allocations()), pending)
	err := w.mgr.Reconcile(t.Context())
	require.NoError(t, w.alloc.SetPool(w.mgr.Pool("n1")))
	return err
}

func (w *releaseWorld) scale(t *testing.T, pods int) {
	t.Helper()
	have := w.alloc.Allocations()
	for i := range 200 {
		owner := fmt.Sprintf("pod-%d", i)
		_, held := have[owner]
		switch {
		case i < pods && !held:
			_, err := w.alloc.Allocate(owner)
			require.NoError(t, err)
		case i >= pods && held:
			require.NoError(t, w.alloc.Release(owner))
		}
	}
}

// checkHeld checks that every allocated address is still held in EC2.
func (w *releaseWorld) checkHeld(t *testing.T) {
	t.Helper()
	require.NoError(t, w.cloud.CheckInvariants())
	ec2 := map[netip.Addr]bool{}
	got, _ := w.cloud.Instance(w.in.ID)
	for _, e := range got.ENIs {
		for _, a := range e.SecondaryIPs {
			ec2[a] = true
		}
		for _, p := range e.Prefixes {
			for a, i := p.Addr(), 0; i < 16; a, i = a.Next(), i+1 {
				ec2[a] = true
			}
		}
	}
	for owner, a := range w.alloc.Allocations() {
		require.True(t, ec2[a], "%s's address %s was released", owner, a)
	}
	require.Empty(t, w.alloc.Releasing(), "no release left half done")
}

func TestReleaseExcessSecondary(t *testing.T) {
	w := newReleaseWorld(t, ipam.ModeSecondaryIPs)
	require.NoError(t, w.reconcile(t, 110))
	w.scale(t, 110)
	require.NoError(t, w.reconcile(t, 0))
	w.scale(t, 10)
	before := len(w.mgr.Pool("n1"))
	require.NoError(t, w.reconcile(t, 0))
	require.Len(t, w.mgr.Pool("n1"), before, "nothing goes back before the delay")
	w.now = w.now.Add(ipam.DefaultExcessReleaseDelay)
	require.NoError(t, w.reconcile(t, 0))
	// Needed 10 + 8 pre-allocated, plus 16 above the watermark.
	require.Len(t, w.mgr.Pool("n1"), 34)
	require.Equal(t, 34, w.alloc.Stats().Pool)
	w.checkHeld(t)
	require.Positive(t, w.cloud.Calls(fake.ActionUnassignPrivateIPAddresses))
}

func TestReleaseExcessPrefixes(t *testing.T) {
	w := newReleaseWorld(t, ipam.ModePrefixDelegation)
	require.NoError(t, w.reconcile(t, 110))
	w.scale(t, 110)
	require.NoError(t, w.reconcile(t, 0))
	// Keep pods spread so that some /28s stay partly used.
	for i := range 110 {
		if i%20 != 0 {
			require.NoError(t, w.alloc.Release(fmt.Sprintf("pod-%d", i)))
		}
	}
	w.now = w.now.Add(ipam.DefaultExcessReleaseDelay)
	require.NoError(t, w.reconcile(t, 0))
	require.NoError(t, w.reconcile(t, 0))
	w.now = w.now.Add(ipam.DefaultExcessReleaseDelay)
	require.NoError(t, w.reconcile(t, 0))
	w.checkHeld(t)
	got, _ := w.cloud.Instance(w.in.ID)
	prefixes := len(got.ENIs[0].Prefixes)
	require.Less(t, prefixes, 8, "free /28s went back")
	require.GreaterOrEqual(t, prefixes*16, 6+8, "the /28s in use and the needed ones stay")
}

func TestReleaseFailureAborts(t *testing.T) {
	w := newReleaseWorld(t, ipam.ModeSecondaryIPs)
	require.NoError(t, w.reconcile(t, 40))
	w.scale(t, 40)
	require.NoError(t, w.reconcile(t, 0))
	w.scale(t, 5)
	w.cloud.SetFault(fake.ActionUnassignPrivateIPAddresses, func(fake.Call) error {
		return eni.NewAPIError(fake.ActionUnassignPrivateIPAddresses, "RequestLimitExceeded", "Request limit exceeded.")
	})
	w.now = w.now.Add(ipam.DefaultExcessReleaseDelay)
	before := len(w.mgr.Pool("n1"))
	require.ErrorIs(t, w.reconcile(t, 0), eni.ErrThrottled)
	require.Len(t, w.mgr.Pool("n1"), before)
	require.Empty(t, w.alloc.Releasing(), "the reservation was aborted")
	require.Equal(t, before-5, w.alloc.Stats().Free, "the addresses are free again")
	w.checkHeld(t)
	w.cloud.SetFault(fake.ActionUnassignPrivateIPAddresses, nil)
	w.now = w.now.Add(ipam.DefaultExcessReleaseDelay)
	require.NoError(t, w.reconcile(t, 0))
	w.checkHeld(t)
	require.Less(t, len(w.mgr.Pool("n1")), before)
}
