package fake_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func requireThrottled(t *testing.T, err error) {
	t.Helper()
	requireCode(t, err, eni.ErrThrottled, "RequestLimitExceeded")
}

func TestThrottleBuckets(t *testing.T) {
	for _, tc := range []struct {
		name           string
		capacity, rate int
		action         string
		call           func(ctx context.Context, w *world) error
	}{
		{"mutating", 100, 5, fake.ActionCreateTags, func(ctx context.Context, w *world) error {
			return w.c.CreateTags(ctx, []string{w.a.ID}, eni.Tags{"k": "v"})
		}},
		{"attach and detach", 50, 5, fake.ActionDetachNetworkInterface, func(ctx context.Context, w *world) error {
			err := w.c.DetachENI(ctx, "eni-attach-0000000000000dead", false)
			if errors.Is(err, eni.ErrAttachmentNotFound) {
				return nil // a failed call takes its token too
			}
			return err
		}},
		{"unfiltered describe", 50, 10, fake.ActionDescribeNetworkInterfaces, func(ctx context.Context, w *world) error {
			_, err := w.c.DescribeENIs(ctx, eni.ENIFilter{})
			return err
		}},
		{"describe", 100, 20, fake.ActionDescribeSubnets, func(ctx context.Context, w *world) error {
			_, err := w.c.DescribeSubnets(ctx, eni.SubnetFilter{})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			clock := fake.NewManualClock(epoch)
			w := newWorld(t, fake.Options{Clock: clock, Throttle: true})
			// Buckets start full.
			for i := range tc.capacity {
				require.NoError(t, tc.call(ctx, w), "call %d", i)
			}
			requireThrottled(t, tc.call(ctx, w))
			requireThrottled(t, tc.call(ctx, w))
			require.Equal(t, 2, w.c.Throttled(tc.action))

			// A second refills rate tokens.
			clock.Advance(time.Second)
			for i := range tc.rate {
				require.NoError(t, tc.call(ctx, w), "call %d after a second", i)
			}
			requireThrottled(t, tc.call(ctx, w))

			// Refill is fractional: 1/rate of a second is one token.
			clock.Advance(time.Second / time.Duration(tc.rate) / 2)
			requireThrottled(t, tc.call(ctx, w))
			clock.Advance(time.Second / time.Duration(tc.rate) / 2)
			require.NoError(t, tc.call(ctx, w))
			requireThrottled(t, tc.call(ctx, w))

			// Refill stops at capacity.
			clock.Advance(time.Hour)
			for range tc.capacity {
				require.NoError(t, tc.call(ctx, w))
			}
			requireThrottled(t, tc.call(ctx, w))

			require.Equal(t, 6, w.c.Throttled(tc.action))
			require.Equal(t, 2*tc.capacity+tc.rate+1+6, w.c.Calls(tc.action), "throttled calls are counted")
		})
	}
}

