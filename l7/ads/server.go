package ads

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	secretservice "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/l7/xds"
)

// DefaultListen is the address the server listens on when Options.Listen
// is empty.
const DefaultListen = "127.0.0.1:18000"

// Options configure a Server. The zero value is valid.
type Options struct {
	// Listen is the gRPC listen address (DefaultListen when empty; port 0
	// picks a free one, see Server.Addr).
	Listen string
	// TLS, when set, serves gRPC over TLS; set ClientAuth and ClientCAs in
	// it for mutual TLS.
	TLS *tls.Config
	// Gateways says which Gateways ("namespace/name") a node serves; nil
	// serves every Gateway to every node.
	Gateways func(node *corev3.Node) []string
	// Proxyless says whether a node is a proxyless gRPC client, which gets
	// the gRPC projection (xds.TranslateGRPC) instead of the Envoy
	// resources; nil takes the node's user agent: names starting with
	// "gRPC" (grpc-go says "gRPC Go") are proxyless.
	Proxyless func(node *corev3.Node) bool
	// Translate configures the IR to xDS translation.
	Translate xds.Options
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Registerer, when set, gets the server's Prometheus metrics.
	Registerer prometheus.Registerer
}

// Server is an ADS server (state of the world and incremental) for the
// Envoy resources of the routing model. Create it with New, feed it with
// Update and run it with Start. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	log     *slog.Logger
	cache   cachev3.SnapshotCache
	xds     serverv3.Server
	lis     net.Listener
	metrics *metrics

	mu sync.Mutex
	// res holds the resources of each Gateway; structure is the hash of the
	// last IR without its endpoints (the endpoint fast path compares it).
	res       map[string]*xds.Resources
	grpcRes   *xds.Resources
	backends  map[string]*gatewayapi.Backend
	structure [sha256.Size]byte
	haveIR    bool
	nodes     map[string]*nodeState
	// queue holds snapshots built under mu and not yet set (flush).
	queue []queued
	// hashes caches resourceHash; a full translation starts it afresh.
	hashes map[types.Resource]string
	// setMu serializes setting snapshots in the cache; applied is the
	// sequence number of the last snapshot set per node.
	setMu   sync.Mutex
	applied map[string]uint64
	nacks   map[nackKey]NACK
	streams map[int64]string // stream ID -> node ID
}

type nodeState struct {
	node      *corev3.Node
	proxyless bool
	gateways  []string
	// snap is the snapshot last set; acked holds, by type URL, the
	// resources the node last accepted.
	snap  *cachev3.Snapshot
	acked map[string]cachev3.Resources
	// subscribed holds the types the node has asked for; pending is set
	// while a warm-up snapshot stands in for the desired one.
	subscribed map[string]bool
	pending    bool
	// dropRetiring makes the next snapshot leave the retiring clusters out.
	dropRetiring bool
	// seq numbers the snapshots built for the node.
	seq uint64
	// sent holds the resource names of each response by nonce until the
	// node acknowledges it; ackedNames the names the node has acknowledged,
	// by type.
	sent       map[string][]string
	ackedNames map[string]map[string]bool
	// retiring holds clusters (and their endpoint assignments) kept after
	// the routes stopped using them, until the node accepts those routes.
	retiring map[string][2]types.Resource
	// versions of the snapshot last set, by type URL, and when.
	versions map[string]string
	setAt    map[string]time.Time
}

