package eni

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultLimitsRefresh is LimitsCacheOptions.Refresh's default: at most one
// DescribeInstanceTypes lookup a minute.
const DefaultLimitsRefresh = time.Minute

// LimitsCacheOptions configure a LimitsCache. The zero value is valid: one
// lookup a minute at most, the snapshot as fallback, time.Now, no logs.
type LimitsCacheOptions struct {
	// Refresh is the least time between two DescribeInstanceTypes lookups,
	// whatever types they are for (default DefaultLimitsRefresh).
	Refresh time.Duration
	// DisableFallback stops the cache from answering with the embedded
	// snapshot (SnapshotLimits) when the API cannot answer.
	DisableFallback bool
	// Now tells the time; nil is time.Now.
	Now func() time.Time
	// Logger receives a record each time the snapshot answers instead of
	// the API (warning when the API failed, debug when no lookup was
	// allowed yet). Nil discards.
	Logger *slog.Logger
}

// Validate reports options NewLimitsCache would reject.
func (o LimitsCacheOptions) Validate() error {
	if o.Refresh < 0 {
		return fmt.Errorf("eni: invalid LimitsCacheOptions: negative Refresh %v", o.Refresh)
	}
	return nil
}

func (o LimitsCacheOptions) withDefaults() LimitsCacheOptions {
	if o.Refresh == 0 {
		o.Refresh = DefaultLimitsRefresh
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// LimitsCache answers instance type limits from DescribeInstanceTypes, the
// source of truth, cached, with the embedded snapshot as fallback. Create
// it with NewLimitsCache; it is safe for concurrent use.
//
// A type the API has described is served from memory for the cache's
// lifetime (a type's limits do not change). A type it has not is looked up
// with DescribeInstanceTypes naming that type, rate-limited: at most one
// lookup per Refresh, all types together, so that a burst of new types (or
// a failing API) never turns into a burst of calls. Concurrent Gets of a
// type share one lookup. When the lookup fails, or is not allowed yet, the
// snapshot answers if it knows the type (unless DisableFallback), and the
// type is looked up again on a later Get, once Refresh has passed. EC2
// answering that it does not know the type (InvalidInstanceType) counts as
// a failed lookup too: an instance of the type exists, or nobody would ask
// for it, so the snapshot's answer is better than none.
type LimitsCache struct {
	api      InstanceTypeDescriber
	refresh  time.Duration
	fallback bool
	now      func() time.Time
	log      *slog.Logger

	mu      sync.Mutex
	known   map[string]Limits        // as the API described them
	flights map[string]*limitsFlight // lookups in progress, by type
	looked  bool                     // a lookup has started; last is when the latest did
	last    time.Time
}

// limitsFlight is one DescribeInstanceTypes lookup and the Gets waiting for
// it. Its fields are guarded by LimitsCache.mu until done is closed; limits
// and err are final then.
type limitsFlight struct {
	ctx     context.Context
	cancel  context.CancelFunc
	waiters int
	done    chan struct{}
	retryAt time.Time
	limits  Limits
	err     error
}

// NewLimitsCache returns an empty cache asking d. It panics if d is nil or
// o.Validate fails: both are programming errors.
func NewLimitsCache(d InstanceTypeDescriber, o LimitsCacheOptions) *LimitsCache {
	if d == nil {
		panic("eni: NewLimitsCache with a nil InstanceTypeDescriber")
	}
	if err := o.Validate(); err != nil {
		panic(err)
	}
	o = o.withDefaults()
	return &LimitsCache{
		api:      d,
		refresh:  o.Refresh,
		fallback: !o.DisableFallback,
		now:      o.Now,
		log:      o.Logger,
		known:    map[string]Limits{},
		flights:  map[string]*limitsFlight{},
	}
}

// Get returns an instance type's limits: the API's, from the cache or from
// a lookup of the type (started now if none is in progress and Refresh has
// passed since the last one, else joined or skipped); or, when the lookup
// fails or is skipped, the snapshot's (see LimitsCache).
//
// Errors: an *UnknownInstanceTypeError, which wraps ErrUnknownInstanceType
// (hence ErrNotFound) and the lookup's error if there was one (such as
// ErrThrottled, or ErrInvalidParameter when EC2 does not know the type),
// when neither the API nor the snapshot answered; ErrInvalidParameter for
// an empty name; the context's error when ctx ends before the API answers
// (the lookup goes on for other Gets waiting for it, and is cancelled when
// none is left). A cached type is returned even if ctx is done.
func (c *LimitsCache) Get(ctx context.Context, instanceType string) (Limits, error) {
	if instanceType == "" {
		return Limits{}, fmt.Errorf("eni: instance type limits: empty instance type name: %w", ErrInvalidParameter)
	}
	c.mu.Lock()
	if l, ok := c.known[instanceType]; ok {
		c.mu.Unlock()
		return l, nil
	}
	if err := ctx.Err(); err != nil {
		c.mu.Unlock()
		return Limits{}, fmt.Errorf("eni: instance type %s limits: %w", instanceType, err)
	}
	f := c.flights[instanceType]
	if f == nil {
		now := c.now()
		if next := c.last.Add(c.refresh); c.looked && now.Before(next) {
			c.mu.Unlock()
			return c.fallBack(instanceType, nil, next)
		}
		c.looked, c.last = true, now
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &limitsFlight{ctx: fctx, cancel: cancel, done: make(chan struct{}), retryAt: now.Add(c.refresh)}
		c.flights[instanceType] = f
		go c.lookup(instanceType, f)
	}
	f.waiters++
	c.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		c.leave(instanceType, f)
		return Limits{}, fmt.Errorf("eni: instance type %s limits: %w", instanceType, context.Cause(ctx))
	}
	if f.err != nil {
		return c.fallBack(instanceType, f.err, f.retryAt)
	}
	return f.limits, nil
}

// lookup asks the API for one type, caches the answer and wakes the Gets
// waiting for it.
func (c *LimitsCache) lookup(instanceType string, f *limitsFlight) {
	defer f.cancel()
	ls, err := c.api.DescribeInstanceTypes(f.ctx, instanceType)
	var l Limits
	switch {
	case err != nil:
	case len(ls) != 1 || ls[0].InstanceType != instanceType:
		err = fmt.Errorf("eni: DescribeInstanceTypes %s answered %d types: %v", instanceType, len(ls), ls)
	default:
		l = ls[0]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.known[instanceType] = l
	}
	if c.flights[instanceType] == f {
		delete(c.flights, instanceType)
	}
	f.limits, f.err = l, err
	close(f.done)
}

// leave drops a Get that stopped waiting; the last one out cancels the
// lookup, and a later Get starts a new one (when Refresh allows).
func (c *LimitsCache) leave(instanceType string, f *limitsFlight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return
	}
	f.cancel()
	if c.flights[instanceType] == f {
		delete(c.flights, instanceType)
	}
}

