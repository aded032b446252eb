// Package ipammetrics exports the measurements of package ipam, and of the
// EC2 calls behind it, as Prometheus metrics. It is a package of its own so
// that package ipam stays free of the Prometheus client and its
// dependencies.
package ipammetrics

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/ipam"
)

// Metrics are the Prometheus metrics of the pool manager, the allocators
// and the EC2 calls they make. Create one per registry with New and hand
// it to ipam.ManagerOptions.Observer and ipam.AllocatorOptions.Observer;
// wrap the Cloud with InstrumentCloud, and give ObserveRateLimitWait to
// eni/aws's Options.OnRateLimitWait. A nil *Metrics records nothing.
type Metrics struct {
	available, used, needed *prometheus.GaugeVec
	creations               *prometheus.CounterVec
	calls                   *prometheus.CounterVec
	latency                 *prometheus.HistogramVec
	rateLimitWait           prometheus.Histogram
	allocation              prometheus.Histogram
}

var _ ipam.Observer = (*Metrics)(nil)

// New creates the metrics and registers them with reg. The error is the
// registry's, e.g. for a second registration.
func New(reg prometheus.Registerer) (*Metrics, error) {
	const ns, sub = "eniway", "ipam"
	m := &Metrics{
		available: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "available_ips",
			Help: "Pod addresses in the node's pool."}, []string{"node"}),
		used: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "used_ips",
			Help: "Pod addresses handed to pods on the node."}, []string{"node"}),
		needed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "needed_ips",
			Help: "Pod addresses the node's pool should hold: use, pending pods and pre-allocation."}, []string{"node"}),
		creations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "interface_creations_total",
			Help: "Network interfaces the manager created, by result (attached, failed)."}, []string{"result"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "ec2_calls_total",
			Help: "EC2 calls by action and outcome (ok, or the AWS error code, or error)."}, []string{"action", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "ec2_call_duration_seconds",
			Help: "Latency of EC2 calls by action.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}, []string{"action"}),
		rateLimitWait: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "rate_limit_wait_seconds",
			Help: "Time EC2 requests waited for the client-side rate limiter.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		allocation: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "allocation_duration_seconds",
			Help: "Time the allocator took to hand a pod its address, checkpoint included.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14)}),
	}
	for _, c := range []prometheus.Collector{m.available, m.used, m.needed, m.creations, m.calls, m.latency, m.rateLimitWait, m.allocation} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ObserveRateLimitWait records one request's wait for the client-side
// limiter; pass it as eni/aws Options.OnRateLimitWait.
func (m *Metrics) ObserveRateLimitWait(d time.Duration) {
	if m != nil {
		m.rateLimitWait.Observe(d.Seconds())
	}
}

// NodePool implements ipam.Observer.
func (m *Metrics) NodePool(node string, available, used, needed int) {
	if m == nil {
		return
	}
	m.available.WithLabelValues(node).Set(float64(available))
	m.used.WithLabelValues(node).Set(float64(used))
	m.needed.WithLabelValues(node).Set(float64(needed))
}

// NodeRemoved implements ipam.Observer.
func (m *Metrics) NodeRemoved(node string) {
	if m == nil {
		return
	}
	m.available.DeleteLabelValues(node)
	m.used.DeleteLabelValues(node)
	m.needed.DeleteLabelValues(node)
}

// InterfaceCreated implements ipam.Observer.
func (m *Metrics) InterfaceCreated(ok bool) {
	if m == nil {
		return
	}
	result := "attached"
	if !ok {
		result = "failed"
	}
	m.creations.WithLabelValues(result).Inc()
}

// Allocated implements ipam.Observer.
func (m *Metrics) Allocated(d time.Duration) {
	if m != nil {
		m.allocation.Observe(d.Seconds())
	}
}

// InstrumentCloud returns c with every call counted and timed by action.
func (m *Metrics) InstrumentCloud(c eni.Cloud) eni.Cloud {
	if m == nil {
		return c
	}
	return &instrumented{c: c, m: m}
}

type instrumented struct {
	c eni.Cloud
	m *Metrics
}

var _ eni.Cloud = (*instrumented)(nil)

func (i *instrumented) observe(action string, start time.Time, err error) {
	outcome := "ok"
	var apiErr *eni.APIError
	switch {
	case errors.As(err, &apiErr):
		outcome = apiErr.Code
	case err != nil:
		outcome = "error"
	}
	i.m.calls.WithLabelValues(action, outcome).Inc()
	i.m.latency.WithLabelValues(action).Observe(time.Since(start).Seconds())
}