func TestThrottleMutatingShared(t *testing.T) {
	ctx := t.Context()
	clock := fake.NewManualClock(epoch)
	w := newWorld(t, fake.Options{Clock: clock, Throttle: true})

	// 100 mutating calls of every kind share one bucket.
	var enis []eni.ENI
	for range 20 {
		enis = append(enis, createENI(t, w.c, w.a.ID, 0))
	}
	var ips []netip.Addr
	for _, e := range enis {
		got, err := w.c.AssignIPs(ctx, e.ID, 1)
		require.NoError(t, err)
		ips = append(ips, got...)
	}
	for i, e := range enis[:20] {
		require.NoError(t, w.c.UnassignIPs(ctx, e.ID, ips[i:i+1]))
	}
	for _, e := range enis[:20] {
		require.NoError(t, w.c.CreateTags(ctx, []string{e.ID}, eni.Tags{"k": "v"}))
	}
	for _, e := range enis[:19] {
		require.NoError(t, w.c.DeleteENI(ctx, e.ID))
	}
	ctrl := w.small.ENIs[0]
	require.NoError(t, w.c.SetDeleteOnTermination(ctx, ctrl.ID, ctrl.Attachment.ID, true)) // the 100th

	// The 101st is throttled, whatever it is, and changes nothing.
	last := enis[19]
	before := free(t, w.c, w.a.ID)
	requireThrottled(t, w.c.DeleteENI(ctx, last.ID))
	_, err := w.c.AssignIPs(ctx, last.ID, 1)
	requireThrottled(t, err)
	_, err = w.c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.a.ID})
	requireThrottled(t, err)
	requireThrottled(t, w.c.CreateTags(ctx, []string{last.ID}, eni.Tags{"k": "changed"}))
	require.Equal(t, before, free(t, w.c, w.a.ID))
	require.Len(t, w.c.ENIs(), 5)
	require.Equal(t, "v", describe(t, w.c, last.ID).Tags["k"])

	// Other buckets are untouched.
	_, err = w.c.DescribeENIs(ctx, eni.ENIFilter{})
	require.NoError(t, err)
	att, err := w.c.AttachENI(ctx, eni.AttachInput{ENIID: last.ID, InstanceID: w.large.ID, DeviceIndex: 1})
	require.NoError(t, err)
	require.NoError(t, w.c.DetachENI(ctx, att, false))

	// A second later, 5 more pass.
	clock.Advance(time.Second)
	for range 4 {
		require.NoError(t, w.c.CreateTags(ctx, []string{last.ID}, eni.Tags{"k": "later"}))
	}
	require.NoError(t, w.c.DeleteENI(ctx, last.ID))
	_, err = w.c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.a.ID})
	requireThrottled(t, err)

	require.Equal(t, 1, w.c.Throttled(fake.ActionDeleteNetworkInterface))
	require.Equal(t, 2, w.c.Throttled(fake.ActionCreateNetworkInterface))
	require.Equal(t, 1, w.c.Throttled(fake.ActionAssignPrivateIPAddresses))
	require.Equal(t, 1, w.c.Throttled(fake.ActionCreateTags))
	require.Zero(t, w.c.Throttled(fake.ActionAttachNetworkInterface))
}

func TestThrottleDescribeClasses(t *testing.T) {
	ctx := t.Context()
	clock := fake.NewManualClock(epoch)
	w := newWorld(t, fake.Options{Clock: clock, Throttle: true})
	// Unfiltered DescribeNetworkInterfaces and DescribeSecurityGroups share
	// a bucket of 50.
	for range 25 {
		_, err := w.c.DescribeENIs(ctx, eni.ENIFilter{})
		require.NoError(t, err)
		_, err = w.c.DescribeSecurityGroups(ctx, eni.SecurityGroupFilter{})
		require.NoError(t, err)
	}
	_, err := w.c.DescribeSecurityGroups(ctx, eni.SecurityGroupFilter{})
	requireThrottled(t, err)
	// Filtered ones, and every other describe, use the bucket of 100.
	for range 20 {
		_, err = w.c.DescribeENIs(ctx, eni.ENIFilter{InstanceID: w.small.ID})
		require.NoError(t, err)
		_, err = w.c.DescribeSecurityGroups(ctx, eni.SecurityGroupFilter{VPCID: w.vpc})
		require.NoError(t, err)
		_, err = w.c.DescribeInstance(ctx, w.small.ID)
		require.NoError(t, err)
		_, err = w.c.DescribeRouteTables(ctx, eni.RouteTableFilter{})
		require.NoError(t, err)
		_, err = w.c.DescribeInstanceTypes(ctx, "m5.large")
		require.NoError(t, err)
	}
	_, err = w.c.DescribeSubnets(ctx, eni.SubnetFilter{VPCID: w.vpc})
	requireThrottled(t, err)
	_, err = w.c.DescribeENIs(ctx, eni.ENIFilter{})
	requireThrottled(t, err)
	// Attach and detach share a bucket of 50.
	e := createENI(t, w.c, w.a.ID, 0)
	for range 25 {
		att, err := w.c.AttachENI(ctx, eni.AttachInput{ENIID: e.ID, InstanceID: w.large.ID, DeviceIndex: 1})
		require.NoError(t, err)
		require.NoError(t, w.c.DetachENI(ctx, att, false))
	}
	_, err = w.c.AttachENI(ctx, eni.AttachInput{ENIID: e.ID, InstanceID: w.large.ID, DeviceIndex: 1})
	requireThrottled(t, err)
	require.Equal(t, eni.StatusAvailable, w.c.ENIs()[len(w.c.ENIs())-1].Status)
}

