// Package ipamsim runs the real ipam.Manager and ipam.Allocator against an
// eni/fake EC2 on a virtual clock: pods arrive on nodes, the manager
// allocates through the fake (with AWS's throttling and an API latency, in
// simulated time), the allocators hand addresses to pods, and the run
// reports EC2 calls, how long pods waited, and any leak or double
// assignment. go run ./examples/ipam-sim is its command line.
//
// Time only moves when every actor waits: a fake call sleeps its latency
// on the virtual clock, and the driver advances the clock to the earliest
// wake-up or pod arrival. The manager makes one call at a time, so a run is
// deterministic.
package ipamsim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/eniway/eniway/eni"
	"github.com/eniway/eniway/eni/fake"
	"github.com/eniway/eniway/ipam"
)

// Arrival patterns.
const (
	// ArrivalBurst: every pod is pending at time 0.
	ArrivalBurst = "burst"
	// ArrivalTrickle: one pod at a time per node; the next arrives
	// Interval after the previous one got its address.
	ArrivalTrickle = "trickle"
)

// Config describes a run. The zero value is not useful; start from
// DefaultConfig.
type Config struct {
	Nodes        int
	InstanceType string
	PodsPerNode  int
	Mode         ipam.Mode
	Arrival      string
	// Interval separates pods in ArrivalTrickle.
	Interval time.Duration
	// Latency of every EC2 call, in simulated time.
	Latency time.Duration
	// Throttle enables AWS's per-action token buckets in the fake.
	Throttle bool
	// SubnetCIDR is the pod subnet, inside the VPC 10.0.0.0/16.
	SubnetCIDR netip.Prefix
	// Pool is the manager's pool configuration.
	Pool ipam.PoolConfig
	// Limit ends a run that has not given every pod an address after this
	// much simulated time.
	Limit time.Duration
	// Fault, when set, is installed as a fake fault hook on Action for the
	// run's first FaultCount calls of that action.
	FaultAction string
	FaultCode   string
	FaultCount  int
	// Crashes kills the manager that many times between creating an
	// interface and attaching it: the interface is left behind (the dead
	// process never deletes it) and a new manager starts from scratch.
	// The run then ends with a garbage-collection pass GCGrace later.
	Crashes int
	// GCGrace is the garbage collector's grace period (0: one minute).
	GCGrace time.Duration
}

// errCrash is the manager process dying in the middle of a call.
var errCrash = errors.New("ipamsim: the manager process died")

// DefaultConfig is one m5.4xlarge going from 0 to 110 pods, all at once,
// with secondary addresses and the default pool configuration.
func DefaultConfig() Config {
	return Config{
		Nodes: 1, InstanceType: "m5.4xlarge", PodsPerNode: 110, Arrival: ArrivalBurst,
		Interval: time.Second, SubnetCIDR: netip.MustParsePrefix("10.0.0.0/17"),
		Pool: ipam.DefaultPoolConfig(), Limit: 30 * time.Minute,
	}
}

// Result is what a run measured. The JSON names are the command's output.
type Result struct {
	Pods              int     `json:"pods"`
	MutatingCalls     int     `json:"mutating_calls"`
	DescribeCalls     int     `json:"describe_calls"`
	ThrottledCalls    int     `json:"throttled_calls"`
	TimeToAllIPs      float64 `json:"time_to_all_ips_s"`
	P99PodWait        float64 `json:"p99_pod_wait_s"`
	SubnetIPsUsed     int     `json:"subnet_ips_used"`
	LeakedENIs        int     `json:"leaked_enis"`
	LeakedIPs         int     `json:"leaked_ips"`
	DoubleAssignedIPs int     `json:"double_assigned_ips"`
	Reconciles        int     `json:"reconciles"`
	FailedReconciles  int     `json:"failed_reconciles"`
	Crashes           int     `json:"crashes"`
	CollectedENIs     int     `json:"collected_enis"`
}

type pod struct {
	name    string
	arrive  time.Time
	got     time.Time
	address netip.Addr
}

type simNode struct {
	name, instance string
	alloc          *ipam.Allocator
	pods           []*pod // in arrival order
	next           int    // pods[:next] have arrived
}

