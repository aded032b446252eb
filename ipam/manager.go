package ipam

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/eniway/eniway/eni"
)

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	// Cloud is the EC2 backend; required.
	Cloud eni.Cloud
	// Cluster is the value of TagCluster on the interfaces the manager
	// creates (the garbage collector's key); required.
	Cluster string
	// Pool is every node's pool configuration.
	Pool PoolConfig
	// SubnetIDs are the subnets new interfaces go to, in order of
	// preference; when empty, the subnets carrying SubnetTags (every tag
	// must match) in the node's availability zone, most free addresses
	// first; when both are empty, the node's own subnet.
	SubnetIDs  []string
	SubnetTags eni.Tags
	// SecurityGroupIDs go on new interfaces; when empty, the groups of the
	// node's VPC carrying SecurityGroupTags; when both are empty, the
	// primary interface's groups.
	SecurityGroupIDs  []string
	SecurityGroupTags eni.Tags
	// KeepOnTermination leaves the interfaces the manager creates behind
	// when their instance terminates (the garbage collector then deletes
	// them); by default they are deleted with it.
	KeepOnTermination bool
	// Limits answers instance type limits; nil builds an eni.LimitsCache
	// over Cloud.
	Limits interface {
		Get(ctx context.Context, instanceType string) (eni.Limits, error)
	}
	// ReleaseExcessIPs gives addresses beyond Needed + MaxAboveWatermark
	// back to EC2 once the excess has lasted ExcessReleaseDelay, through
	// the node's Releaser: never an address handed, or about to be handed,
	// to a pod. With prefix delegation only whole free /28s go back.
	ReleaseExcessIPs bool
	// ExcessReleaseDelay; 0 means DefaultExcessReleaseDelay.
	ExcessReleaseDelay time.Duration
	// Releaser returns a node's side of the release handshake (its
	// *Allocator satisfies it); required with ReleaseExcessIPs.
	Releaser func(node string) Releaser
	// Resync is how often a node's interfaces are described again, to
	// catch changes made behind the manager's back; 0 means
	// DefaultResync.
	Resync time.Duration
	// Observer, if set, receives each node's available, used and needed
	// addresses and the interfaces created; ipam/ipammetrics implements it
	// with Prometheus (and instruments the Cloud's calls).
	Observer Observer
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// Defaults of ManagerOptions.
const (
	DefaultResync             = 5 * time.Minute
	DefaultExcessReleaseDelay = 3 * time.Minute
)

// Observer receives the measurements of a Manager and of Allocators (for
// metrics). Implementations must be safe for concurrent use;
// ipam/ipammetrics has a Prometheus one.
type Observer interface {
	// NodePool reports a node's pool after a reconcile.
	NodePool(node string, available, used, needed int)
	// NodeRemoved reports a node the manager forgot.
	NodeRemoved(node string)
	// InterfaceCreated reports an interface created and attached, or
	// created and failed to attach.
	InterfaceCreated(attached bool)
	// Allocated reports how long an Allocate took.
	Allocated(d time.Duration)
}

// Releaser is a node's side of the release handshake; *Allocator
// implements it. Addresses it reserves are out of circulation until the
// manager completes or aborts their release.
type Releaser interface {
	// ReserveFree reserves up to n free addresses.
	ReserveFree(n int) ([]netip.Addr, error)
	// Reserve reserves exactly these addresses, all or none.
	Reserve(addrs []netip.Addr) error
	// CompleteRelease drops released addresses from the pool.
	CompleteRelease(addrs []netip.Addr) error
	// AbortRelease returns addresses EC2 did not take back.
	AbortRelease(addrs []netip.Addr) error
}

var _ Releaser = (*Allocator)(nil)