func TestThrottleOff(t *testing.T) {
	w := newWorld(t, fake.Options{Clock: fake.NewManualClock(epoch)})
	for range 500 {
		require.NoError(t, w.c.CreateTags(t.Context(), []string{w.a.ID}, eni.Tags{"k": "v"}))
	}
	require.Zero(t, w.c.Throttled(fake.ActionCreateTags))
}

func TestDescribeDelay(t *testing.T) {
	ctx := t.Context()
	clock := fake.NewManualClock(epoch)
	w := newWorld(t, fake.Options{Clock: clock, DescribeDelay: 5 * time.Second})

	// Seeded interfaces are visible at once.
	in, err := w.c.DescribeInstance(ctx, w.small.ID)
	require.NoError(t, err)
	require.Len(t, in.ENIs, 1)

	e := createENI(t, w.c, w.a.ID, 0)
	_, err = w.c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{e.ID}})
	requireCode(t, err, eni.ErrENINotFound, "InvalidNetworkInterfaceID.NotFound")
	all, err := w.c.DescribeENIs(ctx, eni.ENIFilter{})
	require.NoError(t, err)
	require.Len(t, all, 4, "only the primaries")

	// Other calls see it at once.
	att, err := w.c.AttachENI(ctx, eni.AttachInput{ENIID: e.ID, InstanceID: w.small.ID, DeviceIndex: 1})
	require.NoError(t, err)
	ips, err := w.c.AssignIPs(ctx, e.ID, 2)
	require.NoError(t, err)
	require.NoError(t, w.c.CreateTags(ctx, []string{e.ID}, eni.Tags{"k": "v"}))
	in, err = w.c.DescribeInstance(ctx, w.small.ID)
	require.NoError(t, err)
	require.Len(t, in.ENIs, 1, "DescribeInstance does not list it yet")
	inst, _ := w.c.Instance(w.small.ID)
	require.Len(t, inst.ENIs, 2, "Instance ignores the delay")
	require.Len(t, w.c.ENIs(), 5, "ENIs ignores the delay")

	clock.Advance(5*time.Second - time.Nanosecond)
	_, err = w.c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{e.ID}})
	require.ErrorIs(t, err, eni.ErrENINotFound)

	clock.Advance(time.Nanosecond)
	got := describe(t, w.c, e.ID)
	require.Equal(t, ips, got.SecondaryIPs)
	require.Equal(t, att, got.Attachment.ID)
	in, err = w.c.DescribeInstance(ctx, w.small.ID)
	require.NoError(t, err)
	require.Len(t, in.ENIs, 2)
}

// waitSleepers waits until n goroutines sleep on the clock.
func waitSleepers(t *testing.T, clock *fake.ManualClock, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return clock.Sleepers() == n }, 5*time.Second, time.Millisecond)
}