// New validates opts and binds the listen address; Start serves on it.
func New(opts Options) (*Server, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("ads: listen on %s: %w", opts.Listen, err)
	}
	s := &Server{
		opts: opts, log: log, lis: lis, metrics: m,
		res: map[string]*xds.Resources{}, backends: map[string]*gatewayapi.Backend{},
		nodes: map[string]*nodeState{}, nacks: map[nackKey]NACK{}, streams: map[int64]string{},
		grpcRes: &xds.Resources{}, applied: map[string]uint64{}, hashes: map[types.Resource]string{},
	}
	if s.opts.Proxyless == nil {
		s.opts.Proxyless = func(n *corev3.Node) bool { return strings.HasPrefix(n.GetUserAgentName(), "gRPC") }
	}
	// Not in the cache's ADS mode, which answers a request for some of a
	// type's resources only once it names all of them: a gRPC client asks
	// for the clusters of the one target it dials.
	s.cache = cachev3.NewSnapshotCache(false, cachev3.IDHash{}, cacheLogger{log})
	s.xds = serverv3.NewServer(context.Background(), s.cache, s.callbacks())
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// Start serves ADS until ctx is done, then stops gracefully (open streams
// are cancelled) and returns nil; it returns an error if serving fails.
func (s *Server) Start(ctx context.Context) error {
	var opts []grpc.ServerOption
	if s.opts.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.opts.TLS)))
	}
	opts = append(opts,
		grpc.MaxConcurrentStreams(1<<20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 15 * time.Second, PermitWithoutStream: true}),
	)
	g := grpc.NewServer(opts...)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
	listenerservice.RegisterListenerDiscoveryServiceServer(g, s.xds)
	routeservice.RegisterRouteDiscoveryServiceServer(g, s.xds)
	clusterservice.RegisterClusterDiscoveryServiceServer(g, s.xds)
	endpointservice.RegisterEndpointDiscoveryServiceServer(g, s.xds)
	secretservice.RegisterSecretDiscoveryServiceServer(g, s.xds)
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(s.lis) }()
	s.log.Info("serving ADS", "address", s.lis.Addr().String(), "tls", s.opts.TLS != nil)
	select {
	case <-ctx.Done():
		g.Stop()
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("ads: serve: %w", err)
	}
}

// Update takes a new routing model: it translates it and sets every
// node's snapshot, so that each node gets the resources that changed. When
// only endpoints changed (an EndpointSlice update), it rebuilds the
// endpoint assignments alone, without translating routes. A resource that
// fails validation is left out and reported in the returned error; the
// rest is still pushed. Update satisfies gatewayapi/controller's Sink.
func (s *Server) Update(ctx context.Context, ir *gatewayapi.IR) error {
	start := time.Now()
	structure, err := structureHash(ir)
	if err != nil {
		return err
	}
	s.mu.Lock()
	var terr error
	if s.haveIR && structure == s.structure {
		terr = s.updateEndpoints(ir)
		s.metrics.translations.WithLabelValues("endpoints").Inc()
	} else {
		var res map[string]*xds.Resources
		var gerr error
		res, terr = xds.Translate(ir, s.opts.Translate)
		s.hashes = map[types.Resource]string{}
		s.grpcRes, gerr = xds.TranslateGRPC(ir, s.opts.Translate)
		terr = errors.Join(terr, gerr)
		s.res = res
		s.metrics.translations.WithLabelValues("full").Inc()
	}
	s.structure, s.haveIR = structure, true
	s.backends = map[string]*gatewayapi.Backend{}
	for _, b := range ir.Backends {
		s.backends[b.Name] = b
	}
	var errs []error
	for _, id := range sortedKeys(s.nodes) {
		errs = append(errs, s.setSnapshot(ctx, id))
	}
	q, nodes := s.takeQueue(), len(s.nodes)
	s.mu.Unlock()
	errs = append(errs, s.flush(ctx, q))
	s.log.Debug("updated", "gateways", len(ir.Gateways), "nodes", nodes, "took", time.Since(start), "error", terr)
	return errors.Join(append(errs, terr)...)
}

// updateEndpoints replaces every Gateway's endpoint assignments.
func (s *Server) updateEndpoints(ir *gatewayapi.IR) error {
	byName := map[string]*gatewayapi.Backend{}
	for _, b := range ir.Backends {
		byName[b.Name] = b
	}
	var errs []error
	all := maps.Clone(s.res)
	all[grpcProjection] = s.grpcRes
	for gw, r := range all {
		next := *r
		next.Endpoints = nil
		for _, c := range r.Clusters {
			b := byName[c.Name]
			if b == nil {
				continue
			}
			cla, err := xds.ClusterLoadAssignment(b)
			if err != nil {
				errs = append(errs, &xds.ResourceError{Gateway: gw, Type: "ClusterLoadAssignment", Name: b.Name, Err: err})
				continue
			}
			next.Endpoints = append(next.Endpoints, cla)
		}
		if gw == grpcProjection {
			s.grpcRes = &next
		} else {
			s.res[gw] = &next
		}
	}
	return errors.Join(errs...)
}

// grpcProjection names the gRPC projection among the Gateways' resources.
const grpcProjection = "\x00grpc"

// structureHash hashes the IR without endpoints.
func structureHash(ir *gatewayapi.IR) ([sha256.Size]byte, error) {
	c := *ir
	c.Backends = make([]*gatewayapi.Backend, len(ir.Backends))
	for i, b := range ir.Backends {
		nb := *b
		nb.Endpoints = nil
		c.Backends[i] = &nb
	}
	b, err := json.Marshal(&c)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("ads: hash IR: %w", err)
	}
	return sha256.Sum256(b), nil
}

