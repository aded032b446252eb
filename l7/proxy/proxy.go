package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http/httputil"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/eniway/eniway/l7/xds"
)

// Options configure a Proxy. The zero value is valid: a proxy fed with
// Load, binding the addresses its Listeners name.
type Options struct {
	// Server is the ADS server address ("host:port"); empty means no ADS
	// client, the configuration comes from Load.
	Server string
	// DialOptions are used to dial Server; without any, the connection
	// is plaintext.
	DialOptions []grpc.DialOption
	// Node identifies the proxy to the ADS server; it needs an ID when
	// Server is set.
	Node *corev3.Node
	// Bind maps the address a Listener names to the address bound; nil
	// binds it as named. Tests map listeners to 127.0.0.1:0 and read the
	// result from ListenerAddr.
	Bind func(listener string, addr netip.AddrPort) netip.AddrPort
	// AccessLog, when set, receives an entry for every HTTP request,
	// whatever the connection manager's access log configuration. It is
	// called on the request's goroutine and must not block.
	AccessLog func(*AccessLogEntry)
	// AccessLogOutput receives the JSON lines of connection managers that
	// configure a stdout access log (os.Stdout when nil).
	AccessLogOutput io.Writer
	// MaxIdleConnsPerEndpoint bounds the idle connections kept per backend
	// endpoint (256 when 0).
	MaxIdleConnsPerEndpoint int
	// DrainTimeout bounds how long a removed listener, or every listener at
	// shutdown, waits for requests in flight (5s when 0).
	DrainTimeout time.Duration
	// Logger receives the proxy's logs; nil discards them.
	Logger *slog.Logger
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.Server != "" && o.Node.GetId() == "" {
		return fmt.Errorf("proxy options: field Node.Id: %w: required with Server", ErrInvalid)
	}
	if o.MaxIdleConnsPerEndpoint < 0 || o.DrainTimeout < 0 {
		return fmt.Errorf("proxy options: fields MaxIdleConnsPerEndpoint and DrainTimeout: %w: negative", ErrInvalid)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Bind == nil {
		o.Bind = func(_ string, a netip.AddrPort) netip.AddrPort { return a }
	}
	if o.AccessLogOutput == nil {
		o.AccessLogOutput = os.Stdout
	}
	if o.MaxIdleConnsPerEndpoint == 0 {
		o.MaxIdleConnsPerEndpoint = 256
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 5 * time.Second
	}
	return o
}

// Proxy is the embedded data plane. Create it with New, give it a
// configuration with Load or through its ADS client, and run it with
// Start. Its methods are safe for concurrent use.
type Proxy struct {
	opts Options
	log  *slog.Logger
	rp   *httputil.ReverseProxy

	// state is what requests read; it is replaced whole by every update.
	state atomic.Pointer[state]

	mu        sync.Mutex // serializes updates
	raw       map[string]map[string]proto.Message
	versions  map[string]string
	listeners map[string]*listenerRuntime
	running   bool
	logMu     sync.Mutex // serializes access log lines
}

// state is an immutable snapshot of the compiled configuration, except
// for the endpoints of clusters, which EDS swaps in place.
type state struct {
	listeners map[string]*listenerConfig
	routes    map[string]*routeConfig
	clusters  map[string]*cluster
	endpoints map[string][]netip.AddrPort // by EDS service name
	secrets   map[string]*tls.Certificate
}

func (s *state) clone() *state {
	return &state{
		listeners: maps.Clone(s.listeners),
		routes:    maps.Clone(s.routes),
		clusters:  maps.Clone(s.clusters),
		endpoints: maps.Clone(s.endpoints),
		secrets:   maps.Clone(s.secrets),
	}
}

// New returns a Proxy without configuration.
func New(opts Options) (*Proxy, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	p := &Proxy{
		opts:      opts,
		log:       opts.Logger,
		raw:       map[string]map[string]proto.Message{},
		versions:  map[string]string{},
		listeners: map[string]*listenerRuntime{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.state.Store(&state{
		listeners: map[string]*listenerConfig{}, routes: map[string]*routeConfig{}, clusters: map[string]*cluster{},
		endpoints: map[string][]netip.AddrPort{}, secrets: map[string]*tls.Certificate{},
	})
	p.rp = p.reverseProxy()
	return p, nil
}

// Start serves the listeners and, with Options.Server, runs the ADS
// client, reconnecting with back-off, until ctx ends; then it closes the
// listeners, draining requests in flight for up to Options.DrainTimeout.
// The configuration in force stays while the ADS server is unreachable.
func (p *Proxy) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return errors.New("proxy already started")
	}
	p.running = true
	for _, lr := range p.listeners {
		lr.serve()
	}
	p.mu.Unlock()
	var err error
	if p.opts.Server != "" {
		err = p.runADS(ctx)
	} else {
		<-ctx.Done()
	}
	p.mu.Lock()
	lrs := slices.Collect(maps.Values(p.listeners))
	p.listeners = map[string]*listenerRuntime{}
	p.running = false
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, lr := range lrs {
		wg.Go(func() {
			lr.close(p.opts.DrainTimeout)
			lr.tcpConns.Wait()
		})
	}
	wg.Wait()
	for _, c := range p.state.Load().clusters {
		c.close()
	}
	return err
}

// Load replaces the whole configuration with resources, as an ADS update
// of every type would. Either all of it is accepted or none: the error
// joins a *ConfigError for every rejected resource.
func (p *Proxy) Load(resources ...*xds.Resources) error {
	sets := map[string]map[string]proto.Message{}
	for _, t := range resourceTypes {
		sets[t] = map[string]proto.Message{}
	}
	for _, r := range resources {
		for _, l := range r.Listeners {
			sets[resourcev3.ListenerType][l.GetName()] = l
		}
		for _, rc := range r.Routes {
			sets[resourcev3.RouteType][rc.GetName()] = rc
		}
		for _, c := range r.Clusters {
			sets[resourcev3.ClusterType][c.GetName()] = c
		}
		for _, e := range r.Endpoints {
			sets[resourcev3.EndpointType][e.GetClusterName()] = e
		}
		for _, s := range r.Secrets {
			sets[resourcev3.SecretType][s.GetName()] = s
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Compile everything before changing anything.
	st := p.state.Load().clone()
	var commits []func(bool) func()
	for _, t := range resourceTypes {
		commit, err := p.stage(st, t, sets[t])
		if err != nil {
			for _, c := range commits {
				c(false)()
			}
			return err
		}
		commits = append(commits, commit)
	}
	p.state.Store(st)
	for _, c := range commits {
		c(true)
	}
	for _, t := range resourceTypes {
		p.raw[t] = sets[t]
		p.versions[t] = "static"
	}
	return nil
}

// Load order: secrets and clusters before the listeners and routes that
// use them.
var resourceTypes = []string{resourcev3.SecretType, resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.RouteType, resourcev3.ListenerType}

// apply replaces the resources of one type (the whole set for listeners
// and clusters, the subscribed names for the others); on error nothing
// changes.
func (p *Proxy) apply(typeURL, version string, set map[string]proto.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state.Load().clone()
	commit, err := p.stage(st, typeURL, set)
	if err != nil {
		return err
	}
	p.state.Store(st)
	commit(true)
	p.raw[typeURL] = set
	p.versions[typeURL] = version
	return nil
}

// stage compiles the resources of one type into st. It returns commit,
// which finishes the update once st is in force (closing what was
// replaced) when called with true, or returns the undo of staged side
// effects when called with false (Load undoes all types if a later one
// fails).
func (p *Proxy) stage(st *state, typeURL string, set map[string]proto.Message) (func(bool) func(), error) {
	nothing := func(bool) func() { return func() {} }
	var errs []error
	switch typeURL {
	case resourcev3.SecretType:
		st.secrets = map[string]*tls.Certificate{}
		for _, name := range slices.Sorted(maps.Keys(set)) {
			c, err := compileSecret(set[name].(*tlsv3.Secret))
			if err != nil {
				errs = append(errs, resourceError(typeURL, name, err))
				continue
			}
			st.secrets[name] = c
		}
	case resourcev3.RouteType:
		st.routes = map[string]*routeConfig{}
		for _, name := range slices.Sorted(maps.Keys(set)) {
			rc, err := compileRouteConfig(set[name].(*routev3.RouteConfiguration))
			if err != nil {
				errs = append(errs, resourceError(typeURL, name, err))
				continue
			}
			st.routes[name] = rc
		}
	case resourcev3.EndpointType:
		st.endpoints = map[string][]netip.AddrPort{}
		for _, name := range slices.Sorted(maps.Keys(set)) {
			eps, err := compileEndpoints(set[name].(*endpointv3.ClusterLoadAssignment), "")
			if err != nil {
				errs = append(errs, resourceError(typeURL, name, err))
				continue
			}
			st.endpoints[name] = eps
		}
		if len(errs) == 0 {
			return func(done bool) func() {
				if done {
					for _, c := range st.clusters {
						if !c.static {
							eps := st.endpoints[c.service]
							c.eps.Store(&eps)
						}
					}
				}
				return func() {}
			}, nil
		}
	case resourcev3.ClusterType:
		old := st.clusters
		oldRaw := p.raw[typeURL]
		st.clusters = map[string]*cluster{}
		for _, name := range slices.Sorted(maps.Keys(set)) {
			c := set[name].(*clusterv3.Cluster)
			if prev := old[name]; prev != nil && proto.Equal(oldRaw[name], c) {
				st.clusters[name] = prev
				continue
			}
			cc, err := compileCluster(c, p.opts.MaxIdleConnsPerEndpoint)
			if err != nil {
				errs = append(errs, resourceError(typeURL, name, err))
				continue
			}
			if !cc.static {
				eps := st.endpoints[cc.service]
				cc.eps.Store(&eps)
			}
			st.clusters[name] = cc
		}
		if len(errs) == 0 {
			return func(done bool) func() {
				if done {
					for name, c := range old {
						if st.clusters[name] != c {
							c.close()
						}
					}
				}
				return func() {}
			}, nil
		}
	case resourcev3.ListenerType:
		st.listeners = map[string]*listenerConfig{}
		for _, name := range slices.Sorted(maps.Keys(set)) {
			l, err := compileListener(set[name].(*listenerv3.Listener))
			if err != nil {
				errs = append(errs, resourceError(typeURL, name, err))
				continue
			}
			st.listeners[name] = l
		}
		if len(errs) == 0 {
			return p.stageListeners(st.listeners)
		}
	default:
		return nil, fmt.Errorf("%w: resource type %s", ErrUnsupported, typeURL)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return nothing, nil
}

// stageListeners binds the sockets new listeners need. Its commit swaps
// the configuration of kept listeners, starts the new ones and closes the
// removed ones.
func (p *Proxy) stageListeners(cfgs map[string]*listenerConfig) (func(bool) func(), error) {
	fresh := map[string]*listenerRuntime{}
	closeFresh := func() {
		for _, lr := range fresh {
			_ = lr.ln.Close()
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfgs)) {
		cfg := cfgs[name]
		bind := p.opts.Bind(name, cfg.addr)
		if lr := p.listeners[name]; lr != nil && lr.bind == bind {
			continue
		}
		lr, err := p.bindListener(cfg, bind)
		if err != nil {
			closeFresh()
			return nil, &ConfigError{Type: resourcev3.ListenerType, Name: name, Field: "address", Err: err}
		}
		fresh[name] = lr
	}
	return func(done bool) func() {
		if !done {
			return closeFresh
		}
		var retired []*listenerRuntime
		for name, lr := range p.listeners {
			if cfg := cfgs[name]; cfg != nil && fresh[name] == nil {
				lr.cfg.Store(cfg)
				continue
			}
			retired = append(retired, lr)
			delete(p.listeners, name)
		}
		for name, lr := range fresh {
			p.listeners[name] = lr
			if p.running {
				lr.serve()
			}
		}
		for _, lr := range retired {
			go lr.close(p.opts.DrainTimeout)
		}
		return func() {}
	}, nil
}

// ListenerAddr returns the address a listener is bound to, or nil.
func (p *Proxy) ListenerAddr(name string) net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	if lr := p.listeners[name]; lr != nil {
		return lr.Addr()
	}
	return nil
}

// Version returns the version of the resources of a type in force ("" for
// none, "static" after Load).
func (p *Proxy) Version(typeURL string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.versions[typeURL]
}

// sampled draws a request with a probability in millionths.
func sampled(millionths uint32) bool {
	return millionths >= 1_000_000 || (millionths > 0 && rand.Uint32N(1_000_000) < millionths)
}