func TestLatency(t *testing.T) {
	clock := fake.NewManualClock(epoch)
	w := newWorld(t, fake.Options{Clock: clock, Latency: 50 * time.Millisecond})
	type result struct {
		e   eni.ENI
		err error
	}
	create := func(ctx context.Context) <-chan result {
		done := make(chan result, 1)
		go func() {
			e, err := w.c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.a.ID})
			done <- result{e, err}
		}()
		return done
	}

	t.Run("sleeps on the clock", func(t *testing.T) {
		done := create(t.Context())
		waitSleepers(t, clock, 1)
		require.Equal(t, 1, w.c.Calls(fake.ActionCreateNetworkInterface), "counted before the latency")
		require.Len(t, w.c.ENIs(), 4, "nothing done yet")
		next, ok := clock.NextDeadline()
		require.True(t, ok)
		require.Equal(t, clock.Now().Add(50*time.Millisecond), next)
		clock.Advance(49 * time.Millisecond)
		select {
		case r := <-done:
			t.Fatalf("returned before its latency: %+v", r)
		case <-time.After(10 * time.Millisecond):
		}
		clock.Advance(time.Millisecond)
		r := <-done
		require.NoError(t, r.err)
		require.Len(t, w.c.ENIs(), 5)
	})

	t.Run("cancelled while sleeping", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		done := create(ctx)
		waitSleepers(t, clock, 1)
		cancel()
		r := <-done
		require.ErrorIs(t, r.err, context.Canceled)
		require.Zero(t, clock.Sleepers())
		require.Len(t, w.c.ENIs(), 5, "nothing created")
		require.Equal(t, 2, w.c.Calls(fake.ActionCreateNetworkInterface))
	})

	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		r := <-create(ctx)
		require.ErrorIs(t, r.err, context.Canceled)
		require.Equal(t, 2, w.c.Calls(fake.ActionCreateNetworkInterface), "a call never made is not counted")
	})

	t.Run("concurrent calls sleep together", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				_, err := w.c.DescribeSubnets(t.Context(), eni.SubnetFilter{})
				assert.NoError(t, err)
			})
		}
		waitSleepers(t, clock, 10)
		clock.Advance(50 * time.Millisecond)
		wg.Wait()
	})
}

// faultFixture is a world with an attached interface holding addresses and
// a prefix, and a spare available interface.
type faultFixture struct {
	*world
	e        eni.ENI
	att      string
	ips      []netip.Addr
	prefixes []netip.Prefix
	spare    eni.ENI
}

func newFaultFixture(t *testing.T) *faultFixture {
	t.Helper()
	f := &faultFixture{world: newWorld(t, fake.Options{})}
	f.e, f.att = attach(t, f.c, f.a.ID, f.small, 1)
	var err error
	f.ips, err = f.c.AssignIPs(t.Context(), f.e.ID, 2)
	require.NoError(t, err)
	f.prefixes, err = f.c.AssignPrefixes(t.Context(), f.e.ID, 1)
	require.NoError(t, err)
	f.spare = createENI(t, f.c, f.a.ID, 0)
	return f
}