// gatewaysOf is the sorted list of Gateways a node serves.
func (s *Server) gatewaysOf(node *corev3.Node) []string {
	if s.opts.Gateways == nil {
		return nil // all
	}
	gws := slices.Clone(s.opts.Gateways(node))
	slices.Sort(gws)
	return slices.Compact(gws)
}

// resourceSet holds resources by type URL and name.
type resourceSet map[string]map[string]types.Resource

func (r resourceSet) add(typ, name string, m types.Resource) {
	if r[typ] == nil {
		r[typ] = map[string]types.Resource{}
	}
	r[typ][name] = m
}

var snapshotTypes = []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.SecretType}

// setSnapshot builds and sets the snapshot of one node. Each type's
// version is a hash of its resources, so a type whose resources did not
// change keeps its version and is not pushed again. Changes are made
// before break: new clusters first (see warmup), old clusters last (see
// retiring). Must hold s.mu.
func (s *Server) setSnapshot(ctx context.Context, id string) error {
	n := s.nodes[id]
	desired := s.desired(n)
	if warm := s.warmup(n, desired); warm != nil {
		s.log.Debug("warming new clusters up", "node", id)
		n.pending = true
		return s.apply(ctx, n, warm)
	}
	n.pending = false
	return s.apply(ctx, n, desired)
}

// desired is what the node should run: the resources of its Gateways (or
// the gRPC projection) plus the clusters still retiring.
func (s *Server) desired(n *nodeState) resourceSet {
	gws := n.gateways
	if s.opts.Gateways == nil {
		gws = sortedKeys(s.res)
	}
	source := s.res
	if n.proxyless {
		source = map[string]*xds.Resources{grpcProjection: s.grpcRes}
		gws = []string{grpcProjection}
	}
	set := resourceSet{}
	for _, gw := range gws {
		r := source[gw]
		if r == nil {
			continue
		}
		for _, m := range r.Listeners {
			set.add(resourcev3.ListenerType, m.Name, m)
		}
		for _, m := range r.Routes {
			set.add(resourcev3.RouteType, m.Name, m)
		}
		for _, m := range r.Clusters {
			set.add(resourcev3.ClusterType, m.Name, m)
		}
		for _, m := range r.Endpoints {
			set.add(resourcev3.EndpointType, m.ClusterName, m)
		}
		for _, m := range r.Secrets {
			set.add(resourcev3.SecretType, m.Name, m)
		}
	}
	// Make before break, the removing half: a cluster the node had and
	// the new routes no longer use stays, with its endpoints, until the
	// node has accepted listeners and routes without it (retire), so that
	// requests still routed to it meanwhile do not fail.
	// A node that takes no listeners or routes has nothing routed to them.
	routes := n.subscribed[resourcev3.ListenerType] || n.subscribed[resourcev3.RouteType]
	if !routes || n.dropRetiring {
		// Nothing can be routed to them any more (retire).
		clear(n.retiring)
		routes, n.dropRetiring = false, false
	}
	if n.snap != nil && routes {
		prevEndpoints := n.snap.GetResources(resourcev3.EndpointType)
		for name, c := range n.snap.GetResources(resourcev3.ClusterType) {
			if _, ok := set[resourcev3.ClusterType][name]; ok {
				continue
			}
			if _, ok := n.retiring[name]; !ok {
				n.retiring[name] = [2]types.Resource{c, prevEndpoints[name]}
			}
		}
	}
	for name, r := range n.retiring {
		if _, ok := set[resourcev3.ClusterType][name]; ok {
			delete(n.retiring, name) // used again
			continue
		}
		set.add(resourcev3.ClusterType, name, r[0])
		if r[1] != nil {
			set.add(resourcev3.EndpointType, name, r[1])
		}
	}
	return set
}

