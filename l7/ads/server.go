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
	"net"
	"slices"
	"sort"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
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
	backends  map[string]*gatewayapi.Backend
	structure [sha256.Size]byte
	haveIR    bool
	nodes     map[string]*nodeState
	nacks     map[nackKey]NACK
	streams   map[int64]string // stream ID -> node ID
}

type nodeState struct {
	node     *corev3.Node
	gateways []string
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
	}
	s.cache = cachev3.NewSnapshotCache(true, cachev3.IDHash{}, cacheLogger{log})
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
	defer s.mu.Unlock()
	var terr error
	if s.haveIR && structure == s.structure {
		terr = s.updateEndpoints(ir)
		s.metrics.translations.WithLabelValues("endpoints").Inc()
	} else {
		var res map[string]*xds.Resources
		res, terr = xds.Translate(ir, s.opts.Translate)
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
	s.log.Debug("updated", "gateways", len(ir.Gateways), "nodes", len(s.nodes), "took", time.Since(start), "error", terr)
	return errors.Join(append(errs, terr)...)
}

// updateEndpoints replaces every Gateway's endpoint assignments.
func (s *Server) updateEndpoints(ir *gatewayapi.IR) error {
	byName := map[string]*gatewayapi.Backend{}
	for _, b := range ir.Backends {
		byName[b.Name] = b
	}
	var errs []error
	for gw, r := range s.res {
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
		s.res[gw] = &next
	}
	return errors.Join(errs...)
}

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

// setSnapshot builds and sets the snapshot of one node. Each type's
// version is a hash of its resources, so a type whose resources did not
// change keeps its version and is not pushed again. Must hold s.mu.
func (s *Server) setSnapshot(ctx context.Context, id string) error {
	n := s.nodes[id]
	gws := n.gateways
	if s.opts.Gateways == nil {
		gws = sortedKeys(s.res)
	}
	merged := map[string]map[string]types.Resource{}
	add := func(typ string, name string, m types.Resource) {
		if merged[typ] == nil {
			merged[typ] = map[string]types.Resource{}
		}
		merged[typ][name] = m
	}
	for _, gw := range gws {
		r := s.res[gw]
		if r == nil {
			continue
		}
		for _, m := range r.Listeners {
			add(resourcev3.ListenerType, m.Name, m)
		}
		for _, m := range r.Routes {
			add(resourcev3.RouteType, m.Name, m)
		}
		for _, m := range r.Clusters {
			add(resourcev3.ClusterType, m.Name, m)
		}
		for _, m := range r.Endpoints {
			add(resourcev3.EndpointType, m.ClusterName, m)
		}
		for _, m := range r.Secrets {
			add(resourcev3.SecretType, m.Name, m)
		}
	}
	snap := &cachev3.Snapshot{}
	versions := map[string]string{}
	for _, typ := range []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.SecretType} {
		names := sortedKeys(merged[typ])
		items := make([]types.Resource, 0, len(names))
		h := sha256.New()
		for _, name := range names {
			m := merged[typ][name]
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if err != nil {
				return fmt.Errorf("ads: marshal %s %s: %w", typ, name, err)
			}
			h.Write([]byte(name))
			h.Write(b)
			items = append(items, m)
		}
		v := hex.EncodeToString(h.Sum(nil))[:16]
		versions[typ] = v
		snap.Resources[cachev3.GetResponseType(typ)] = cachev3.NewResources(v, items)
	}
	if err := snap.Consistent(); err != nil {
		s.metrics.inconsistent.Inc()
		return fmt.Errorf("ads: node %s: snapshot not consistent, keeping the last one: %w", id, err)
	}
	if err := snap.ConstructVersionMap(); err != nil {
		return fmt.Errorf("ads: node %s: %w", id, err)
	}
	now := time.Now()
	for typ, v := range versions {
		if n.versions[typ] != v {
			n.setAt[typ] = now
		}
	}
	n.versions = versions
	if err := s.cache.SetSnapshot(ctx, id, snap); err != nil {
		return fmt.Errorf("ads: node %s: set snapshot: %w", id, err)
	}
	return nil
}

// nodeSeen registers a node on its first request and gives it a snapshot.
func (s *Server) nodeSeen(node *corev3.Node) {
	if node == nil || node.Id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.nodes[node.Id]; ok {
		return
	}
	s.nodes[node.Id] = &nodeState{node: node, gateways: s.gatewaysOf(node), versions: map[string]string{}, setAt: map[string]time.Time{}}
	s.metrics.nodes.Set(float64(len(s.nodes)))
	if err := s.setSnapshot(context.Background(), node.Id); err != nil {
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
