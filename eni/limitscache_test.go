package eni_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
)

const describeTypes = fake.ActionDescribeInstanceTypes

// custom is an instance type the fake knows and the snapshot does not.
var custom = eni.Limits{InstanceType: "x9.custom", MaxENIs: 2, IPv4PerENI: 4, IPv6PerENI: 0, Hypervisor: "nitro", VCPUs: 1}

// API answers as the fake's built-in types have them, vCPUs included (the
// snapshot's are 0, unknown), so tests can tell who answered.
var (
	apiM5Large  = eni.Limits{InstanceType: "m5.large", MaxENIs: 3, IPv4PerENI: 10, IPv6PerENI: 10, Hypervisor: "nitro", VCPUs: 2}
	apiM5XLarge = eni.Limits{InstanceType: "m5.xlarge", MaxENIs: 4, IPv4PerENI: 15, IPv6PerENI: 15, Hypervisor: "nitro", VCPUs: 4}
)

func snapshotLimits(t *testing.T, typ string) eni.Limits {
	t.Helper()
	l, ok := eni.SnapshotLimits(typ)
	require.True(t, ok, typ)
	return l
}

// clock is a controllable LimitsCacheOptions.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newWorld() *fake.Cloud { return fake.New(fake.Options{InstanceTypes: []eni.Limits{custom}}) }

func TestLimitsCacheServesKnownTypesFromCache(t *testing.T) {
	cloud, clk := newWorld(), newClock()
	c := eni.NewLimitsCache(cloud, eni.LimitsCacheOptions{Now: clk.Now})
	for range 3 {
		l, err := c.Get(t.Context(), "m5.large")
		require.NoError(t, err)
		require.Equal(t, apiM5Large, l, "the API's answer, vCPUs and all")
		clk.Advance(time.Hour)
	}
	require.Equal(t, 1, cloud.Calls(describeTypes))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	l, err := c.Get(ctx, "m5.large")
	require.NoError(t, err, "a cached type needs no context")
	require.Equal(t, apiM5Large, l)
	require.Equal(t, 1, cloud.Calls(describeTypes))
}

func TestLimitsCacheRateLimitsLookups(t *testing.T) {
	for _, refresh := range []time.Duration{0, 10 * time.Second} {
		t.Run(fmt.Sprint(refresh), func(t *testing.T) {
			every := refresh
			if every == 0 {
				every = eni.DefaultLimitsRefresh
			}
			cloud, clk := newWorld(), newClock()
			c := eni.NewLimitsCache(cloud, eni.LimitsCacheOptions{Refresh: refresh, Now: clk.Now})
			t0 := clk.Now()

			l, err := c.Get(t.Context(), "m5.large")
			require.NoError(t, err)
			require.Equal(t, apiM5Large, l)

			clk.Advance(every / 2)
			l, err = c.Get(t.Context(), "m5.xlarge")
			require.NoError(t, err)
			require.Equal(t, snapshotLimits(t, "m5.xlarge"), l, "no lookup allowed yet: the snapshot answers")

			_, err = c.Get(t.Context(), custom.InstanceType)
			require.ErrorIs(t, err, eni.ErrUnknownInstanceType)
			require.ErrorIs(t, err, eni.ErrNotFound)
			var unknown *eni.UnknownInstanceTypeError
			require.ErrorAs(t, err, &unknown)
			require.Equal(t, custom.InstanceType, unknown.InstanceType)
			require.NoError(t, unknown.Err, "the API was not asked")
			require.Equal(t, t0.Add(every), unknown.RetryAt)
			require.Equal(t, 1, cloud.Calls(describeTypes))

			clk.Advance(every / 2)
			l, err = c.Get(t.Context(), custom.InstanceType)
			require.NoError(t, err)
			require.Equal(t, custom, l, "Refresh has passed: looked up")
			require.Equal(t, 2, cloud.Calls(describeTypes))

			clk.Advance(every - time.Nanosecond)
			l, err = c.Get(t.Context(), "m5.xlarge")
			require.NoError(t, err)
			require.Equal(t, snapshotLimits(t, "m5.xlarge"), l, "one lookup per Refresh, all types together")
			clk.Advance(time.Nanosecond)
			l, err = c.Get(t.Context(), "m5.xlarge")
			require.NoError(t, err)
			require.Equal(t, apiM5XLarge, l)
			require.Equal(t, 3, cloud.Calls(describeTypes))

			for _, typ := range []string{"m5.large", custom.InstanceType, "m5.xlarge"} {
				_, err := c.Get(t.Context(), typ)
				require.NoError(t, err)
			}
			require.Equal(t, 3, cloud.Calls(describeTypes), "all cached")
		})
	}
}

