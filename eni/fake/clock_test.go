package fake_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/eni/fake"
)

func TestManualClock(t *testing.T) {
	clock := fake.NewManualClock(epoch)
	require.Equal(t, epoch, clock.Now())
	_, ok := clock.NextDeadline()
	require.False(t, ok)
	require.NoError(t, clock.Sleep(t.Context(), 0), "no wait for d <= 0")
	require.NoError(t, clock.Sleep(t.Context(), -time.Second))

	done := make(chan error, 2)
	go func() { done <- clock.Sleep(t.Context(), 2*time.Second) }()
	go func() { done <- clock.Sleep(t.Context(), time.Second) }()
	waitSleepers(t, clock, 2)
	next, ok := clock.NextDeadline()
	require.True(t, ok)
	require.Equal(t, epoch.Add(time.Second), next)

	clock.Advance(time.Second)
	require.NoError(t, <-done, "the 1s sleeper wakes at its deadline")
	require.Equal(t, 1, clock.Sleepers())
	require.Equal(t, epoch.Add(time.Second), clock.Now())

	clock.Set(epoch.Add(time.Hour))
	require.NoError(t, <-done)
	require.Zero(t, clock.Sleepers())

	// Backwards wakes nobody.
	go func() { done <- clock.Sleep(t.Context(), time.Minute) }()
	waitSleepers(t, clock, 1)
	clock.Set(epoch)
	require.Equal(t, 1, clock.Sleepers())
	clock.Set(epoch.Add(time.Hour + time.Minute))
	require.NoError(t, <-done)

	// A context ending wakes the sleeper with its error.
	ctx, cancel := context.WithCancel(t.Context())
	go func() { done <- clock.Sleep(ctx, time.Minute) }()
	waitSleepers(t, clock, 1)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.Zero(t, clock.Sleepers())
	require.ErrorIs(t, clock.Sleep(ctx, time.Second), context.Canceled)

	var zero fake.ManualClock
	require.True(t, zero.Now().IsZero())
	zero.Advance(time.Second)
	require.Equal(t, time.Time{}.Add(time.Second), zero.Now())
}

func TestRealClock(t *testing.T) {
	clock := fake.RealClock()
	start := clock.Now()
	require.NoError(t, clock.Sleep(t.Context(), time.Millisecond))
	require.GreaterOrEqual(t, clock.Now().Sub(start), time.Millisecond)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	start = time.Now()
	require.ErrorIs(t, clock.Sleep(ctx, time.Hour), context.DeadlineExceeded)
	require.Less(t, time.Since(start), time.Minute)
	require.ErrorIs(t, clock.Sleep(ctx, 0), context.DeadlineExceeded)
}
