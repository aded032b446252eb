package fake

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Clock is the fake's notion of time: it dates ENI creation (for
// Options.DescribeDelay), refills the throttling buckets and sleeps
// Options.Latency. Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d to pass, or for ctx to end (it then returns
	// ctx.Err()). A d <= 0 does not wait.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock returns the wall clock: time.Now, and a timer for Sleep.
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ManualClock is a Clock that moves only when told to, for tests and
// simulations: Sleep returns once Advance or Set has moved the clock to or
// past the sleeper's deadline (or its context ends). It is safe for
// concurrent use. The zero value starts at the zero time.
type ManualClock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers []*sleeper
}

type sleeper struct {
	deadline time.Time
	done     chan struct{}
}

var _ Clock = (*ManualClock)(nil)

// NewManualClock returns a ManualClock reading start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now returns the clock's time.
func (m *ManualClock) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Sleep blocks until the clock reaches Now()+d or ctx ends, whichever comes
// first. It advances nothing itself.
func (m *ManualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	m.mu.Lock()
	s := &sleeper{deadline: m.now.Add(d), done: make(chan struct{})}
	m.sleepers = append(m.sleepers, s)
	m.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		m.mu.Lock()
		defer m.mu.Unlock()
		i := slices.Index(m.sleepers, s)
		if i < 0 {
			return nil // woken at the same moment: the sleep did end
		}
		m.sleepers = slices.Delete(m.sleepers, i, i+1)
		return ctx.Err()
	}
}

// Advance moves the clock forward by d and wakes every sleeper whose
// deadline it reaches.
func (m *ManualClock) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setLocked(m.now.Add(d))
}

// Set moves the clock to t (backwards too) and wakes every sleeper whose
// deadline it reaches.
func (m *ManualClock) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setLocked(t)
}

func (m *ManualClock) setLocked(t time.Time) {
	m.now = t
	m.sleepers = slices.DeleteFunc(m.sleepers, func(s *sleeper) bool {
		if s.deadline.After(t) {
			return false
		}
		close(s.done)
		return true
	})
}

// Sleepers returns how many goroutines are blocked in Sleep, so that a test
// can wait for a call to reach its latency before advancing the clock.
func (m *ManualClock) Sleepers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sleepers)
}

// NextDeadline returns the earliest time a blocked Sleep waits for, and
// false if nothing sleeps. A simulation advances to it when every actor is
// blocked.
func (m *ManualClock) NextDeadline() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sleepers) == 0 {
		return time.Time{}, false
	}
	next := m.sleepers[0].deadline
	for _, s := range m.sleepers[1:] {
		if s.deadline.Before(next) {
			next = s.deadline
		}
	}
	return next, true
}