func TestLimitsCacheFallsBackWhenTheAPIFails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault error
	}{
		{"throttled", eni.NewAPIError(describeTypes, "RequestLimitExceeded", "Request limit exceeded.")},
		{"unauthorized", eni.NewAPIError(describeTypes, "UnauthorizedOperation", "You are not authorized to perform this operation.")},
		{"network", errors.New("connection reset by peer")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cloud, clk := newWorld(), newClock()
			var logs bytes.Buffer
			c := eni.NewLimitsCache(cloud, eni.LimitsCacheOptions{
				Now:    clk.Now,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			cloud.SetFault(describeTypes, func(fake.Call) error { return tc.fault })

			l, err := c.Get(t.Context(), "m5.large")
			require.NoError(t, err)
			require.Equal(t, snapshotLimits(t, "m5.large"), l)
			require.Equal(t, 1, cloud.Calls(describeTypes))
			require.Contains(t, logs.String(), "level=WARN")
			require.Contains(t, logs.String(), "instance_type=m5.large")

			clk.Advance(time.Minute)
			_, err = c.Get(t.Context(), custom.InstanceType)
			require.ErrorIs(t, err, eni.ErrUnknownInstanceType)
			require.ErrorIs(t, err, tc.fault, "the API's error is wrapped too")
			var unknown *eni.UnknownInstanceTypeError
			require.ErrorAs(t, err, &unknown)
			require.Equal(t, tc.fault, unknown.Err)
			require.Equal(t, clk.Now().Add(time.Minute), unknown.RetryAt)
			require.Equal(t, 2, cloud.Calls(describeTypes))

			cloud.SetFault(describeTypes, nil)
			clk.Advance(time.Minute)
			l, err = c.Get(t.Context(), "m5.large")
			require.NoError(t, err)
			require.Equal(t, apiM5Large, l, "the API is asked again, and is the source of truth")
			require.Equal(t, 3, cloud.Calls(describeTypes))
		})
	}
}

// TestLimitsCacheTypeEC2DoesNotKnow: EC2 answering InvalidInstanceType is a
// failed lookup; the snapshot answers for a type it has.
func TestLimitsCacheTypeEC2DoesNotKnow(t *testing.T) {
	cloud, clk := newWorld(), newClock()
	c := eni.NewLimitsCache(cloud, eni.LimitsCacheOptions{Now: clk.Now})
	l, err := c.Get(t.Context(), "c5.large") // not one of the fake's types
	require.NoError(t, err)
	require.Equal(t, snapshotLimits(t, "c5.large"), l)

	clk.Advance(time.Minute)
	_, err = c.Get(t.Context(), "x9.nonexistent")
	require.ErrorIs(t, err, eni.ErrUnknownInstanceType)
	require.ErrorIs(t, err, eni.ErrInvalidParameter, "EC2's InvalidInstanceType")
	var apiErr *eni.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "InvalidInstanceType", apiErr.Code)
	require.Equal(t, 2, cloud.Calls(describeTypes))
}

func TestLimitsCacheDisableFallback(t *testing.T) {
	cloud, clk := newWorld(), newClock()
	c := eni.NewLimitsCache(cloud, eni.LimitsCacheOptions{Now: clk.Now, DisableFallback: true})
	cloud.SetFault(describeTypes, func(fake.Call) error {
		return eni.NewAPIError(describeTypes, "RequestLimitExceeded", "Request limit exceeded.")
	})
	_, err := c.Get(t.Context(), "m5.large")
	require.ErrorIs(t, err, eni.ErrUnknownInstanceType)
	require.ErrorIs(t, err, eni.ErrThrottled)
	require.ErrorContains(t, err, "snapshot fallback disabled")

	cloud.SetFault(describeTypes, nil)
	_, err = c.Get(t.Context(), "m5.large")
	require.ErrorIs(t, err, eni.ErrUnknownInstanceType, "rate-limited, and no fallback")
	var unknown *eni.UnknownInstanceTypeError
	require.ErrorAs(t, err, &unknown)
	require.NoError(t, unknown.Err)
	require.Equal(t, 1, cloud.Calls(describeTypes))

	clk.Advance(time.Minute)
	l, err := c.Get(t.Context(), "m5.large")
	require.NoError(t, err)
	require.Equal(t, apiM5Large, l)
}

func TestLimitsCacheSharesConcurrentLookups(t *testing.T) {
	cloud, clk := newWorld(), newClock()
	c := eni.NewLimitsCache(cloud, eni.LimitsCacheOptions{Now: clk.Now})
	release := make(chan struct{})
	cloud.SetFault(describeTypes, func(fake.Call) error { <-release; return nil })

	const n = 16
	var wg sync.WaitGroup
	got := make([]eni.Limits, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { got[i], errs[i] = c.Get(t.Context(), custom.InstanceType) })
	}
	require.Eventually(t, func() bool { return c.FlightWaiters(custom.InstanceType) == n },
		10*time.Second, time.Millisecond, "every Get joins the one lookup")
	close(release)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, custom, got[i])
	}
	require.Equal(t, 1, cloud.Calls(describeTypes))
	require.Zero(t, c.FlightWaiters(custom.InstanceType))
}