func TestFaults(t *testing.T) {
	type ff = *faultFixture
	attached := func(f ff) fake.Call {
		return fake.Call{ENIID: f.e.ID, SubnetID: f.a.ID, InstanceID: f.small.ID, AttachmentID: f.att}
	}
	calls := []struct {
		action string
		call   func(context.Context, ff) error
		want   func(ff) fake.Call
	}{
		{fake.ActionDescribeInstances, func(ctx context.Context, f ff) error { _, err := f.c.DescribeInstance(ctx, f.small.ID); return err },
			func(f ff) fake.Call { return fake.Call{InstanceID: f.small.ID} }},
		{fake.ActionDescribeInstanceTypes, func(ctx context.Context, f ff) error {
			_, err := f.c.DescribeInstanceTypes(ctx, "m5.large")
			return err
		},
			func(ff) fake.Call { return fake.Call{} }},
		{fake.ActionDescribeNetworkInterfaces, func(ctx context.Context, f ff) error {
			_, err := f.c.DescribeENIs(ctx, eni.ENIFilter{IDs: []string{f.e.ID}})
			return err
		}, attached},
		{fake.ActionDescribeSubnets, func(ctx context.Context, f ff) error {
			_, err := f.c.DescribeSubnets(ctx, eni.SubnetFilter{IDs: []string{f.b.ID}})
			return err
		}, func(f ff) fake.Call { return fake.Call{SubnetID: f.b.ID} }},
		{fake.ActionDescribeSecurityGroups, func(ctx context.Context, f ff) error {
			_, err := f.c.DescribeSecurityGroups(ctx, eni.SecurityGroupFilter{})
			return err
		}, func(ff) fake.Call { return fake.Call{} }},
		{fake.ActionDescribeRouteTables, func(ctx context.Context, f ff) error {
			_, err := f.c.DescribeRouteTables(ctx, eni.RouteTableFilter{})
			return err
		}, func(ff) fake.Call { return fake.Call{} }},
		{fake.ActionCreateNetworkInterface, func(ctx context.Context, f ff) error {
			_, err := f.c.CreateENI(ctx, eni.CreateENIInput{SubnetID: f.a.ID})
			return err
		}, func(f ff) fake.Call { return fake.Call{SubnetID: f.a.ID} }},
		{fake.ActionAttachNetworkInterface, func(ctx context.Context, f ff) error {
			_, err := f.c.AttachENI(ctx, eni.AttachInput{ENIID: f.spare.ID, InstanceID: f.small.ID, DeviceIndex: 2})
			return err
		}, func(f ff) fake.Call { return fake.Call{ENIID: f.spare.ID, InstanceID: f.small.ID, SubnetID: f.a.ID} }},
		{fake.ActionDetachNetworkInterface, func(ctx context.Context, f ff) error { return f.c.DetachENI(ctx, f.att, false) }, attached},
		{fake.ActionDeleteNetworkInterface, func(ctx context.Context, f ff) error { return f.c.DeleteENI(ctx, f.spare.ID) },
			func(f ff) fake.Call { return fake.Call{ENIID: f.spare.ID, SubnetID: f.a.ID} }},
		{fake.ActionModifyNetworkInterfaceAttribute, func(ctx context.Context, f ff) error {
			return f.c.SetDeleteOnTermination(ctx, f.e.ID, f.att, true)
		}, attached},
		{fake.ActionAssignPrivateIPAddresses, func(ctx context.Context, f ff) error { _, err := f.c.AssignIPs(ctx, f.e.ID, 1); return err }, attached},
		{fake.ActionAssignPrivateIPAddresses, func(ctx context.Context, f ff) error { _, err := f.c.AssignPrefixes(ctx, f.e.ID, 1); return err }, attached},
		{fake.ActionUnassignPrivateIPAddresses, func(ctx context.Context, f ff) error { return f.c.UnassignIPs(ctx, f.e.ID, f.ips[:1]) }, attached},
		{fake.ActionUnassignPrivateIPAddresses, func(ctx context.Context, f ff) error { return f.c.UnassignPrefixes(ctx, f.e.ID, f.prefixes) }, attached},
		{fake.ActionCreateTags, func(ctx context.Context, f ff) error {
			return f.c.CreateTags(ctx, []string{f.b.ID, f.spare.ID}, eni.Tags{"k": "v"})
		}, func(f ff) fake.Call { return fake.Call{ENIID: f.spare.ID, SubnetID: f.b.ID} }},
	}
	snapshot := func(w *world) (any, any, any) {
		a, _ := w.c.Subnet(w.a.ID)
		b, _ := w.c.Subnet(w.b.ID)
		return w.c.ENIs(), a, b
	}
	for _, tc := range calls {
		t.Run(tc.action, func(t *testing.T) {
			ctx := t.Context()
			f := newFaultFixture(t)
			injected := eni.NewAPIError(tc.action, "InternalError", "injected")
			var got []fake.Call
			f.c.SetFault(tc.action, func(c fake.Call) error {
				got = append(got, c)
				f.c.Calls(tc.action) // hooks may call the Cloud
				return injected
			})
			enis, a, b := snapshot(f.world)
			calls := f.c.Calls(tc.action)
			err := tc.call(ctx, f)
			require.Same(t, injected, err, "returned as it is")
			gotENIs, gotA, gotB := snapshot(f.world)
			require.Equal(t, enis, gotENIs, "state untouched")
			require.Equal(t, a, gotA)
			require.Equal(t, b, gotB)
			require.Equal(t, calls+1, f.c.Calls(tc.action), "faulted calls are counted")
			want := tc.want(f)
			want.Action = tc.action
			require.Equal(t, []fake.Call{want}, got)

			f.c.SetFault(tc.action, nil)
			require.NoError(t, tc.call(ctx, f), "hook removed")
			require.Len(t, got, 1)
		})
	}

	// A hook returning nil lets the call through; hooks can single out a
	// resource.
	w := newWorld(t, fake.Options{})
	ctx := t.Context()
	w.c.SetFault(fake.ActionCreateNetworkInterface, func(c fake.Call) error {
		if c.SubnetID == w.tiny.ID {
			return eni.NewAPIError(c.Action, "InsufficientFreeAddressesInSubnet", "injected exhaustion")
		}
		return nil
	})
	_, err := w.c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.tiny.ID})
	require.ErrorIs(t, err, eni.ErrInsufficientFreeAddresses)
	require.Equal(t, 11, free(t, w.c, w.tiny.ID))
	_, err = w.c.CreateENI(ctx, eni.CreateENIInput{SubnetID: w.b.ID})
	require.NoError(t, err)
}