// Validate reports whether o is usable.
func (o ManagerOptions) Validate() error {
	var errs []error
	if o.Cloud == nil {
		errs = append(errs, errors.New("ipam: ManagerOptions.Cloud is required"))
	}
	if o.Cluster == "" {
		errs = append(errs, errors.New("ipam: ManagerOptions.Cluster is required: it tags the interfaces the manager creates"))
	}
	if o.Resync < 0 {
		errs = append(errs, fmt.Errorf("ipam: ManagerOptions.Resync %s is negative", o.Resync))
	}
	if o.ExcessReleaseDelay < 0 {
		errs = append(errs, fmt.Errorf("ipam: ManagerOptions.ExcessReleaseDelay %s is negative", o.ExcessReleaseDelay))
	}
	if o.ReleaseExcessIPs && o.Releaser == nil {
		errs = append(errs, errors.New("ipam: ManagerOptions.Releaser is required with ReleaseExcessIPs: only the node knows which addresses are free"))
	}
	if err := o.Pool.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Manager keeps the address pools of many nodes between their watermarks.
// It learns a node's interfaces from one DescribeInstance when it first
// sees the node and on every Resync, and afterwards keeps them up to date
// from the answers of its own calls, so a pod burst costs assignments, not
// describes. Each Reconcile serves the nodes with the largest deficit
// first. It is safe for concurrent use; Reconcile calls are serialized.
type Manager struct {
	o      ManagerOptions
	limits interface {
		Get(ctx context.Context, instanceType string) (eni.Limits, error)
	}

	run     sync.Mutex // serializes Reconcile
	mu      sync.Mutex // guards the fields below
	nodes   map[string]*node
	subnets map[string][]eni.Subnet // by AZ, for SubnetTags
	subAt   time.Time
	wake    chan struct{}
}

type node struct {
	name, instanceID string
	used, pending    int

	loaded      time.Time
	excessSince time.Time    // zero while there is no excess
	instance    eni.Instance // with ENIs kept current
	limits      eni.Limits
	err         error // last reconcile error
}

// NewManager returns a Manager; the error is o's Validate error.
func NewManager(o ManagerOptions) (*Manager, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Resync == 0 {
		o.Resync = DefaultResync
	}
	if o.ExcessReleaseDelay == 0 {
		o.ExcessReleaseDelay = DefaultExcessReleaseDelay
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{o: o, limits: o.Limits, nodes: map[string]*node{}, wake: make(chan struct{}, 1)}
	if m.limits == nil {
		m.limits = eni.NewLimitsCache(o.Cloud, eni.LimitsCacheOptions{Now: o.Now, Logger: o.Logger})
	}
	return m, nil
}

// SetNode adds a node or updates its demand: used addresses and pods
// waiting for one. It wakes Start.
func (m *Manager) SetNode(name, instanceID string, used, pending int) {
	m.mu.Lock()
	n := m.nodes[name]
	if n == nil || n.instanceID != instanceID {
		n = &node{name: name, instanceID: instanceID}
		m.nodes[name] = n
	}
	n.used, n.pending = used, pending
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// RemoveNode forgets a node.
func (m *Manager) RemoveNode(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.nodes, name)
	if m.o.Observer != nil {
		m.o.Observer.NodeRemoved(name)
	}
}

// Pool returns the pod addresses of a node's pool, sorted: the secondary
// addresses and every address of the /28 prefixes of the interfaces that
// serve pods. Feed it to the node's Allocator.SetPool.
func (m *Manager) Pool(name string) []netip.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.nodes[name]
	if n == nil {
		return nil
	}
	var out []netip.Addr
	for _, e := range m.podENIs(n) {
		out = append(out, e.SecondaryIPs...)
		for _, p := range e.Prefixes {
			out = append(out, prefixAddrs(p)...)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func (m *Manager) podENIs(n *node) []eni.ENI {
	var out []eni.ENI
	for _, e := range n.instance.ENIs {
		if e.Attachment != nil && e.Attachment.DeviceIndex >= m.o.Pool.FirstInterfaceIndex && !hasAnyTag(e.Tags, m.o.Pool.ExcludeInterfaceTags) {
			out = append(out, e)
		}
	}
	return out
}

// NodeStatus is a node's pool as the manager last saw it.
type NodeStatus struct {
	Decision Decision
	Err      error // the last reconcile's error, if any
}

// Status returns a node's status and whether the node is known.
func (m *Manager) Status(name string) (NodeStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.nodes[name]
	if n == nil {
		return NodeStatus{}, false
	}
	d, _ := Decide(m.stateLocked(n, nil), m.o.Pool)
	return NodeStatus{Decision: d, Err: n.err}, true
}

func (m *Manager) stateLocked(n *node, subnets []eni.Subnet) NodeState {
	return NodeState{Limits: n.limits, ENIs: n.instance.ENIs, Used: n.used, Pending: n.pending, Subnets: subnets}
}

// Start reconciles whenever SetNode changes a demand and every Resync,
// until ctx ends; it then returns nil. Errors of single nodes are logged
// and retried on the next round.
func (m *Manager) Start(ctx context.Context) error {
	return runEvery(ctx, m.o.Resync, m.wake, m.o.Logger, "reconcile failed", m.Reconcile)
}

// Reconcile makes one pass over the nodes, largest deficit first (nodes
// not described yet go first), and returns the nodes' errors joined.
func (m *Manager) Reconcile(ctx context.Context) error {
	m.run.Lock()
	defer m.run.Unlock()
	type work struct {
		n       *node
		deficit int
	}
	m.mu.Lock()
	var queue []work
	for _, n := range m.nodes {
		w := work{n: n, deficit: int(^uint(0) >> 1)}
		if !n.loaded.IsZero() {
			d, err := Decide(m.stateLocked(n, nil), m.o.Pool)
			if err == nil {
				w.deficit = d.Needed - d.Available
			}
		}
		queue = append(queue, w)
	}
	m.mu.Unlock()
	slices.SortFunc(queue, func(a, b work) int {
		if c := cmp.Compare(b.deficit, a.deficit); c != 0 {
			return c
		}
		return cmp.Compare(a.n.name, b.n.name)
	})
	var errs []error
	for _, w := range queue {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err := m.reconcileNode(ctx, w.n)
		m.mu.Lock()
		w.n.err = err
		if !w.n.loaded.IsZero() && m.o.Observer != nil {
			if d, derr := Decide(m.stateLocked(w.n, nil), m.o.Pool); derr == nil {
				m.o.Observer.NodePool(w.n.name, d.Available, w.n.used, d.Needed)
			}
		}
		m.mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", w.n.name, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) reconcileNode(ctx context.Context, n *node) error {
	now := m.o.Now()
	if n.loaded.IsZero() || now.Sub(n.loaded) >= m.o.Resync {
		in, err := m.o.Cloud.DescribeInstance(ctx, n.instanceID)
		if err != nil {
			return fmt.Errorf("describe instance %s: %w", n.instanceID, err)
		}
		if len(m.o.Pool.ExcludeInterfaceTags) > 0 {
			// DescribeInstances reports no interface tags.
			enis, err := m.o.Cloud.DescribeENIs(ctx, eni.ENIFilter{InstanceID: n.instanceID})
			if err != nil {
				return fmt.Errorf("describe interfaces of %s: %w", n.instanceID, err)
			}
			in.ENIs = attachedInOrder(enis)
		}
		limits, err := m.limits.Get(ctx, in.Type)
		if err != nil {
			return fmt.Errorf("limits of %s: %w", in.Type, err)
		}
		m.mu.Lock()
		n.instance, n.limits, n.loaded = in, limits, now
		m.mu.Unlock()
	}

	noPrefixes := false
	noPrefixSubnets := map[string]bool{}
	for {
		subnets, err := m.subnetsFor(ctx, n)
		if err != nil {
			return err
		}
		m.mu.Lock()
		state := m.stateLocked(n, subnets)
		m.mu.Unlock()
		state.NoPrefixes, state.NoPrefixSubnets = noPrefixes, noPrefixSubnets
		d, err := Decide(state, m.o.Pool)
		if err != nil {
			return err
		}
		if len(d.Steps) == 0 {
			if d.Short > 0 {
				if m.o.Pool.Mode == ModePrefixDelegation && !noPrefixes {
					noPrefixes = true // no eligible subnet has a /28 left
					continue
				}
				return fmt.Errorf("%d addresses short: no eligible subnet has room for another interface: %w", d.Short, eni.ErrInsufficientFreeAddresses)
			}
			return m.releaseExcess(ctx, n, d.Excess)
		}
		err = m.apply(ctx, n, d.Steps)
		var se *stepError
		if errors.As(err, &se) && errors.Is(err, eni.ErrInsufficientCIDRBlocks) && !noPrefixes && !noPrefixSubnets[se.subnet] {
			// No free /28 in that subnet: try the other eligible subnets,
			// then secondary addresses, for this round only.
			m.o.Logger.Info("no free /28 prefix in subnet; trying elsewhere", "node", n.name, "subnet", se.subnet)
			noPrefixSubnets[se.subnet] = true
			continue
		}
		return err
	}
}

// stepError is a failed Step, with the subnet it touched.
type stepError struct {
	subnet string
	err    error
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// releaseExcess gives back addresses the node has had in excess for
// ExcessReleaseDelay: free secondary addresses (one UnassignIPs per
// interface), or whole free /28 prefixes, last assigned first.
func (m *Manager) releaseExcess(ctx context.Context, n *node, excess int) error {
	now := m.o.Now()
	m.mu.Lock()
	if !m.o.ReleaseExcessIPs || excess <= 0 {
		n.excessSince = time.Time{}
		m.mu.Unlock()
		return nil
	}
	if n.excessSince.IsZero() {
		n.excessSince = now
	}
	due := now.Sub(n.excessSince) >= m.o.ExcessReleaseDelay
	enis := slices.Clone(m.podENIs(n))
	m.mu.Unlock()
	if !due {
		return nil
	}
	r := m.o.Releaser(n.name)
	var errs []error
	// Prefixes first, from the last interface and the last prefix.
	left := excess
	for i := len(enis) - 1; i >= 0 && left >= AddressesPerPrefix; i-- {
		for j := len(enis[i].Prefixes) - 1; j >= 0 && left >= AddressesPerPrefix; j-- {
			p := enis[i].Prefixes[j]
			addrs := prefixAddrs(p)
			if r.Reserve(addrs) != nil {
				continue // some address of the /28 is in use
			}
			if err := m.o.Cloud.UnassignPrefixes(ctx, enis[i].ID, []netip.Prefix{p}); err != nil {
				errs = append(errs, fmt.Errorf("unassign %s from %s: %w", p, enis[i].ID, err), r.AbortRelease(addrs))
				continue
			}
			m.updateENI(n, enis[i].ID, func(e *eni.ENI) {
				e.Prefixes = slices.DeleteFunc(e.Prefixes, func(q netip.Prefix) bool { return q == p })
			})
			errs = append(errs, r.CompleteRelease(addrs))
			left -= AddressesPerPrefix
		}
	}
	// Then free secondary addresses, grouped by interface.
	if left > 0 && hasSecondary(enis) {
		addrs, err := r.ReserveFree(left)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		owner := map[netip.Addr]string{}
		for _, e := range enis {
			for _, a := range e.SecondaryIPs {
				owner[a] = e.ID
			}
		}
		byENI := map[string][]netip.Addr{}
		var notSecondary []netip.Addr
		for _, a := range addrs {
			if id, ok := owner[a]; ok {
				byENI[id] = append(byENI[id], a)
			} else {
				notSecondary = append(notSecondary, a) // inside a /28 still in use
			}
		}
		if len(notSecondary) > 0 {
			errs = append(errs, r.AbortRelease(notSecondary))
		}
		for _, e := range enis {
			batch := byENI[e.ID]
			if len(batch) == 0 {
				continue
			}
			if err := m.o.Cloud.UnassignIPs(ctx, e.ID, batch); err != nil {
				errs = append(errs, fmt.Errorf("unassign %d addresses from %s: %w", len(batch), e.ID, err), r.AbortRelease(batch))
				continue
			}
			m.updateENI(n, e.ID, func(e *eni.ENI) {
				e.SecondaryIPs = slices.DeleteFunc(e.SecondaryIPs, func(a netip.Addr) bool { return slices.Contains(batch, a) })
			})
			errs = append(errs, r.CompleteRelease(batch))
		}
	}
	err := errors.Join(errs...)
	if err == nil {
		// Done; a failed release is retried on the next round.
		m.mu.Lock()
		n.excessSince = time.Time{}
		m.mu.Unlock()
	}
	return err
}

func hasSecondary(enis []eni.ENI) bool {
	for _, e := range enis {
		if len(e.SecondaryIPs) > 0 {
			return true
		}
	}
	return false
}

// prefixAddrs lists the 16 addresses of a /28.
func prefixAddrs(p netip.Prefix) []netip.Addr {
	out := make([]netip.Addr, 0, AddressesPerPrefix)
	for a, i := p.Masked().Addr(), 0; i < AddressesPerPrefix; a, i = a.Next(), i+1 {
		out = append(out, a)
	}
	return out
}

// attachedInOrder keeps the attached interfaces, by device index.
func attachedInOrder(enis []eni.ENI) []eni.ENI {
	var out []eni.ENI
	for _, e := range enis {
		if e.Attachment != nil {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b eni.ENI) int { return a.Attachment.DeviceIndex - b.Attachment.DeviceIndex })
	return out
}

// subnetsFor returns the subnets a node's new interfaces may use, in order
// of preference, with current free counts: the explicit SubnetIDs in their
// order; else the subnets carrying SubnetTags in the node's availability
// zone, most free first; else the node's own subnet, then the other subnets
// of its availability zone, most free first. One DescribeSubnets per
// Resync serves every node with the same choice.
func (m *Manager) subnetsFor(ctx context.Context, n *node) ([]eni.Subnet, error) {
	var f eni.SubnetFilter
	switch {
	case len(m.o.SubnetIDs) > 0:
		f = eni.SubnetFilter{IDs: m.o.SubnetIDs}
	case len(m.o.SubnetTags) > 0:
		f = eni.SubnetFilter{VPCID: n.instance.VPCID, AvailabilityZone: n.instance.AvailabilityZone, Tags: m.o.SubnetTags}
	default:
		f = eni.SubnetFilter{VPCID: n.instance.VPCID, AvailabilityZone: n.instance.AvailabilityZone}
	}
	m.mu.Lock()
	cached, ok := m.subnets[subnetKey(f)]
	fresh := ok && m.o.Now().Sub(m.subAt) < m.o.Resync
	m.mu.Unlock()
	if !fresh {
		got, err := m.o.Cloud.DescribeSubnets(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("describe subnets: %w", err)
		}
		m.mu.Lock()
		if m.subnets == nil || m.o.Now().Sub(m.subAt) >= m.o.Resync {
			m.subnets, m.subAt = map[string][]eni.Subnet{}, m.o.Now()
		}
		m.subnets[subnetKey(f)] = got
		cached = got
		m.mu.Unlock()
	}
	out := slices.Clone(cached)
	if len(m.o.SubnetIDs) > 0 {
		order := map[string]int{}
		for i, id := range m.o.SubnetIDs {
			order[id] = i
		}
		slices.SortFunc(out, func(a, b eni.Subnet) int { return order[a.ID] - order[b.ID] })
		return out, nil
	}
	own := n.instance.SubnetID
	slices.SortStableFunc(out, func(a, b eni.Subnet) int {
		if len(m.o.SubnetTags) == 0 && (a.ID == own) != (b.ID == own) {
			if a.ID == own {
				return -1
			}
			return 1
		}
		return cmp.Or(b.AvailableIPs-a.AvailableIPs, cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func subnetKey(f eni.SubnetFilter) string {
	return fmt.Sprint(f.IDs, f.VPCID, f.AvailabilityZone, f.Tags)
}

// useSubnet records that n addresses of a cached subnet were taken.
func (m *Manager) useSubnet(id string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, list := range m.subnets {
		for i := range list {
			if list[i].ID == id {
				list[i].AvailableIPs -= n
			}
		}
	}
}

// apply runs a decision's steps, recording their results in the node's
// state as they succeed; it stops at the first failure.
func (m *Manager) apply(ctx context.Context, n *node, steps []Step) error {
	for _, st := range steps {
		switch st.Kind {
		case StepAssignIPs:
			ips, err := m.o.Cloud.AssignIPs(ctx, st.ENIID, st.IPs)
			if err != nil {
				return &stepError{subnet: m.subnetOf(n, st.ENIID), err: fmt.Errorf("assign %d addresses to %s: %w", st.IPs, st.ENIID, err)}
			}
			m.updateENI(n, st.ENIID, func(e *eni.ENI) { e.SecondaryIPs = append(e.SecondaryIPs, ips...) })
			m.useSubnet(m.subnetOf(n, st.ENIID), len(ips))
		case StepAssignPrefixes:
			prefixes, err := m.o.Cloud.AssignPrefixes(ctx, st.ENIID, st.Prefixes)
			if err != nil {
				return &stepError{subnet: m.subnetOf(n, st.ENIID), err: fmt.Errorf("assign %d prefixes to %s: %w", st.Prefixes, st.ENIID, err)}
			}
			m.updateENI(n, st.ENIID, func(e *eni.ENI) { e.Prefixes = append(e.Prefixes, prefixes...) })
			m.useSubnet(m.subnetOf(n, st.ENIID), AddressesPerPrefix*len(prefixes))
		case StepCreateENI:
			if err := m.createENI(ctx, n, st); err != nil {
				return &stepError{subnet: st.SubnetID, err: err}
			}
		}
	}
	return nil
}

func (m *Manager) subnetOf(n *node, eniID string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range n.instance.ENIs {
		if e.ID == eniID {
			return e.SubnetID
		}
	}
	return ""
}

func (m *Manager) updateENI(n *node, id string, f func(*eni.ENI)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range n.instance.ENIs {
		if n.instance.ENIs[i].ID == id {
			f(&n.instance.ENIs[i])
		}
	}
}

// createENI creates an interface with its addresses, attaches it and
// marks it delete-on-termination. An interface that cannot be attached is
// deleted at once; if that fails too, the garbage collector removes it
// after its grace period (it carries TagCluster and TagCreatedAt).
func (m *Manager) createENI(ctx context.Context, n *node, st Step) error {
	groups := m.o.SecurityGroupIDs
	if len(groups) == 0 && len(m.o.SecurityGroupTags) > 0 {
		sgs, err := m.o.Cloud.DescribeSecurityGroups(ctx, eni.SecurityGroupFilter{VPCID: n.instance.VPCID, Tags: m.o.SecurityGroupTags})
		if err != nil {
			return fmt.Errorf("describe security groups: %w", err)
		}
		if len(sgs) == 0 {
			return fmt.Errorf("no security group of %s carries the tags %v: %w", n.instance.VPCID, m.o.SecurityGroupTags, eni.ErrSecurityGroupNotFound)
		}
		for _, g := range sgs {
			groups = append(groups, g.ID)
		}
	}
	if len(groups) == 0 {
		m.mu.Lock()
		for _, e := range n.instance.ENIs {
			if e.Attachment != nil && e.Attachment.DeviceIndex == 0 {
				groups = slices.Clone(e.SecurityGroupIDs)
			}
		}
		m.mu.Unlock()
	}
	e, err := m.o.Cloud.CreateENI(ctx, eni.CreateENIInput{
		SubnetID:         st.SubnetID,
		SecurityGroupIDs: groups,
		Description:      "eniway pod addresses of " + n.name,
		SecondaryIPs:     st.IPs,
		Prefixes:         st.Prefixes,
		Tags: eni.Tags{
			TagCluster:   m.o.Cluster,
			TagNode:      n.name,
			TagCreatedAt: m.o.Now().UTC().Format(time.RFC3339),
		},
	})
	if err != nil {
		return fmt.Errorf("create interface in %s: %w", st.SubnetID, err)
	}
	m.useSubnet(st.SubnetID, 1+len(e.SecondaryIPs)+AddressesPerPrefix*len(e.Prefixes))
	att, err := m.o.Cloud.AttachENI(ctx, eni.AttachInput{ENIID: e.ID, InstanceID: n.instanceID, DeviceIndex: st.DeviceIndex})
	if err != nil {
		if derr := m.o.Cloud.DeleteENI(ctx, e.ID); derr != nil {
			m.o.Logger.Warn("could not delete an interface that failed to attach; the garbage collector will", "eni", e.ID, "err", derr)
		}
		if m.o.Observer != nil {
			m.o.Observer.InterfaceCreated(false)
		}
		// Our view of the instance may be stale (an index taken behind our
		// back): describe it again next time.
		m.mu.Lock()
		n.loaded = time.Time{}
		m.mu.Unlock()
		return fmt.Errorf("attach %s to %s at device index %d: %w", e.ID, n.instanceID, st.DeviceIndex, err)
	}
	e.Status = eni.StatusInUse
	e.Attachment = &eni.Attachment{ID: att, InstanceID: n.instanceID, DeviceIndex: st.DeviceIndex}
	if !m.o.KeepOnTermination {
		if err := m.o.Cloud.SetDeleteOnTermination(ctx, e.ID, att, true); err != nil {
			m.o.Logger.Warn("could not mark an interface delete-on-termination", "eni", e.ID, "err", err)
		} else {
			e.Attachment.DeleteOnTermination = true
		}
	}
	m.mu.Lock()
	n.instance.ENIs = append(n.instance.ENIs, e)
	m.mu.Unlock()
	if m.o.Observer != nil {
		m.o.Observer.InterfaceCreated(true)
	}
	m.o.Logger.Info("interface created", "node", n.name, "eni", e.ID, "device_index", st.DeviceIndex, "ips", len(e.SecondaryIPs), "prefixes", len(e.Prefixes))
	return nil
}