// Run simulates cfg and returns its measurements.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Nodes < 1 || cfg.PodsPerNode < 1 {
		return Result{}, fmt.Errorf("ipamsim: Nodes and PodsPerNode must be positive, got %d and %d", cfg.Nodes, cfg.PodsPerNode)
	}
	if cfg.Arrival != ArrivalBurst && cfg.Arrival != ArrivalTrickle {
		return Result{}, fmt.Errorf("ipamsim: Arrival %q: want %q or %q", cfg.Arrival, ArrivalBurst, ArrivalTrickle)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := fake.NewManualClock(start)
	cloud := fake.New(fake.Options{Clock: clock, Throttle: cfg.Throttle, Latency: cfg.Latency})
	vpc, err := cloud.AddVPC(netip.MustParsePrefix("10.0.0.0/16"))
	if err != nil {
		return Result{}, err
	}
	subnet, err := cloud.AddSubnet(fake.SubnetSpec{VPCID: vpc, AvailabilityZone: "us-east-1a", CIDR: cfg.SubnetCIDR})
	if err != nil {
		return Result{}, fmt.Errorf("ipamsim: subnet: %w", err)
	}
	newManager := func() (*ipam.Manager, error) {
		return ipam.NewManager(ipam.ManagerOptions{
			Cloud: cloud, Cluster: "sim", Pool: cfg.Pool, Now: clock.Now,
			Limits: eni.NewLimitsCache(cloud, eni.LimitsCacheOptions{Now: clock.Now}),
		})
	}
	mgr, err := newManager()
	if err != nil {
		return Result{}, err
	}
	nodes := make([]*simNode, cfg.Nodes)
	for i := range nodes {
		in, err := cloud.AddInstance(fake.InstanceSpec{Type: cfg.InstanceType, SubnetID: subnet.ID})
		if err != nil {
			return Result{}, fmt.Errorf("ipamsim: instance: %w", err)
		}
		alloc, err := ipam.NewAllocator(ipam.AllocatorOptions{})
		if err != nil {
			return Result{}, err
		}
		n := &simNode{name: fmt.Sprintf("node-%03d", i), instance: in.ID, alloc: alloc}
		for k := range cfg.PodsPerNode {
			n.pods = append(n.pods, &pod{name: fmt.Sprintf("%s/pod-%03d", n.name, k), arrive: start})
		}
		nodes[i] = n
	}
	if cfg.FaultAction != "" && cfg.FaultCount > 0 {
		left := cfg.FaultCount
		cloud.SetFault(cfg.FaultAction, func(fake.Call) error {
			if left == 0 {
				return nil
			}
			left--
			return eni.NewAPIError(cfg.FaultAction, cfg.FaultCode, "injected by the simulation")
		})
	}
	crashed := map[string]bool{} // interfaces whose creator died before attaching them
	if cfg.Crashes > 0 {
		left := cfg.Crashes
		cloud.SetFault(fake.ActionAttachNetworkInterface, func(c fake.Call) error {
			if left == 0 {
				return nil
			}
			left--
			crashed[c.ENIID] = true
			return errCrash
		})
		cloud.SetFault(fake.ActionDeleteNetworkInterface, func(c fake.Call) error {
			if crashed[c.ENIID] {
				return errCrash // a dead process deletes nothing
			}
			return nil
		})
	}
	cloud.ResetCounters()

	res := Result{Pods: cfg.Nodes * cfg.PodsPerNode}
	var last time.Time
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		now := clock.Now()
		if now.Sub(start) > cfg.Limit {
			return res, fmt.Errorf("ipamsim: pods still without an address after %s of simulated time", cfg.Limit)
		}
		// Arrivals, then hand out what the pools hold.
		done := true
		for _, n := range nodes {
			if err := n.alloc.SetPool(mgr.Pool(n.name)); err != nil {
				return res, err
			}
			n.arrive(cfg, now)
			for _, p := range n.pods[:n.next] {
				if p.address.IsValid() {
					continue
				}
				a, err := n.alloc.Allocate(p.name)
				if errors.Is(err, ipam.ErrPoolExhausted) {
					break
				}
				if err != nil {
					return res, err
				}
				p.address, p.got, last = a, now, now
			}
			n.arrive(cfg, now)
			used, pending := 0, 0
			for _, p := range n.pods[:n.next] {
				if p.address.IsValid() {
					used++
				} else {
					pending++
				}
			}
			if used < len(n.pods) {
				done = false
			}
			mgr.SetNode(n.name, n.instance, used, pending)
		}
		if done {
			break
		}
		before := cloud.CallCounts()
		err := onVirtualClock(clock, func() error { return mgr.Reconcile(ctx) })
		res.Reconciles++
		if err != nil {
			res.FailedReconciles++
		}
		if errors.Is(err, errCrash) {
			// A new manager process starts with nothing but EC2.
			res.Crashes++
			if mgr, err = newManager(); err != nil {
				return res, err
			}
			continue
		}
		if err == nil && !mapsEqual(before, cloud.CallCounts()) {
			continue // the pools changed: hand out addresses at this time
		}
		// Nothing to do now, or EC2 refused: move to the next arrival, or
		// back off a second.
		next := now.Add(time.Second)
		for _, n := range nodes {
			if t, ok := n.nextArrival(); ok && t.After(now) && t.Before(next) && err == nil {
				next = t
			}
		}
		clock.Set(next)
	}

	if cfg.Crashes > 0 {
		// The garbage collector, a grace period after the last pod got its
		// address, removes what the crashes left behind.
		grace := cfg.GCGrace
		if grace == 0 {
			grace = time.Minute
		}
		gc, err := ipam.NewGarbageCollector(cloud, ipam.GCOptions{Cluster: "sim", GracePeriod: grace, Now: clock.Now})
		if err != nil {
			return res, err
		}
		cloud.SetFault(fake.ActionDeleteNetworkInterface, nil)
		var deleted []string
		pass := func() (err error) { deleted, err = gc.Collect(ctx); return err }
		if err := onVirtualClock(clock, pass); err != nil {
			return res, err
		}
		clock.Set(clock.Now().Add(grace))
		if err := onVirtualClock(clock, pass); err != nil {
			return res, err
		}
		res.CollectedENIs = len(deleted)
	}

	counts := cloud.CallCounts()
	for action, n := range counts {
		if strings.HasPrefix(action, "Describe") {
			res.DescribeCalls += n
		} else {
			res.MutatingCalls += n
		}
		res.ThrottledCalls += cloud.Throttled(action)
	}
	res.TimeToAllIPs = last.Sub(start).Seconds()
	var waits []float64
	owners := map[netip.Addr]int{}
	for _, n := range nodes {
		for _, p := range n.pods {
			waits = append(waits, p.got.Sub(p.arrive).Seconds())
			owners[p.address]++
		}
	}
	for _, k := range owners {
		if k > 1 {
			res.DoubleAssignedIPs += k - 1
		}
	}
	slices.Sort(waits)
	res.P99PodWait = waits[(len(waits)*99+99)/100-1]
	if err := cloud.CheckInvariants(); err != nil {
		res.DoubleAssignedIPs++ // the fake found an address held twice
	}
	s, _ := cloud.Subnet(subnet.ID)
	res.SubnetIPsUsed = (1 << (32 - cfg.SubnetCIDR.Bits())) - 5 - s.AvailableIPs
	// Leaks: interfaces of the cluster not attached, and addresses EC2
	// holds for pod interfaces that no pool knows.
	pools := map[netip.Addr]bool{}
	for _, n := range nodes {
		for _, a := range mgr.Pool(n.name) {
			pools[a] = true
		}
	}
	for _, e := range cloud.ENIs() {
		if e.Attachment == nil {
			if e.Tags[ipam.TagCluster] == "sim" {
				res.LeakedENIs++
				res.LeakedIPs += len(e.SecondaryIPs) + 16*len(e.Prefixes) + 1
			}
			continue
		}
		for _, a := range e.SecondaryIPs {
			if !pools[a] {
				res.LeakedIPs++
			}
		}
		for _, p := range e.Prefixes {
			if !pools[p.Addr()] {
				res.LeakedIPs += 16
			}
		}
	}
	return res, nil
}

