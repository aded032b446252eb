package ipam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/eniway/eniway/eni"
)

// Tags eniway puts on the interfaces it creates.
const (
	// TagCluster carries the cluster name; the garbage collector only ever
	// touches interfaces with the configured cluster's tag.
	TagCluster = "eniway.io/cluster"
	// TagNode carries the node name the interface was created for.
	TagNode = "eniway.io/node"
	// TagCreatedAt carries the creation time, RFC 3339 in UTC, so that an
	// interface's age survives restarts of the collector.
	TagCreatedAt = "eniway.io/created-at"
)

// GCCloud is what the garbage collector needs from EC2.
type GCCloud interface {
	eni.ENIDescriber
	eni.ENILifecycle
}

// GCOptions configure a GarbageCollector.
type GCOptions struct {
	// Cluster is the value of TagCluster on this cluster's interfaces;
	// required.
	Cluster string
	// GracePeriod is how long an interface must have been available
	// (created but never attached, or detached and left behind) before it
	// is deleted; 0 means DefaultGCGracePeriod. The age is taken from
	// TagCreatedAt when present, else from when this collector first saw
	// the interface available.
	GracePeriod time.Duration
	// Interval between passes of Start; 0 means DefaultGCInterval.
	Interval time.Duration
	// ExcludeTags protect interfaces carrying any one of these tags (an
	// empty value matches any value of the key).
	ExcludeTags eni.Tags
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// Defaults of GCOptions.
const (
	DefaultGCGracePeriod = 10 * time.Minute
	DefaultGCInterval    = 5 * time.Minute
)

// Validate reports whether o is usable.
func (o GCOptions) Validate() error {
	var errs []error
	if o.Cluster == "" {
		errs = append(errs, errors.New("ipam: GCOptions.Cluster is required: the collector only deletes interfaces tagged with its cluster"))
	}
	if o.GracePeriod < 0 {
		errs = append(errs, fmt.Errorf("ipam: GCOptions.GracePeriod %s is negative", o.GracePeriod))
	}
	if o.Interval < 0 {
		errs = append(errs, fmt.Errorf("ipam: GCOptions.Interval %s is negative", o.Interval))
	}
	return errors.Join(errs...)
}

func (o GCOptions) withDefaults() GCOptions {
	if o.GracePeriod == 0 {
		o.GracePeriod = DefaultGCGracePeriod
	}
	if o.Interval == 0 {
		o.Interval = DefaultGCInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// GarbageCollector deletes interfaces eniway created for this cluster and
// left behind: those in status available (never attached, as after a crash
// between create and attach, or detached) for longer than the grace
// period. It never touches an attached interface, one of another cluster,
// or one carrying an exclude tag. Collect and Start must not run
// concurrently.
type GarbageCollector struct {
	cloud     GCCloud
	o         GCOptions
	firstSeen map[string]time.Time
}

// NewGarbageCollector returns a collector; the error is o's Validate error.
func NewGarbageCollector(c GCCloud, o GCOptions) (*GarbageCollector, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &GarbageCollector{cloud: c, o: o.withDefaults(), firstSeen: map[string]time.Time{}}, nil
}

// Collect makes one pass with one DescribeENIs call and returns the IDs it
// deleted. An interface that got attached or deleted meanwhile is skipped;
// other delete failures are joined into the error after the pass goes on.
func (g *GarbageCollector) Collect(ctx context.Context) ([]string, error) {
	enis, err := g.cloud.DescribeENIs(ctx, eni.ENIFilter{Status: eni.StatusAvailable, Tags: eni.Tags{TagCluster: g.o.Cluster}})
	if err != nil {
		return nil, fmt.Errorf("ipam: gc: describe available interfaces: %w", err)
	}
	now := g.o.Now()
	seen := make(map[string]time.Time, len(enis))
	var deleted []string
	var errs []error
	for _, e := range enis {
		if hasAnyTag(e.Tags, g.o.ExcludeTags) {
			continue
		}
		since, ok := g.firstSeen[e.ID]
		if !ok {
			since = now
		}
		if ts, ok := e.Tags[TagCreatedAt]; ok {
			if created, err := time.Parse(time.RFC3339, ts); err == nil && created.Before(since) {
				since = created
			}
		}
		if now.Sub(since) < g.o.GracePeriod {
			seen[e.ID] = since
			continue
		}
		err := g.cloud.DeleteENI(ctx, e.ID)
		switch {
		case err == nil:
			deleted = append(deleted, e.ID)
			g.o.Logger.Info("deleted leaked interface", "eni", e.ID, "node", e.Tags[TagNode], "age", now.Sub(since))
		case errors.Is(err, eni.ErrInUse), errors.Is(err, eni.ErrENINotFound):
			// Attached or deleted by someone else since the describe.
		default:
			seen[e.ID] = since
			errs = append(errs, fmt.Errorf("ipam: gc: delete %s: %w", e.ID, err))
		}
	}
	g.firstSeen = seen // forget interfaces no longer available
	return deleted, errors.Join(errs...)
}

// Start runs Collect every Interval until ctx ends, logging failures, and
// returns nil then. It satisfies controller-runtime's manager.Runnable.
func (g *GarbageCollector) Start(ctx context.Context) error {
	return runEvery(ctx, g.o.Interval, nil, g.o.Logger, "garbage collection pass failed", func(ctx context.Context) error {
		_, err := g.Collect(ctx)
		return err
	})
}

// runEvery runs pass at once, then every interval and whenever wake fires
// (a nil wake never does), until ctx ends; it then returns nil. A pass's
// error is logged with msg and the loop goes on.
func runEvery(ctx context.Context, interval time.Duration, wake <-chan struct{}, log *slog.Logger, msg string, pass func(context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := pass(ctx); err != nil && ctx.Err() == nil {
			log.Warn(msg, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-t.C:
		}
	}
}