// fallBack answers from the snapshot when the API did not: apiErr is the
// lookup's error, nil when no lookup was allowed before retryAt.
func (c *LimitsCache) fallBack(instanceType string, apiErr error, retryAt time.Time) (Limits, error) {
	if c.fallback {
		if l, ok := SnapshotLimits(instanceType); ok {
			if apiErr != nil {
				c.log.Warn("instance type limits from the snapshot: DescribeInstanceTypes failed",
					"instance_type", instanceType, "err", apiErr, "retry_at", retryAt)
			} else {
				c.log.Debug("instance type limits from the snapshot: lookup rate-limited",
					"instance_type", instanceType, "retry_at", retryAt)
			}
			return l, nil
		}
	}
	return Limits{}, &UnknownInstanceTypeError{InstanceType: instanceType, Err: apiErr, RetryAt: retryAt, snapshotAsked: c.fallback}
}

// UnknownInstanceTypeError is LimitsCache.Get's error for an instance type
// that neither DescribeInstanceTypes nor the snapshot gave limits for. It
// wraps ErrUnknownInstanceType and, when the API was asked, its error.
type UnknownInstanceTypeError struct {
	// InstanceType is the type asked for.
	InstanceType string
	// Err is the lookup's error, or nil when no lookup was allowed yet
	// (the last one was less than Refresh ago).
	Err error
	// RetryAt is when the cache will next allow a lookup.
	RetryAt time.Time

	snapshotAsked bool
}

func (e *UnknownInstanceTypeError) Error() string {
	snap := "not in the snapshot"
	if !e.snapshotAsked {
		snap = "snapshot fallback disabled"
	}
	if e.Err == nil {
		return fmt.Sprintf("eni: instance type %s not found: %s, and no DescribeInstanceTypes lookup allowed before %s",
			e.InstanceType, snap, e.RetryAt.Format(time.RFC3339))
	}
	return fmt.Sprintf("eni: instance type %s not found: %s, and DescribeInstanceTypes failed: %v", e.InstanceType, snap, e.Err)
}

// Unwrap returns ErrUnknownInstanceType and the lookup's error, if any.
func (e *UnknownInstanceTypeError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrUnknownInstanceType}
	}
	return []error{ErrUnknownInstanceType, e.Err}
}
