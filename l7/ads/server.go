package ads

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
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
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

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
	cache   *xdsCache
	xds     serverv3.Server
	lis     net.Listener
	metrics *metrics

	mu    sync.Mutex
	model *model
	views map[string]*view
	nodes map[string]*nodeState
	// queue holds snapshots built under mu and not yet set (flush).
	queue   []queued
	nacks   map[nackKey]NACK
	changed chan struct{}          // closed when nacks change (RejectionsChanged)
	streams map[int64]*corev3.Node // stream ID -> node of its first request
	// names interns the names of requests (not guarded by mu).
	names nameTable
}

type nodeState struct {
	node      *corev3.Node
	proxyless bool
	gateways  []string
	// snap is the snapshot last set; acked holds, by type, what the node
	// runs (what it last accepted).
	snap  *nodeSnap
	acked [numTypes]*typeSnap
	// subscribed holds the types the node has asked for; pending is set
	// while a warm-up snapshot stands in for the desired one, warming
	// holds the new clusters whose endpoints the node has yet to accept.
	subscribed map[string]bool
	pending    bool
	warming    map[string]bool
	// drop are retiring clusters the next snapshot leaves out (retire).
	drop map[string]bool
	// clusters are the clusters the node subscribes to by name, nil for a
	// wildcard subscription (Envoy's).
	clusters map[string]bool
	// seq numbers the snapshots built for the node.
	seq uint64
	// retiring holds clusters (and their endpoint assignments) kept after
	// the routes stopped using them, until the node accepts those routes.
	retiring map[string][2]*entry
	// setAt is when each type last changed in the node's snapshot.
	setAt [numTypes]time.Time
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
		opts: opts, log: log, lis: lis, metrics: m, model: newModel(opts.Translate),
		views: map[string]*view{}, nodes: map[string]*nodeState{}, nacks: map[nackKey]NACK{},
		changed: make(chan struct{}), streams: map[int64]*corev3.Node{},
	}
	if s.opts.Proxyless == nil {
		s.opts.Proxyless = func(n *corev3.Node) bool { return strings.HasPrefix(n.GetUserAgentName(), "gRPC") }
	}
	s.cache = newXDSCache(s.clientEvents)
	s.xds = serverv3.NewServer(context.Background(), s.cache, s.callbacks())
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.lis.Addr() }

// Start serves ADS until ctx is done, then stops (open streams are
// cancelled, and Start waits for their handlers) and returns nil; it
// returns an error if serving fails.
func (s *Server) Start(ctx context.Context) error {
	var opts []grpc.ServerOption
	if s.opts.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.opts.TLS)))
	}
	opts = append(opts,
		grpc.MaxConcurrentStreams(1<<20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 15 * time.Second, PermitWithoutStream: true}),
		grpc.WaitForHandlers(true),
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

// Update takes a new routing model and sets every node's snapshot, so
// that each node gets the resources that changed. It translates only the
// Gateways that changed (and those whose backends changed other than in
// their endpoints); when only endpoints changed (an EndpointSlice
// update), it rebuilds the changed endpoint assignments alone. Nodes that
// serve the same Gateways share one snapshot, built once. A resource that
// fails validation is left out and reported in the returned error (an
// *xds.ResourceError, every Update until it is fixed); the rest is still
// pushed. Update satisfies gatewayapi/controller's Sink.
//
// The IR must not be modified once handed over (see gatewayapi.IR): a
// Gateway or Backend of ir that is the very object of the last IR is
// taken as unchanged without a look. An IR that is the last one again
// (the same pointer) is compared in full.
func (s *Server) Update(ctx context.Context, ir *gatewayapi.IR) error {
	start := time.Now()
	s.mu.Lock()
	kind, terr := s.model.update(ir)
	if kind == "" {
		// The model could not take the IR (it starts afresh next time):
		// the nodes keep their snapshots.
		s.mu.Unlock()
		return terr
	}
	s.metrics.translations.WithLabelValues(kind).Inc()
	if kind == "full" {
		s.names.update(s.model)
	}
	var errs []error
	if s.proxylessNodes() {
		if _, err := s.model.projection(); err != nil {
			errs = append(errs, err)
		}
		terr = s.model.errors(true)
	}
	for _, id := range sortedKeys(s.nodes) {
		errs = append(errs, s.setSnapshot(id))
	}
	for k, v := range s.views {
		if !v.used {
			delete(s.views, k)
		}
		v.used = false
	}
	q, nodes := s.takeQueue(), len(s.nodes)
	s.mu.Unlock()
	s.flush(ctx, q)
	s.log.Debug("updated", "gateways", len(ir.Gateways), "kind", kind, "nodes", nodes, "took", time.Since(start), "error", terr)
	return errors.Join(append(errs, terr)...)
}