func TestFaultAfterThrottle(t *testing.T) {
	clock := fake.NewManualClock(epoch)
	w := newWorld(t, fake.Options{Clock: clock, Throttle: true})
	hooked := 0
	w.c.SetFault(fake.ActionCreateTags, func(fake.Call) error { hooked++; return nil })
	for range 101 {
		_ = w.c.CreateTags(t.Context(), []string{w.a.ID}, eni.Tags{"k": "v"})
	}
	require.Equal(t, 100, hooked, "a throttled call never reaches the hook")
	require.Equal(t, 1, w.c.Throttled(fake.ActionCreateTags))
}

func TestCounters(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t, fake.Options{})
	require.Empty(t, w.c.CallCounts(), "seeding is not counted")

	e, att := attach(t, w.c, w.a.ID, w.large, 1)
	ips, err := w.c.AssignIPs(ctx, e.ID, 2)
	require.NoError(t, err)
	ps, err := w.c.AssignPrefixes(ctx, e.ID, 1)
	require.NoError(t, err)
	require.NoError(t, w.c.UnassignIPs(ctx, e.ID, ips))
	require.NoError(t, w.c.UnassignPrefixes(ctx, e.ID, ps))
	require.NoError(t, w.c.SetDeleteOnTermination(ctx, e.ID, att, true))
	require.NoError(t, w.c.CreateTags(ctx, []string{e.ID}, eni.Tags{"k": "v"}))
	require.NoError(t, w.c.DetachENI(ctx, att, false))
	require.NoError(t, w.c.DeleteENI(ctx, e.ID))
	_, err = w.c.DescribeInstance(ctx, w.large.ID)
	require.NoError(t, err)
	_, err = w.c.DescribeInstance(ctx, "i-0000000000000dead")
	require.Error(t, err, "failed calls count too")
	_, err = w.c.DescribeInstanceTypes(ctx, "m5.large")
	require.NoError(t, err)
	_, err = w.c.DescribeENIs(ctx, eni.ENIFilter{})
	require.NoError(t, err)
	_, err = w.c.DescribeSubnets(ctx, eni.SubnetFilter{})
	require.NoError(t, err)
	_, err = w.c.DescribeSecurityGroups(ctx, eni.SecurityGroupFilter{})
	require.NoError(t, err)
	_, err = w.c.DescribeRouteTables(ctx, eni.RouteTableFilter{})
	require.NoError(t, err)

	want := map[string]int{
		"CreateNetworkInterface":          1,
		"AttachNetworkInterface":          1,
		"AssignPrivateIpAddresses":        2,
		"UnassignPrivateIpAddresses":      2,
		"ModifyNetworkInterfaceAttribute": 1,
		"CreateTags":                      1,
		"DetachNetworkInterface":          1,
		"DeleteNetworkInterface":          1,
		"DescribeInstances":               2,
		"DescribeInstanceTypes":           1,
		"DescribeNetworkInterfaces":       1,
		"DescribeSubnets":                 1,
		"DescribeSecurityGroups":          1,
		"DescribeRouteTables":             1,
	}
	counts := w.c.CallCounts()
	require.Equal(t, want, counts)
	counts["CreateTags"] = 99
	require.Equal(t, 1, w.c.Calls(fake.ActionCreateTags), "CallCounts is a copy")
	for action, n := range want {
		require.Equal(t, n, w.c.Calls(action), action)
		require.Zero(t, w.c.Throttled(action), action)
	}

	w.c.ResetCounters()
	require.Empty(t, w.c.CallCounts())
	require.Zero(t, w.c.Calls(fake.ActionDescribeInstances))
}