func (i *instrumented) DescribeInstance(ctx context.Context, id string) (out eni.Instance, err error) {
	defer func(start time.Time) { i.observe("DescribeInstances", start, err) }(time.Now())
	return i.c.DescribeInstance(ctx, id)
}

func (i *instrumented) DescribeInstanceTypes(ctx context.Context, types ...string) (out []eni.Limits, err error) {
	defer func(start time.Time) { i.observe("DescribeInstanceTypes", start, err) }(time.Now())
	return i.c.DescribeInstanceTypes(ctx, types...)
}

func (i *instrumented) DescribeENIs(ctx context.Context, f eni.ENIFilter) (out []eni.ENI, err error) {
	defer func(start time.Time) { i.observe("DescribeNetworkInterfaces", start, err) }(time.Now())
	return i.c.DescribeENIs(ctx, f)
}

func (i *instrumented) DescribeSubnets(ctx context.Context, f eni.SubnetFilter) (out []eni.Subnet, err error) {
	defer func(start time.Time) { i.observe("DescribeSubnets", start, err) }(time.Now())
	return i.c.DescribeSubnets(ctx, f)
}

func (i *instrumented) DescribeSecurityGroups(ctx context.Context, f eni.SecurityGroupFilter) (out []eni.SecurityGroup, err error) {
	defer func(start time.Time) { i.observe("DescribeSecurityGroups", start, err) }(time.Now())
	return i.c.DescribeSecurityGroups(ctx, f)
}

func (i *instrumented) DescribeRouteTables(ctx context.Context, f eni.RouteTableFilter) (out []eni.RouteTable, err error) {
	defer func(start time.Time) { i.observe("DescribeRouteTables", start, err) }(time.Now())
	return i.c.DescribeRouteTables(ctx, f)
}

func (i *instrumented) CreateENI(ctx context.Context, in eni.CreateENIInput) (out eni.ENI, err error) {
	defer func(start time.Time) { i.observe("CreateNetworkInterface", start, err) }(time.Now())
	return i.c.CreateENI(ctx, in)
}

func (i *instrumented) AttachENI(ctx context.Context, in eni.AttachInput) (out string, err error) {
	defer func(start time.Time) { i.observe("AttachNetworkInterface", start, err) }(time.Now())
	return i.c.AttachENI(ctx, in)
}

func (i *instrumented) DetachENI(ctx context.Context, attachmentID string, force bool) (err error) {
	defer func(start time.Time) { i.observe("DetachNetworkInterface", start, err) }(time.Now())
	return i.c.DetachENI(ctx, attachmentID, force)
}

func (i *instrumented) DeleteENI(ctx context.Context, id string) (err error) {
	defer func(start time.Time) { i.observe("DeleteNetworkInterface", start, err) }(time.Now())
	return i.c.DeleteENI(ctx, id)
}

func (i *instrumented) SetDeleteOnTermination(ctx context.Context, eniID, attachmentID string, v bool) (err error) {
	defer func(start time.Time) { i.observe("ModifyNetworkInterfaceAttribute", start, err) }(time.Now())
	return i.c.SetDeleteOnTermination(ctx, eniID, attachmentID, v)
}

func (i *instrumented) AssignIPs(ctx context.Context, id string, n int) (out []netip.Addr, err error) {
	defer func(start time.Time) { i.observe("AssignPrivateIpAddresses", start, err) }(time.Now())
	return i.c.AssignIPs(ctx, id, n)
}

func (i *instrumented) UnassignIPs(ctx context.Context, id string, addrs []netip.Addr) (err error) {
	defer func(start time.Time) { i.observe("UnassignPrivateIpAddresses", start, err) }(time.Now())
	return i.c.UnassignIPs(ctx, id, addrs)
}

func (i *instrumented) AssignPrefixes(ctx context.Context, id string, n int) (out []netip.Prefix, err error) {
	defer func(start time.Time) { i.observe("AssignPrivateIpAddresses", start, err) }(time.Now())
	return i.c.AssignPrefixes(ctx, id, n)
}

func (i *instrumented) UnassignPrefixes(ctx context.Context, id string, p []netip.Prefix) (err error) {
	defer func(start time.Time) { i.observe("UnassignPrivateIpAddresses", start, err) }(time.Now())
	return i.c.UnassignPrefixes(ctx, id, p)
}

func (i *instrumented) CreateTags(ctx context.Context, ids []string, tags eni.Tags) (err error) {
	defer func(start time.Time) { i.observe("CreateTags", start, err) }(time.Now())
	return i.c.CreateTags(ctx, ids, tags)
}