func (s *Server) proxylessNodes() bool {
	for _, n := range s.nodes {
		if n.proxyless {
			return true
		}
	}
	return false
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

// setSnapshot sets the snapshot of one node: its view's, shared with the
// nodes that serve the same Gateways, unless the node is between two
// configurations. Changes are made before break: new clusters first (see
// warmup), old clusters last (see retiring). Must hold s.mu.
func (s *Server) setSnapshot(id string) error {
	n := s.nodes[id]
	v, err := s.view(n)
	if err != nil {
		s.metrics.inconsistent.Inc()
		return fmt.Errorf("ads: node %s: keeping the last snapshot: %w", id, err)
	}
	routes := n.subscribed[resourcev3.ListenerType] || n.subscribed[resourcev3.RouteType]
	if !routes {
		// Nothing can be routed to them any more.
		clear(n.retiring)
	}
	sameClusters := n.snap == nil || !routes || n.snap[typeCluster].version == v.snap[typeCluster].version
	if len(n.retiring) == 0 && sameClusters && !s.needsWarmup(n, v.snap) {
		n.pending, n.warming = false, nil
		clear(n.drop)
		s.use(n, v.snap)
		return nil
	}
	desired := s.desired(n, v.snap, routes)
	if warm := s.warmup(n, desired); warm != nil {
		s.log.Debug("warming new clusters up", "node", id, "clusters", len(n.warming))
		n.pending = true
		return s.apply(n, warm)
	}
	n.pending, n.warming = false, nil
	if desired == v.snap {
		s.use(n, desired) // checked already
		return nil
	}
	return s.apply(n, desired)
}

// desired is what the node should run: its view plus the clusters still
// retiring. Only the types it changes are copied.
func (s *Server) desired(n *nodeState, base *nodeSnap, routes bool) *nodeSnap {
	// Make before break, the removing half: a cluster the node had and
	// the new routes no longer use stays, with its endpoints, until the
	// node has accepted listeners and routes without it (retire), so that
	// requests still routed to it meanwhile do not fail.
	if n.snap != nil && routes {
		prevEndpoints := n.snap[typeEndpoint].items
		for name, c := range n.snap[typeCluster].items {
			if base[typeCluster].items[name] != nil || n.drop[name] {
				continue
			}
			if _, ok := n.retiring[name]; !ok {
				n.retiring[name] = [2]*entry{c, prevEndpoints[name]}
			}
		}
	}
	for name := range n.retiring {
		if base[typeCluster].items[name] != nil || n.drop[name] {
			delete(n.retiring, name) // used again, or retired
		}
	}
	clear(n.drop)
	if len(n.retiring) == 0 {
		return base
	}
	set := *base
	clusters, endpoints := cloneItems(base[typeCluster]), cloneItems(base[typeEndpoint])
	for name, r := range n.retiring {
		clusters[name] = r[0]
		if r[1] != nil {
			endpoints[name] = r[1]
		}
	}
	set[typeCluster] = newTypeSnap(typeCluster, clusters, nil)
	set[typeEndpoint] = newTypeSnap(typeEndpoint, endpoints, nil)
	return &set
}

// needsWarmup says whether desired has clusters the node runs routes
// without, which warmup then works out. A node that takes no clusters from
// this server has none to warm up.
func (s *Server) needsWarmup(n *nodeState, desired *nodeSnap) bool {
	if n.proxyless || !n.subscribed[resourcev3.ClusterType] || (n.acked[typeListener] == nil && n.acked[typeRoute] == nil) {
		return false
	}
	a := n.acked[typeCluster]
	return a == nil || a.version != desired[typeCluster].version
}

// warmup is the adding half of make before break, for Envoy. When the
// desired resources use clusters the node does not have yet, it first gets
// a snapshot with the new clusters and endpoints but the listeners and
// routes it runs now; once it has accepted those (clientEvents, warmedUp),
// it gets the desired snapshot. Envoy warms a new cluster before routes
// may use it, so a route never points at a cluster it lacks (which would
// be answered 500). A gRPC client needs no warm-up: it fetches the
// clusters a new route configuration names, and waits for them, before it
// applies it. warmup returns nil when no warm-up is needed.
func (s *Server) warmup(n *nodeState, desired *nodeSnap) *nodeSnap {
	if !s.needsWarmup(n, desired) {
		return nil
	}
	var have map[string]*entry
	if a := n.acked[typeCluster]; a != nil {
		have = a.items
	}
	fresh := map[string]bool{}
	for name := range desired[typeCluster].items {
		if have[name] == nil {
			fresh[name] = true
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	// warming says, for each new cluster, whether the node has yet to
	// accept its endpoints; what it accepted while warming up stays.
	warming := make(map[string]bool, len(fresh))
	for name := range fresh {
		pending, ok := n.warming[name]
		warming[name] = !ok || pending
	}
	n.warming = warming
	warm := *desired
	if a := n.acked[typeListener]; a != nil {
		warm[typeListener] = a
	}
	if a := n.acked[typeRoute]; a != nil {
		warm[typeRoute] = a
	}
	return &warm
}

// warmedUp reports whether the node has accepted the warm-up snapshot's
// clusters and endpoints, of the types it subscribes to.
func (s *Server) warmedUp(n *nodeState) bool {
	for _, typ := range []int{typeCluster, typeEndpoint} {
		if a := n.acked[typ]; n.subscribed[typeURLs[typ]] && (a == nil || a.version != n.snap[typ].version) {
			return false
		}
	}
	// Endpoints are asked for by name: the node must have accepted a
	// response carrying every new cluster's.
	if n.subscribed[resourcev3.EndpointType] {
		for _, pending := range n.warming {
			if pending {
				return false
			}
		}
	}
	return true
}

// apply checks a node's own snapshot (between two configurations) and
// sets it.
func (s *Server) apply(n *nodeState, set *nodeSnap) error {
	check := consistent
	if n.proxyless {
		check = projectionConsistent
	}
	snap := new(nodeSnap)
	*snap = *set // set may be a view's
	for typ := range numTypes {
		if snap[typ].prev == nil && n.snap != nil && snap[typ] != n.snap[typ] && snap[typ] != n.acked[typ] {
			// A node's own type snapshot follows what the node has.
			snap[typ] = newTypeSnap(typ, snap[typ].items, n.snap[typ])
		}
	}
	if err := check(snap); err != nil {
		s.metrics.inconsistent.Inc()
		return fmt.Errorf("ads: node %s: keeping the last snapshot: %w", n.node.Id, err)
	}
	s.use(n, snap)
	return nil
}

// use makes snap the node's snapshot and queues it for the cache. Must
// hold s.mu.
func (s *Server) use(n *nodeState, snap *nodeSnap) {
	if n.snap == snap {
		return
	}
	now := time.Now()
	for typ := range numTypes {
		if n.snap == nil || n.snap[typ].version != snap[typ].version {
			n.setAt[typ] = now
		}
		// The node runs this version already (the Update went back to what
		// it accepted before a rejected push): nothing is open any more.
		if a := n.acked[typ]; a != nil && a.version == snap[typ].version {
			s.closeNACK(n.node.Id, typ)
		}
	}
	n.snap = snap
	n.seq++
	s.queue = append(s.queue, queued{id: n.node.Id, seq: n.seq, snap: snap})
}

// queued is a snapshot built under s.mu, to be set in the cache without
// it (flush).
type queued struct {
	id   string
	seq  uint64
	snap *nodeSnap
}

// takeQueue returns the queued snapshots and empties the queue. Must hold
// s.mu.
func (s *Server) takeQueue() []queued {
	q := s.queue
	s.queue = nil
	return q
}

// flush sets queued snapshots in the cache. It must not hold s.mu: the
// cache reports to clientEvents, which takes it. The cache drops a
// snapshot older than one set already for its node.
func (s *Server) flush(_ context.Context, q []queued) {
	for _, e := range q {
		s.cache.set(e.id, e.snap, e.seq)
	}
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
		subscribed: map[string]bool{}, retiring: map[string][2]*entry{}, drop: map[string]bool{}}
	s.metrics.nodes.Set(float64(len(s.nodes)))
	if err := s.setSnapshot(node.Id); err != nil {
		s.log.Warn("no snapshot for a new node", "node", node.Id, "error", err)
	}
	q := s.takeQueue()
	s.mu.Unlock()
	// The node's first request comes before the watch that this snapshot
	// answers, so setting it here blocks nothing.
	s.flush(context.Background(), q)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// projectionConsistent checks a gRPC client's resources: every
// api_listener's route configuration exists and is used, and every cluster
// has its endpoint assignment.
func projectionConsistent(snap *nodeSnap) error {
	routes := map[string]bool{}
	for name := range snap[typeRoute].items {
		routes[name] = false
	}
	for name, e := range snap[typeListener].items {
		l, ok := e.res.(*listenerv3.Listener)
		if !ok {
			return fmt.Errorf("%w: listener %s is a %T", ErrInconsistent, name, e.res)
		}
		var hcm hcmv3.HttpConnectionManager
		if err := l.GetApiListener().GetApiListener().UnmarshalTo(&hcm); err != nil {
			return fmt.Errorf("%w: listener %s: %w", ErrInconsistent, name, err)
		}
		rc := hcm.GetRds().GetRouteConfigName()
		if _, ok := routes[rc]; !ok {
			return fmt.Errorf("%w: listener %s: no route configuration %s", ErrInconsistent, name, rc)
		}
		routes[rc] = true
	}
	for name, used := range routes {
		if !used {
			return fmt.Errorf("%w: route configuration %s: no listener uses it", ErrInconsistent, name)
		}
	}
	for name := range snap[typeCluster].items {
		if snap[typeEndpoint].items[name] == nil {
			return fmt.Errorf("%w: cluster %s: no endpoint assignment", ErrInconsistent, name)
		}
	}
	return nil
}