// arrive lets in the pods whose time has come: all of them in a burst; in
// a trickle the next one, Interval after the previous got its address.
func (n *simNode) arrive(cfg Config, now time.Time) {
	if cfg.Arrival == ArrivalBurst {
		n.next = len(n.pods)
		return
	}
	for n.next < len(n.pods) {
		if n.next > 0 {
			prev := n.pods[n.next-1]
			if !prev.address.IsValid() {
				return
			}
			n.pods[n.next].arrive = prev.got.Add(cfg.Interval)
		}
		if n.pods[n.next].arrive.After(now) {
			return
		}
		n.next++
	}
}

// nextArrival returns when the next pod arrives, if that is known.
func (n *simNode) nextArrival() (time.Time, bool) {
	if n.next == len(n.pods) || (n.next > 0 && !n.pods[n.next-1].address.IsValid()) {
		return time.Time{}, false
	}
	return n.pods[n.next].arrive, true
}

// onVirtualClock runs f, advancing the virtual clock to the next wake-up
// whenever everything f waits on sleeps on it (a fake call's latency).
func onVirtualClock(clock *fake.ManualClock, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	for {
		select {
		case err := <-done:
			return err
		default:
		}
		if t, ok := clock.NextDeadline(); ok {
			clock.Set(t)
			continue
		}
		runtime.Gosched()
		time.Sleep(10 * time.Microsecond)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