func TestConcurrentAssign(t *testing.T) {
	for _, seed := range []int64{0, 7} {
		t.Run(fmt.Sprintf("RandomAddresses=%d", seed), func(t *testing.T) {
			ctx := t.Context()
			w := newWorld(t, fake.Options{RandomAddresses: seed})
			pods := addSubnet(t, w.c, w.vpc, "us-east-1a", "10.0.8.0/23")
			nodes := []eni.Instance{
				addInstance(t, w.c, "m5.4xlarge", w.a.ID),
				addInstance(t, w.c, "m5.4xlarge", w.a.ID),
				addInstance(t, w.c, "m5.4xlarge", w.a.ID),
			}
			var enis []string
			for _, n := range nodes {
				for idx := 1; idx < 8; idx++ {
					e, _ := attach(t, w.c, pods.ID, n, idx)
					enis = append(enis, e.ID)
				}
			}

			var (
				mu   sync.Mutex
				held = map[netip.Addr]string{} // address -> ENI, as callers saw
				wg   sync.WaitGroup
			)
			take := func(id string, addrs []netip.Addr) {
				mu.Lock()
				defer mu.Unlock()
				for _, a := range addrs {
					if owner, ok := held[a]; ok {
						t.Errorf("%s handed to %s, already held by %s", a, id, owner)
					}
					held[a] = id
				}
			}
			give := func(addrs []netip.Addr) {
				mu.Lock()
				defer mu.Unlock()
				for _, a := range addrs {
					delete(held, a)
				}
			}
			for i, id := range enis {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(i), 1))
					var mine []netip.Addr
					for range 60 {
						if len(mine) > 0 && rng.IntN(3) == 0 {
							n := 1 + rng.IntN(len(mine))
							drop := mine[:n]
							give(drop) // before the fake can hand them out again
							if !assert.NoError(t, w.c.UnassignIPs(ctx, id, drop)) {
								return
							}
							mine = slices.Clone(mine[n:])
							continue
						}
						if i%4 == 0 && rng.IntN(4) == 0 {
							ps, err := w.c.AssignPrefixes(ctx, id, 1)
							if err == nil {
								var addrs []netip.Addr
								for a, k := ps[0].Addr(), 0; k < 16; a, k = a.Next(), k+1 {
									addrs = append(addrs, a)
								}
								take(id, addrs)
							} else if !errors.Is(err, eni.ErrAddressLimitExceeded) && !errors.Is(err, eni.ErrInsufficientCIDRBlocks) {
								assert.NoError(t, err)
								return
							}
							continue
						}
						ips, err := w.c.AssignIPs(ctx, id, 1+rng.IntN(4))
						if errors.Is(err, eni.ErrAddressLimitExceeded) || errors.Is(err, eni.ErrInsufficientFreeAddresses) {
							continue
						}
						if !assert.NoError(t, err) {
							return
						}
						take(id, ips)
						mine = append(mine, ips...)
					}
				})
			}
			// Readers race the writers.
			for range 4 {
				wg.Go(func() {
					for range 50 {
						_, err := w.c.DescribeENIs(ctx, eni.ENIFilter{SubnetID: pods.ID})
						assert.NoError(t, err)
						_, err = w.c.DescribeSubnets(ctx, eni.SubnetFilter{IDs: []string{pods.ID}})
						assert.NoError(t, err)
					}
				})
			}
			wg.Wait()
			require.NoError(t, w.c.CheckInvariants())

			// What callers hold is exactly what the fake says they hold.
			state := map[netip.Addr]string{}
			inUse := 0
			for _, e := range w.c.ENIs() {
				if e.SubnetID != pods.ID {
					continue
				}
				inUse += 1 + len(e.SecondaryIPs) + 16*len(e.Prefixes)
				for _, a := range addrsOf(e)[1:] {
					state[a] = e.ID
				}
			}
			require.Equal(t, held, state)
			require.Equal(t, 512-5-inUse, free(t, w.c, pods.ID))
		})
	}
}