// warmup is the adding half of make before break, for Envoy. When the
// desired resources use clusters the node does not have yet, it first gets
// a snapshot with the new clusters and endpoints but the listeners and
// routes it runs now; once it has accepted those (request, warmedUp), it
// gets the desired snapshot. Envoy warms a new cluster before routes may
// use it, so a route never points at a cluster it lacks (which would be
// answered 500). A gRPC client needs no warm-up: it fetches the clusters
// a new route configuration names, and waits for them, before it applies
// it. warmup returns nil when no warm-up is needed.
func (s *Server) warmup(n *nodeState, desired resourceSet) resourceSet {
	if n.proxyless {
		return nil
	}
	ackedListeners, okL := n.acked[resourcev3.ListenerType]
	ackedRoutes, okR := n.acked[resourcev3.RouteType]
	if !okL && !okR {
		return nil // the node runs nothing yet
	}
	have := n.acked[resourcev3.ClusterType].Items
	var fresh []string
	for name := range desired[resourcev3.ClusterType] {
		if _, ok := have[name]; !ok {
			fresh = append(fresh, name)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	slices.Sort(fresh)
	warm := resourceSet{}
	for typ, m := range desired {
		warm[typ] = m
	}
	if okL {
		warm[resourcev3.ListenerType] = map[string]types.Resource{}
		for name, r := range ackedListeners.Items {
			warm[resourcev3.ListenerType][name] = r.Resource
		}
	}
	// The routes are those the listeners kept name: the accepted ones, or
	// the desired ones the node has not received yet (a node that accepted
	// an empty listener set has no routes to keep).
	warm[resourcev3.RouteType] = map[string]types.Resource{}
	withTTL := map[string]types.ResourceWithTTL{}
	for name, l := range warm[resourcev3.ListenerType] {
		withTTL[name] = types.ResourceWithTTL{Resource: l}
	}
	for name := range cachev3.GetResourceReferences(withTTL)[resourcev3.RouteType] {
		if r, ok := ackedRoutes.Items[name]; okR && ok {
			warm[resourcev3.RouteType][name] = r.Resource
		} else if r, ok := desired[resourcev3.RouteType][name]; ok {
			warm[resourcev3.RouteType][name] = r
		}
	}
	return warm
}

// warmedUp reports whether the node has accepted the warm-up snapshot's
// clusters and endpoints, of the types it subscribes to.
func (s *Server) warmedUp(n *nodeState) bool {
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.EndpointType} {
		if n.subscribed[typ] && n.acked[typ].Version != n.versions[typ] {
			return false
		}
	}
	// Endpoints are asked for by name: the node must have acknowledged a
	// response carrying every cluster's.
	if n.subscribed[resourcev3.EndpointType] {
		for name := range n.snap.GetResources(resourcev3.ClusterType) {
			if !n.ackedNames[resourcev3.EndpointType][name] {
				return false
			}
		}
	}
	return true
}

// apply versions a resource set, checks it and sets it as the node's
// snapshot.
func (s *Server) apply(ctx context.Context, n *nodeState, set resourceSet) error {
	id := n.node.Id
	snap := &cachev3.Snapshot{VersionMap: map[string]map[string]string{}}
	versions := map[string]string{}
	for _, typ := range snapshotTypes {
		names := sortedKeys(set[typ])
		items := make([]types.Resource, 0, len(names))
		perResource := make(map[string]string, len(names))
		h := sha256.New()
		for _, name := range names {
			m := set[typ][name]
			rh, err := s.resourceHash(m)
			if err != nil {
				return fmt.Errorf("ads: marshal %s %s: %w", typ, name, err)
			}
			h.Write([]byte(name))
			h.Write([]byte(rh))
			perResource[name] = rh
			items = append(items, m)
		}
		v := hex.EncodeToString(h.Sum(nil))[:16]
		versions[typ] = v
		snap.Resources[cachev3.GetResponseType(typ)] = cachev3.NewResources(v, items)
		snap.VersionMap[typ] = perResource
	}
	consistent := snap.Consistent
	if n.proxyless {
		// go-control-plane's check does not look into api_listeners.
		consistent = func() error { return projectionConsistent(set) }
	}
	if err := consistent(); err != nil {
		s.metrics.inconsistent.Inc()
		return fmt.Errorf("ads: node %s: snapshot not consistent, keeping the last one: %w", id, err)
	}
	now := time.Now()
	for typ, v := range versions {
		if n.versions[typ] != v {
			n.setAt[typ] = now
		}
	}
	n.versions = versions
	n.snap = snap
	for typ, v := range versions {
		// The node runs this version already (the Update went back to what
		// it accepted before a rejected push): nothing is open any more.
		if a, ok := n.acked[typ]; ok && a.Version == v {
			delete(s.nacks, nackKey{id, typ})
		}
	}
	n.seq++
	s.queue = append(s.queue, queued{id: id, seq: n.seq, snap: snap})
	return nil
}

// resourceHash is the hash of a resource's deterministic serialization,
// computed once per resource (translated resources are never modified): it
// versions the resource for incremental xDS and its type for state of the
// world. Must hold s.mu.
func (s *Server) resourceHash(m types.Resource) (string, error) {
	if h, ok := s.hashes[m]; ok {
		return h, nil
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:12])
	s.hashes[m] = h
	return h, nil
}