func TestLimitsCacheContext(t *testing.T) {
	mc := fake.NewManualClock(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	cloud := fake.New(fake.Options{Clock: mc, Latency: time.Second, InstanceTypes: []eni.Limits{custom}})
	c := eni.NewLimitsCache(cloud, eni.LimitsCacheOptions{Now: mc.Now})

	t.Run("done on entry", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := c.Get(ctx, custom.InstanceType)
		require.ErrorIs(t, err, context.Canceled)
		require.Zero(t, cloud.Calls(describeTypes), "no lookup spent")
	})

	t.Run("one waiter leaves", func(t *testing.T) {
		ctx1, cancel1 := context.WithCancel(t.Context())
		defer cancel1()
		type result struct {
			l   eni.Limits
			err error
		}
		first, second := make(chan result, 1), make(chan result, 1)
		go func() { l, err := c.Get(ctx1, custom.InstanceType); first <- result{l, err} }()
		require.Eventually(t, func() bool { return mc.Sleepers() == 1 }, 10*time.Second, time.Millisecond)
		go func() { l, err := c.Get(t.Context(), custom.InstanceType); second <- result{l, err} }()
		require.Eventually(t, func() bool { return c.FlightWaiters(custom.InstanceType) == 2 }, 10*time.Second, time.Millisecond)

		cancel1()
		r := <-first
		require.ErrorIs(t, r.err, context.Canceled)
		require.Equal(t, 1, c.FlightWaiters(custom.InstanceType))
		mc.Advance(time.Second)
		r = <-second
		require.NoError(t, r.err, "the lookup went on for the Get still waiting")
		require.Equal(t, custom, r.l)
		require.Equal(t, 1, cloud.Calls(describeTypes))
	})

	t.Run("last waiter leaves", func(t *testing.T) {
		mc.Advance(time.Minute)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { _, err := c.Get(ctx, "m5.large"); done <- err }()
		require.Eventually(t, func() bool { return mc.Sleepers() == 1 }, 10*time.Second, time.Millisecond)
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		require.Eventually(t, func() bool { return mc.Sleepers() == 0 }, 10*time.Second, time.Millisecond,
			"the lookup is cancelled")
		require.Zero(t, c.FlightWaiters("m5.large"))
		require.Equal(t, 2, cloud.Calls(describeTypes))

		l, err := c.Get(t.Context(), "m5.large")
		require.NoError(t, err)
		require.Equal(t, snapshotLimits(t, "m5.large"), l, "the cancelled lookup used the Refresh slot")
		require.Equal(t, 2, cloud.Calls(describeTypes))
	})
}

func TestLimitsCacheConcurrentUse(t *testing.T) {
	cloud := newWorld()
	var fail sync.Mutex
	failing := false
	cloud.SetFault(describeTypes, func(fake.Call) error {
		fail.Lock()
		defer fail.Unlock()
		failing = !failing
		if failing {
			return eni.NewAPIError(describeTypes, "RequestLimitExceeded", "Request limit exceeded.")
		}
		return nil
	})
	c := eni.NewLimitsCache(cloud, eni.LimitsCacheOptions{Refresh: time.Nanosecond})
	types := []string{"m5.large", "m5.xlarge", "m5.4xlarge", "t2.medium", "c5.large", custom.InstanceType, "x9.nonexistent"}
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 50 {
				typ := types[(g+i)%len(types)]
				l, err := c.Get(t.Context(), typ)
				if err != nil {
					assert.ErrorIs(t, err, eni.ErrUnknownInstanceType, typ)
					assert.NotEqual(t, "m5.large", typ, "m5.large is in the snapshot")
					continue
				}
				assert.Equal(t, typ, l.InstanceType)
			}
		})
	}
	wg.Wait()
	_, err := c.Get(t.Context(), "x9.nonexistent")
	require.ErrorIs(t, err, eni.ErrUnknownInstanceType)
}

func TestLimitsCacheArguments(t *testing.T) {
	cloud := newWorld()
	c := eni.NewLimitsCache(cloud, eni.LimitsCacheOptions{})
	_, err := c.Get(t.Context(), "")
	require.ErrorIs(t, err, eni.ErrInvalidParameter)
	require.Zero(t, cloud.Calls(describeTypes))

	require.NoError(t, eni.LimitsCacheOptions{}.Validate())
	require.Error(t, eni.LimitsCacheOptions{Refresh: -time.Second}.Validate())
	require.Panics(t, func() { eni.NewLimitsCache(cloud, eni.LimitsCacheOptions{Refresh: -time.Second}) })
	require.Panics(t, func() { eni.NewLimitsCache(nil, eni.LimitsCacheOptions{}) })
}