func TestRandomAddresses(t *testing.T) {
	run := func(seed int64) ([]netip.Addr, []netip.Prefix, eni.Subnet) {
		w := newWorld(t, fake.Options{RandomAddresses: seed})
		s := addSubnet(t, w.c, w.vpc, "us-east-1a", "10.0.64.0/24")
		e := createENI(t, w.c, s.ID, 20)
		ps, err := w.c.AssignPrefixes(t.Context(), e.ID, 3)
		require.NoError(t, err)
		s, _ = w.c.Subnet(s.ID)
		return addrsOf(e), ps, s
	}
	a1, p1, s := run(42)
	a2, p2, _ := run(42)
	require.Equal(t, a1, a2, "deterministic per seed")
	require.Equal(t, p1, p2)
	a3, p3, _ := run(43)
	require.NotEqual(t, a1, a3, "another seed, other addresses")
	require.NotEqual(t, p1, p3)
	lowest, _, _ := run(0)
	require.Equal(t, hosts(s.CIDR)[:21], lowest)
	require.NotEqual(t, lowest, a1, "scattered, not lowest")
	require.False(t, slices.IsSortedFunc(a1, netip.Addr.Compare), "scattered in any order")

	require.Equal(t, 251-21-48, s.AvailableIPs)
	usable := hosts(s.CIDR)
	seen := map[netip.Addr]bool{}
	for _, a := range a1 {
		require.Contains(t, usable, a)
		require.False(t, seen[a], "%s twice", a)
		seen[a] = true
	}
	for _, p := range p1 {
		require.Equal(t, p.Masked(), p)
		require.Equal(t, 28, p.Bits())
		for a, i := p.Addr(), 0; i < 16; a, i = a.Next(), i+1 {
			require.Contains(t, usable, a)
			require.False(t, seen[a], "%s twice", a)
			seen[a] = true
		}
	}

	// A random fake still hands out every host address exactly once.
	w := newWorld(t, fake.Options{RandomAddresses: 9})
	e := createENI(t, w.c, w.tiny.ID, 10)
	got := addrsOf(e)
	slices.SortFunc(got, netip.Addr.Compare)
	require.Equal(t, hosts(w.tiny.CIDR), got)
	_, err := w.c.CreateENI(t.Context(), eni.CreateENIInput{SubnetID: w.tiny.ID})
	requireCode(t, err, eni.ErrInsufficientFreeAddresses, "InsufficientFreeAddressesInSubnet")
}