// queued is a snapshot built under s.mu, to be set in the cache without
// it (flush).
type queued struct {
	id   string
	seq  uint64
	snap *cachev3.Snapshot
}

// takeQueue returns the queued snapshots and empties the queue. Must hold
// s.mu.
func (s *Server) takeQueue() []queued {
	q := s.queue
	s.queue = nil
	return q
}

// flush sets queued snapshots in the cache. It must not hold s.mu: setting a
// snapshot hands responses to the node's stream, whose goroutine may be
// waiting for s.mu in a callback. setMu keeps the order: a snapshot older
// than one already set for its node is dropped.
func (s *Server) flush(ctx context.Context, q []queued) error {
	if len(q) == 0 {
		return nil
	}
	s.setMu.Lock()
	defer s.setMu.Unlock()
	var errs []error
	for _, e := range q {
		if e.seq <= s.applied[e.id] {
			continue
		}
		s.applied[e.id] = e.seq
		if err := s.cache.SetSnapshot(ctx, e.id, e.snap); err != nil {
			errs = append(errs, fmt.Errorf("ads: node %s: set snapshot: %w", e.id, err))
		}
	}
	return errors.Join(errs...)
}

// nodeSeen registers a node on its first request and gives it a snapshot.
func (s *Server) nodeSeen(node *corev3.Node) {
	if node == nil || node.Id == "" {
		return
	}
	s.mu.Lock()
	if _, ok := s.nodes[node.Id]; ok {
		s.mu.Unlock()
		return
	}
	s.nodes[node.Id] = &nodeState{node: node, proxyless: s.opts.Proxyless(node), gateways: s.gatewaysOf(node),
		versions: map[string]string{}, setAt: map[string]time.Time{}, acked: map[string]cachev3.Resources{},
		subscribed: map[string]bool{}, retiring: map[string][2]types.Resource{},
		sent: map[string][]string{}, ackedNames: map[string]map[string]bool{}}
	s.metrics.nodes.Set(float64(len(s.nodes)))
	if err := s.setSnapshot(context.Background(), node.Id); err != nil {
		s.log.Warn("no snapshot for a new node", "node", node.Id, "error", err)
	}
	q := s.takeQueue()
	s.mu.Unlock()
	// The node's first request comes before the watch that this snapshot
	// answers, so setting it here blocks nothing.
	if err := s.flush(context.Background(), q); err != nil {
		s.log.Warn("no snapshot for a new node", "node", node.Id, "error", err)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// cacheLogger adapts slog to go-control-plane's logger.
type cacheLogger struct{ l *slog.Logger }

func (c cacheLogger) Debugf(f string, a ...any) { c.l.Debug(fmt.Sprintf(f, a...)) }
func (c cacheLogger) Infof(f string, a ...any)  { c.l.Debug(fmt.Sprintf(f, a...)) }
func (c cacheLogger) Warnf(f string, a ...any)  { c.l.Warn(fmt.Sprintf(f, a...)) }
func (c cacheLogger) Errorf(f string, a ...any) { c.l.Error(fmt.Sprintf(f, a...)) }

// projectionConsistent checks a gRPC client's resources: every
// api_listener's route configuration exists and is used, and every cluster
// has its endpoint assignment.
func projectionConsistent(set resourceSet) error {
	routes := map[string]bool{}
	for name := range set[resourcev3.RouteType] {
		routes[name] = false
	}
	for name, m := range set[resourcev3.ListenerType] {
		l := m.(*listenerv3.Listener)
		var hcm hcmv3.HttpConnectionManager
		if err := l.GetApiListener().GetApiListener().UnmarshalTo(&hcm); err != nil {
			return fmt.Errorf("listener %s: %w", name, err)
		}
		rc := hcm.GetRds().GetRouteConfigName()
		if _, ok := routes[rc]; !ok {
			return fmt.Errorf("listener %s: no route configuration %s", name, rc)
		}
		routes[rc] = true
	}
	for name, used := range routes {
		if !used {
			return fmt.Errorf("route configuration %s: no listener uses it", name)
		}
	}
	for name := range set[resourcev3.ClusterType] {
		if _, ok := set[resourcev3.EndpointType][name]; !ok {
			return fmt.Errorf("cluster %s: no endpoint assignment", name)
		}
	}
	return nil
}
