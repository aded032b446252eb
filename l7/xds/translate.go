package xds

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	localratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/eniway/eniway/gatewayapi"
)

// Envoy filter and extension names (go-control-plane's wellknown lacks
// the last three).
const (
	filterHCM            = wellknown.HTTPConnectionManager
	filterTCPProxy       = wellknown.TCPProxy
	filterTLSInspector   = wellknown.TLSInspector
	filterRouter         = wellknown.Router
	filterCORS           = wellknown.CORS
	transportSocketTLS   = wellknown.TransportSocketTLS
	filterLocalRateLimit = LocalRateLimitFilter
	upstreamHTTPOptions  = UpstreamHTTPProtocolOptions
	accessLogStdout      = StdoutAccessLogger
)

// Names of Envoy extensions the translation uses that go-control-plane's
// wellknown package does not define.
const (
	LocalRateLimitFilter        = "envoy.filters.http.local_ratelimit"
	UpstreamHTTPProtocolOptions = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	StdoutAccessLogger          = "envoy.access_loggers.stdout"
)

// InvalidCluster is the cluster name a weighted share of an invalid
// backend reference points at. No such cluster exists, so Envoy answers
// that share with cluster_not_found_response_code, HTTP 500.
const InvalidCluster = "eniway/invalid-backend"

// Options configure a translation. The zero value is valid.
type Options struct {
	// ListenAddress is the address listeners bind (0.0.0.0 when invalid);
	// use the IPv6 unspecified address for dual stack.
	ListenAddress netip.Addr
	// ConnectTimeout bounds connecting to a backend (5s when 0).
	ConnectTimeout time.Duration
	// AccessLog adds a JSON access log on stdout to every HTTP connection
	// manager.
	AccessLog bool
}

func (o Options) withDefaults() Options {
	if !o.ListenAddress.IsValid() {
		o.ListenAddress = netip.IPv4Unspecified()
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	return o
}

// Translate turns every Gateway of ir into Envoy resources: the result
// maps "namespace/name" of each Gateway to its listeners, route
// configurations and secrets, and to the clusters and endpoint assignments
// of the backends its routes use. It is pure and deterministic. Resources
// that fail validation are left out and reported, joined, as
// *ResourceError.
func Translate(ir *gatewayapi.IR, opts Options) (map[string]*Resources, error) {
	return (&Translator{opts: opts.withDefaults()}).translate(ir)
}

// A Translator translates like Translate, and remembers the Envoy route
// of each gatewayapi.Route object and the cluster and endpoint assignment
// of each gatewayapi.Backend object it translated last, so that the next
// translation of a Gateway reuses them for the objects it meets again:
// translating a Gateway of thousands of routes after one of them changed
// costs about as much as translating that route. An IR is never modified
// once handed over (gatewayapi.IR), which is what makes an object's
// identity stand for its content; a caller that modifies objects calls
// Reset before translating them again. A Translator is not safe for
// concurrent use.
type Translator struct {
	opts Options
	// routes holds, by Gateway, the routes of its last translation, and
	// vhosts its virtual hosts by route configuration and hostname.
	routes map[string]map[*gatewayapi.Route]*routeMemo
	vhosts map[string]map[vhostKey]*routev3.VirtualHost
	// backends holds, by name, the last translation of each backend.
	backends map[string]*backendMemo
	// byName indexes irBackends, the last IR's backends.
	irBackends []*gatewayapi.Backend
	byName     map[string]*gatewayapi.Backend
}

type vhostKey struct{ routeConfig, hostname string }

// routeMemo is one translated route: the rate limit it was translated
// with (its listener's, maybe), the result, and the backends it uses.
type routeMemo struct {
	limit *gatewayapi.RateLimit
	route *routev3.Route
	err   error
	used  []string
}

// backendMemo is one translated backend.
type backendMemo struct {
	backend    *gatewayapi.Backend
	cluster    *clusterv3.Cluster
	clusterErr error
	cla        *endpointv3.ClusterLoadAssignment
	claErr     error
}

// NewTranslator returns a Translator with nothing remembered.
func NewTranslator(opts Options) *Translator {
	t := &Translator{opts: opts.withDefaults()}
	t.Reset()
	return t
}

// Translate is the package's Translate with the Translator's options.
// Each Gateway of ir is remembered as translated now; the Gateways it
// remembers that ir lacks are kept (Forget drops one). Backends that ir
// lacks are forgotten once they are as many as those it has.
func (t *Translator) Translate(ir *gatewayapi.IR) (map[string]*Resources, error) {
	if len(t.backends) > 2*len(ir.Backends) {
		names := make(map[string]bool, len(ir.Backends))
		for _, b := range ir.Backends {
			names[b.Name] = true
		}
		maps.DeleteFunc(t.backends, func(name string, _ *backendMemo) bool { return !names[name] })
	}
	return t.translate(ir)
}

// Forget drops what the Translator remembers of the Gateway
// "namespace/name".
func (t *Translator) Forget(gateway string) {
	delete(t.routes, gateway)
	delete(t.vhosts, gateway)
}

// Reset forgets everything.
func (t *Translator) Reset() {
	t.routes = map[string]map[*gatewayapi.Route]*routeMemo{}
	t.vhosts = map[string]map[vhostKey]*routev3.VirtualHost{}
	t.backends = map[string]*backendMemo{}
	t.irBackends, t.byName = nil, nil
}

// sameSlice says whether a and b are the same slice (not only equal).
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// translate translates ir, remembering when t.routes is set.
func (t *Translator) translate(ir *gatewayapi.IR) (map[string]*Resources, error) {
	backends := t.byName
	if t.routes == nil || !sameSlice(ir.Backends, t.irBackends) {
		backends = make(map[string]*gatewayapi.Backend, len(ir.Backends))
		for _, b := range ir.Backends {
			backends[b.Name] = b
		}
		if t.routes != nil {
			t.irBackends, t.byName = ir.Backends, backends
		}
	}
	out := map[string]*Resources{}
	var errs []error
	for _, g := range ir.Gateways {
		gt := &gatewayTranslator{opts: t.opts, gw: g, key: g.Namespace + "/" + g.Name, backends: backends, used: map[string]bool{}}
		if t.routes != nil {
			gt.memo, gt.last, gt.next = t, t.routes[gt.key], map[*gatewayapi.Route]*routeMemo{}
			gt.lastVH, gt.nextVH = t.vhosts[gt.key], map[vhostKey]*routev3.VirtualHost{}
		}
		res := gt.translate()
		errs = append(errs, gt.errs...)
		out[gt.key] = res
		if gt.memo != nil {
			t.routes[gt.key], t.vhosts[gt.key] = gt.next, gt.nextVH
		}
	}
	return out, errors.Join(errs...)
}

type gatewayTranslator struct {
	opts     Options
	gw       *gatewayapi.Gateway
	key      string
	backends map[string]*gatewayapi.Backend
	used     map[string]bool
	secrets  map[string]*gatewayapi.Certificate
	errs     []error
	res      *Resources
	// memo, when set, is the Translator to reuse from: last are the
	// Gateway's routes it remembers, next those of this translation.
	memo           *Translator
	last, next     map[*gatewayapi.Route]*routeMemo
	lastVH, nextVH map[vhostKey]*routev3.VirtualHost
}

func (t *gatewayTranslator) fail(typ, name, source string, err error) {
	t.errs = append(t.errs, &ResourceError{Gateway: t.key, Type: typ, Name: name, Source: source, Err: err})
}

// validator is what protoc-gen-validate generates.
type validator interface{ ValidateAll() error }

// pack validates m and packs it into an Any deterministically.
func pack(m proto.Message) (*anypb.Any, error) {
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			return nil, err
		}
	}
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, err
	}
	return a, nil
}

func mustPackErr(errs *[]error, m proto.Message) *anypb.Any {
	a, err := pack(m)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%T: %w", m, err))
	}
	return a
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// Names of a Gateway's resources.
func listenerName(gw string, port int32) string  { return gw + "/" + strconv.Itoa(int(port)) }
func httpRouteName(gw string, port int32) string { return gw + "/port/" + strconv.Itoa(int(port)) }
func httpsRouteName(gw, listener string) string  { return gw + "/listener/" + listener }
func statPrefix(gw string, port int32) string {
	return strings.NewReplacer("/", "_", ".", "_").Replace(gw) + "_" + strconv.Itoa(int(port))
}

func (t *gatewayTranslator) translate() *Resources {
	t.res = &Resources{}
	t.secrets = map[string]*gatewayapi.Certificate{}
	for _, p := range t.gw.Ports {
		t.port(p)
	}
	for _, name := range slices.Sorted(mapsKeys(t.used)) {
		b := t.backends[name]
		if b == nil {
			continue
		}
		t.addBackend(b)
	}
	for _, name := range slices.Sorted(mapsKeys(t.secrets)) {
		c := t.secrets[name]
		s := &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: c.CertPEM}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: c.KeyPEM}},
		}}}
		if err := s.ValidateAll(); err != nil {
			t.fail("Secret", name, "", err)
			continue
		}
		t.res.Secrets = append(t.res.Secrets, s)
	}
	sortResources(t.res)
	return t.res
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func sortResources(r *Resources) {
	slices.SortFunc(r.Listeners, func(a, b *listenerv3.Listener) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(r.Routes, func(a, b *routev3.RouteConfiguration) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(r.Clusters, func(a, b *clusterv3.Cluster) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(r.Endpoints, func(a, b *endpointv3.ClusterLoadAssignment) int {
		return strings.Compare(a.ClusterName, b.ClusterName)
	})
	slices.SortFunc(r.Secrets, func(a, b *tlsv3.Secret) int { return strings.Compare(a.Name, b.Name) })
}

// port builds the Listener of one port: for HTTP one HTTP connection
// manager whose RouteConfiguration holds the virtual hosts of all the
// port's listeners (listener isolation is already in the IR); for HTTPS one
// filter chain per listener, selected by SNI, each with its own
// RouteConfiguration, and one tcp_proxy chain per TLS passthrough route.
func (t *gatewayTranslator) port(p *gatewayapi.Port) {
	name := listenerName(t.key, p.Port)
	l := &listenerv3.Listener{
		Name: name,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address:       t.opts.ListenAddress.String(),
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p.Port)},
		}}},
		StatPrefix: statPrefix(t.key, p.Port),
	}
	var errs []error
	if p.Protocol == gatewayapi.ProtocolHTTP {
		rcName := httpRouteName(t.key, p.Port)
		var vhosts []*gatewayapi.VirtualHost
		var limit *gatewayapi.RateLimit
		for _, gl := range p.Listeners {
			vhosts = append(vhosts, gl.VirtualHosts...)
			limit = cmp.Or(limit, gl.RateLimit)
		}
		t.routeConfig(rcName, vhosts, p.Listeners)
		hcm := t.hcm(rcName, statPrefix(t.key, p.Port), p.Listeners, &errs)
		l.FilterChains = []*listenerv3.FilterChain{{
			Name:    name,
			Filters: []*listenerv3.Filter{{Name: filterHCM, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustPackErr(&errs, hcm)}}},
		}}
	} else {
		l.ListenerFilters = []*listenerv3.ListenerFilter{{
			Name:       filterTLSInspector,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustPackErr(&errs, &tlsinspectorv3.TlsInspector{})},
		}}
		for _, gl := range p.Listeners {
			switch gl.Protocol {
			case gatewayapi.ProtocolHTTPS:
				l.FilterChains = append(l.FilterChains, t.httpsChain(gl, p, &errs))
			case gatewayapi.ProtocolTLS:
				for _, r := range gl.TLSRoutes {
					l.FilterChains = append(l.FilterChains, t.passthroughChain(gl, r, &errs))
				}
			}
		}
	}
	if len(l.FilterChains) == 0 {
		return
	}
	if err := errors.Join(append(errs, l.ValidateAll())...); err != nil {
		t.fail("Listener", name, "", err)
		return
	}
	t.res.Listeners = append(t.res.Listeners, l)
}

func serverNames(host string) []string {
	if host == "" || host == "*" {
		return nil
	}
	return []string{host}
}

func (t *gatewayTranslator) httpsChain(gl *gatewayapi.Listener, p *gatewayapi.Port, errs *[]error) *listenerv3.FilterChain {
	rcName := httpsRouteName(t.key, gl.Name)
	t.routeConfig(rcName, gl.VirtualHosts, []*gatewayapi.Listener{gl})
	hcm := t.hcm(rcName, statPrefix(t.key, p.Port)+"_"+gl.Name, []*gatewayapi.Listener{gl}, errs)
	tlsCtx := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{AlpnProtocols: []string{"h2", "http/1.1"}}}
	for _, c := range gl.TLS.Certificates {
		t.secrets[c.Name] = c
		tlsCtx.CommonTlsContext.TlsCertificateSdsSecretConfigs = append(tlsCtx.CommonTlsContext.TlsCertificateSdsSecretConfigs,
			&tlsv3.SdsSecretConfig{Name: c.Name, SdsConfig: adsSource()})
	}
	return &listenerv3.FilterChain{
		Name:             rcName,
		FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: serverNames(gl.Hostname), TransportProtocol: "tls"},
		Filters:          []*listenerv3.Filter{{Name: filterHCM, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustPackErr(errs, hcm)}}},
		TransportSocket: &corev3.TransportSocket{Name: transportSocketTLS,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustPackErr(errs, tlsCtx)}},
	}
}

func (t *gatewayTranslator) passthroughChain(gl *gatewayapi.Listener, r *gatewayapi.TLSPassthroughRoute, errs *[]error) *listenerv3.FilterChain {
	name := t.key + "/" + gl.Name + "/" + r.Hostname
	tp := &tcpproxyv3.TcpProxy{StatPrefix: strings.NewReplacer("/", "_", ".", "_", "*", "wildcard").Replace(name)}
	var valid []*gatewayapi.WeightedBackend
	for _, b := range r.Backends {
		if b.Backend != "" {
			valid = append(valid, b)
			t.used[b.Backend] = true
		}
	}
	switch len(valid) {
	case 0:
		// No backend: connections are refused by an unknown cluster.
		tp.ClusterSpecifier = &tcpproxyv3.TcpProxy_Cluster{Cluster: InvalidCluster}
	case 1:
		tp.ClusterSpecifier = &tcpproxyv3.TcpProxy_Cluster{Cluster: valid[0].Backend}
	default:
		wc := &tcpproxyv3.TcpProxy_WeightedCluster{}
		for _, b := range valid {
			wc.Clusters = append(wc.Clusters, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{Name: b.Backend, Weight: b.Weight})
		}
		tp.ClusterSpecifier = &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: wc}
	}
	return &listenerv3.FilterChain{
		Name:             name,
		FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: serverNames(r.Hostname), TransportProtocol: "tls"},
		Filters:          []*listenerv3.Filter{{Name: filterTCPProxy, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustPackErr(errs, tp)}}},
	}
}

// hcm is the HTTP connection manager of a chain: RDS, the HTTP filters the
// routes need (CORS, local rate limiting), then the router.
func (t *gatewayTranslator) hcm(rcName, prefix string, listeners []*gatewayapi.Listener, errs *[]error) *hcmv3.HttpConnectionManager {
	needCORS, needRL := false, false
	var listenerLimit *gatewayapi.RateLimit
	for _, gl := range listeners {
		if gl.RateLimit != nil {
			needRL = true
			listenerLimit = cmp.Or(listenerLimit, gl.RateLimit)
		}
		for _, vh := range gl.VirtualHosts {
			for _, r := range vh.Routes {
				needCORS = needCORS || r.Filters.CORS != nil
				needRL = needRL || r.RateLimit != nil
			}
		}
	}
	h := &hcmv3.HttpConnectionManager{
		StatPrefix: prefix,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: rcName, ConfigSource: adsSource(),
		}},
		UseRemoteAddress: wrapperspb.Bool(true),
		NormalizePath:    wrapperspb.Bool(true),
		UpgradeConfigs:   []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
	}
	if needCORS {
		h.HttpFilters = append(h.HttpFilters, &hcmv3.HttpFilter{Name: filterCORS,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustPackErr(errs, &corsv3.Cors{})}})
	}
	if needRL {
		// The listener's limit is the filter's own bucket, shared by every
		// request of the chain; a route's limit overrides it per route.
		cfg := &localratelimitv3.LocalRateLimit{StatPrefix: prefix + "_ratelimit"}
		if listenerLimit != nil {
			cfg = localRateLimit(prefix+"_ratelimit", listenerLimit)
		}
		h.HttpFilters = append(h.HttpFilters, &hcmv3.HttpFilter{Name: filterLocalRateLimit,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustPackErr(errs, cfg)}})
	}
	h.HttpFilters = append(h.HttpFilters, &hcmv3.HttpFilter{Name: filterRouter,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustPackErr(errs, &routerv3.Router{})}})
	if t.opts.AccessLog {
		h.AccessLog = []*accesslogv3.AccessLog{{Name: accessLogStdout, ConfigType: &accesslogv3.AccessLog_TypedConfig{
			TypedConfig: mustPackErr(errs, &streamv3.StdoutAccessLog{AccessLogFormat: &streamv3.StdoutAccessLog_LogFormat{
				LogFormat: &corev3.SubstitutionFormatString{Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: accessLogFormat()}},
			}}),
		}}}
	}
	return h
}

func accessLogFormat() *structpb.Struct {
	s, _ := structpb.NewStruct(map[string]any{
		"start_time":     "%START_TIME%",
		"method":         "%REQ(:METHOD)%",
		"path":           "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
		"authority":      "%REQ(:AUTHORITY)%",
		"protocol":       "%PROTOCOL%",
		"status":         "%RESPONSE_CODE%",
		"flags":          "%RESPONSE_FLAGS%",
		"bytes_received": "%BYTES_RECEIVED%",
		"bytes_sent":     "%BYTES_SENT%",
		"duration_ms":    "%DURATION%",
		"upstream":       "%UPSTREAM_HOST%",
		"cluster":        "%UPSTREAM_CLUSTER%",
		"route":          "%ROUTE_NAME%",
		"client":         "%DOWNSTREAM_REMOTE_ADDRESS%",
	})
	return s
}

func localRateLimit(prefix string, rl *gatewayapi.RateLimit) *localratelimitv3.LocalRateLimit {
	full := &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED}}
	return &localratelimitv3.LocalRateLimit{
		StatPrefix: prefix,
		Status:     &typev3.HttpStatus{Code: typev3.StatusCode(rl.Status)},
		TokenBucket: &typev3.TokenBucket{
			MaxTokens:     rl.Burst,
			TokensPerFill: wrapperspb.UInt32(rl.Requests),
			FillInterval:  durationpb.New(rl.Interval),
		},
		FilterEnabled:  full,
		FilterEnforced: full,
	}
}

// routeConfig builds a RouteConfiguration from virtual hosts. Each route
// is validated on its own, when translated, and the configuration and its
// virtual hosts without their routes: together that is what validating
// the whole would check, and a remembered route is not validated again.
func (t *gatewayTranslator) routeConfig(name string, vhosts []*gatewayapi.VirtualHost, listeners []*gatewayapi.Listener) {
	rc := &routev3.RouteConfiguration{Name: name, IgnorePortInHostMatching: true}
	errs := []error{rc.ValidateAll()}
	for _, vh := range vhosts {
		v := &routev3.VirtualHost{Name: vh.Hostname, Domains: []string{vh.Hostname}}
		if err := v.ValidateAll(); err != nil {
			errs = append(errs, fmt.Errorf("virtual host %q: %w", vh.Hostname, err))
		}
		v.Routes = make([]*routev3.Route, 0, len(vh.Routes))
		for _, r := range vh.Routes {
			er, err := t.cachedRoute(r, listeners)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", sourceString(r.Source), err))
				continue
			}
			v.Routes = append(v.Routes, er)
		}
		if t.memo != nil {
			// The same routes keep the virtual host object, so that a
			// serializer can tell an unchanged one by pointer.
			k := vhostKey{name, vh.Hostname}
			if old := t.lastVH[k]; old != nil && slices.Equal(old.Routes, v.Routes) {
				v = old
			}
			t.nextVH[k] = v
		}
		rc.VirtualHosts = append(rc.VirtualHosts, v)
	}
	if err := errors.Join(errs...); err != nil {
		t.fail("RouteConfiguration", name, "", err)
		return
	}
	t.res.Routes = append(t.res.Routes, rc)
}

// cachedRoute is route, validated, from the Translator's memory when it
// has the same object translated with the same rate limit.
func (t *gatewayTranslator) cachedRoute(r *gatewayapi.Route, listeners []*gatewayapi.Listener) (*routev3.Route, error) {
	limit := routeLimit(r, listeners)
	if t.memo == nil {
		return t.validRoute(r, limit)
	}
	same := func(m *routeMemo) bool {
		return m != nil && (m.limit == limit || m.limit != nil && limit != nil && *m.limit == *limit)
	}
	m := t.next[r]
	if !same(m) {
		m = t.last[r]
	}
	if !same(m) {
		used := t.used
		t.used = map[string]bool{}
		m = &routeMemo{limit: limit}
		m.route, m.err = t.validRoute(r, limit)
		m.used = slices.Collect(mapsKeys(t.used))
		t.used = used
	}
	for _, name := range m.used {
		t.used[name] = true
	}
	t.next[r] = m
	return m.route, m.err
}

func (t *gatewayTranslator) validRoute(r *gatewayapi.Route, limit *gatewayapi.RateLimit) (*routev3.Route, error) {
	er, err := t.route(r, limit)
	if err == nil {
		err = er.ValidateAll()
	}
	return er, err
}

// addBackend adds the cluster and endpoint assignment of b, from the
// Translator's memory when it has the same object.
func (t *gatewayTranslator) addBackend(b *gatewayapi.Backend) {
	var m *backendMemo
	if t.memo != nil {
		m = t.memo.backends[b.Name]
	}
	if m == nil || m.backend != b {
		m = &backendMemo{backend: b}
		m.cluster, m.clusterErr = cluster(b, t.opts)
		m.cla, m.claErr = ClusterLoadAssignment(b)
		if t.memo != nil {
			t.memo.backends[b.Name] = m
		}
	}
	if m.clusterErr != nil {
		t.fail("Cluster", b.Name, "", m.clusterErr)
	} else {
		t.res.Clusters = append(t.res.Clusters, m.cluster)
	}
	if m.claErr != nil {
		t.fail("ClusterLoadAssignment", b.Name, "", m.claErr)
	} else {
		t.res.Endpoints = append(t.res.Endpoints, m.cla)
	}
}

func sourceString(s gatewayapi.RouteSource) string {
	return fmt.Sprintf("%s %s/%s rule %d match %d", s.Kind, s.Namespace, s.Name, s.Rule, s.Match)
}

// routeName is the Envoy route name: the source, for stats and access logs.
func routeName(s gatewayapi.RouteSource) string {
	b := make([]byte, 0, len(s.Kind)+len(s.Namespace)+len(s.Name)+24)
	for i := 0; i < len(s.Kind); i++ {
		c := s.Kind[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	b = append(append(append(append(b, '/'), s.Namespace...), '/'), s.Name...)
	b = strconv.AppendInt(append(b, "/rule/"...), int64(s.Rule), 10)
	b = strconv.AppendInt(append(b, "/match/"...), int64(s.Match), 10)
	return string(b)
}

// routeLimit is the rate limit of r, translated for listeners: its own,
// or, when the listeners of one HTTP port share a connection manager, its
// listener's, which it then carries explicitly.
func routeLimit(r *gatewayapi.Route, listeners []*gatewayapi.Listener) *gatewayapi.RateLimit {
	limit := r.RateLimit
	if limit == nil && len(listeners) > 1 {
		for _, gl := range listeners {
			if gl.RateLimit != nil && listenerHas(gl, r) {
				limit = gl.RateLimit
			}
		}
	}
	return limit
}

func (t *gatewayTranslator) route(r *gatewayapi.Route, limit *gatewayapi.RateLimit) (*routev3.Route, error) {
	var errs []error
	er := &routev3.Route{Name: routeName(r.Source), Match: routeMatch(r)}
	f := r.Filters
	if f.RequestHeaders != nil {
		er.RequestHeadersToAdd, er.RequestHeadersToRemove = headerOptions(f.RequestHeaders)
	}
	if f.ResponseHeaders != nil {
		er.ResponseHeadersToAdd, er.ResponseHeadersToRemove = headerOptions(f.ResponseHeaders)
	}
	switch a := r.Action; {
	case a.Redirect != nil:
		er.Action = &routev3.Route_Redirect{Redirect: redirect(a.Redirect)}
	case a.Direct != nil:
		er.Action = &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: uint32(a.Direct.Status)}}
	default:
		ra := t.routeAction(r)
		er.Action = &routev3.Route_Route{Route: ra}
	}
	per := map[string]*anypb.Any{}
	if f.CORS != nil {
		per[filterCORS] = mustPackErr(&errs, corsPolicy(f.CORS))
	}
	if limit != nil {
		per[filterLocalRateLimit] = mustPackErr(&errs, localRateLimit(strings.ReplaceAll(limit.Policy, "/", "_"), limit))
	}
	if len(per) > 0 {
		er.TypedPerFilterConfig = per
	}
	return er, errors.Join(errs...)
}

func listenerHas(gl *gatewayapi.Listener, r *gatewayapi.Route) bool {
	for _, vh := range gl.VirtualHosts {
		if slices.Contains(vh.Routes, r) {
			return true
		}
	}
	return false
}

func routeMatch(r *gatewayapi.Route) *routev3.RouteMatch {
	m := &routev3.RouteMatch{}
	switch r.Path.Type {
	case gatewayapi.PathExact:
		m.PathSpecifier = &routev3.RouteMatch_Path{Path: r.Path.Value}
	case gatewayapi.PathRegex:
		m.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: r.Path.Value}}
	default:
		p := strings.TrimRight(r.Path.Value, "/")
		if p == "" {
			m.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/"}
		} else {
			m.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: p}
		}
	}
	if r.Method != "" {
		m.Headers = append(m.Headers, &routev3.HeaderMatcher{Name: ":method",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact(r.Method)}})
	}
	for _, h := range r.Headers {
		hm := &routev3.HeaderMatcher{Name: strings.ToLower(h.Name)}
		if h.Type == gatewayapi.MatchRegex {
			hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: regex(h.Value)}
		} else {
			hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: exact(h.Value)}
		}
		m.Headers = append(m.Headers, hm)
	}
	for _, q := range r.Query {
		qm := &routev3.QueryParameterMatcher{Name: q.Name}
		if q.Type == gatewayapi.MatchRegex {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: regex(q.Value)}
		} else {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: exact(q.Value)}
		}
		m.QueryParameters = append(m.QueryParameters, qm)
	}
	return m
}

func exact(v string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}
}

func regex(v string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: v}}}
}

func headerOptions(h *gatewayapi.HeaderModifier) ([]*corev3.HeaderValueOption, []string) {
	var add []*corev3.HeaderValueOption
	for _, s := range h.Set {
		add = append(add, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: s.Name, Value: s.Value},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
	}
	for _, a := range h.Add {
		add = append(add, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: a.Name, Value: a.Value},
			AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD})
	}
	return add, slices.Clone(h.Remove)
}

func redirect(r *gatewayapi.Redirect) *routev3.RedirectAction {
	ra := &routev3.RedirectAction{HostRedirect: r.Hostname, PortRedirect: uint32(r.Port)}
	if r.Scheme != "" {
		ra.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: r.Scheme}
		if r.Port == 0 {
			// The Gateway API derives the port from the new scheme: its
			// well-known port, which a Location leaves out.
			ra.PortRedirect = map[string]uint32{"http": 80, "https": 443}[r.Scheme]
		}
	}
	switch r.StatusCode {
	case 301:
		ra.ResponseCode = routev3.RedirectAction_MOVED_PERMANENTLY
	case 303:
		ra.ResponseCode = routev3.RedirectAction_SEE_OTHER
	case 307:
		ra.ResponseCode = routev3.RedirectAction_TEMPORARY_REDIRECT
	case 308:
		ra.ResponseCode = routev3.RedirectAction_PERMANENT_REDIRECT
	default:
		ra.ResponseCode = routev3.RedirectAction_FOUND
	}
	if p := r.Path; p != nil {
		switch p.Type {
		case gatewayapi.ReplaceFullPath:
			ra.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: p.Value}
		case gatewayapi.ReplacePrefixMatch:
			if rw := prefixRewrite(p); rw.regex != nil {
				ra.PathRewriteSpecifier = &routev3.RedirectAction_RegexRewrite{RegexRewrite: rw.regex}
			} else {
				ra.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: rw.prefix}
			}
		}
	}
	return ra
}

type rewrite struct {
	prefix string
	regex  *matcherv3.RegexMatchAndSubstitute
}

// prefixRewrite expresses ReplacePrefixMatch with the route's PathPrefix
// match (path_separated_prefix, so the matched prefix ends at a segment
// boundary). Gateway API semantics: the matched prefix P (without a
// trailing slash) is replaced by R: /P/rest becomes R/rest and /P becomes
// R, with R's trailing slash dropped so no // appears; R = / gives /rest
// and /. A prefix_rewrite does exactly that when R is not /; for R = / a
// regex_rewrite of ^P/* to / does.
func prefixRewrite(p *gatewayapi.PathModifier) rewrite {
	prefix := strings.TrimRight(p.Prefix, "/")
	repl := strings.TrimRight(p.Value, "/")
	if repl == "" {
		return rewrite{regex: &matcherv3.RegexMatchAndSubstitute{
			Pattern:      &matcherv3.RegexMatcher{Regex: "^" + regexp.QuoteMeta(prefix) + "/*"},
			Substitution: "/",
		}}
	}
	if prefix == "" {
		// PathPrefix /: every path; R is put in front of it.
		return rewrite{regex: &matcherv3.RegexMatchAndSubstitute{
			Pattern:      &matcherv3.RegexMatcher{Regex: "^/"},
			Substitution: repl + "/",
		}}
	}
	return rewrite{prefix: repl}
}

// routeAction forwards to the route's backends.
func (t *gatewayTranslator) routeAction(r *gatewayapi.Route) *routev3.RouteAction {
	ra := &routev3.RouteAction{ClusterNotFoundResponseCode: routev3.RouteAction_INTERNAL_SERVER_ERROR}
	bs := r.Action.Backends
	plain := len(bs) == 1 && bs[0].Backend != "" && bs[0].RequestHeaders == nil && bs[0].ResponseHeaders == nil
	if plain {
		t.used[bs[0].Backend] = true
		ra.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: bs[0].Backend}
	} else {
		wc := &routev3.WeightedCluster{}
		for _, b := range bs {
			name := b.Backend
			if name == "" {
				name = InvalidCluster
			} else {
				t.used[name] = true
			}
			cw := &routev3.WeightedCluster_ClusterWeight{Name: name, Weight: wrapperspb.UInt32(b.Weight)}
			if b.RequestHeaders != nil {
				cw.RequestHeadersToAdd, cw.RequestHeadersToRemove = headerOptions(b.RequestHeaders)
			}
			if b.ResponseHeaders != nil {
				cw.ResponseHeadersToAdd, cw.ResponseHeadersToRemove = headerOptions(b.ResponseHeaders)
			}
			wc.Clusters = append(wc.Clusters, cw)
		}
		ra.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	if rw := r.Filters.Rewrite; rw != nil {
		if rw.Hostname != "" {
			ra.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: rw.Hostname}
		}
		if p := rw.Path; p != nil {
			switch p.Type {
			case gatewayapi.ReplaceFullPath:
				ra.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
					Pattern: &matcherv3.RegexMatcher{Regex: "^/.*$"}, Substitution: p.Value,
				}
			case gatewayapi.ReplacePrefixMatch:
				if x := prefixRewrite(p); x.regex != nil {
					ra.RegexRewrite = x.regex
				} else {
					ra.PrefixRewrite = x.prefix
				}
			}
		}
	}
	for _, m := range r.Filters.Mirrors {
		t.used[m.Backend] = true
		ra.RequestMirrorPolicies = append(ra.RequestMirrorPolicies, &routev3.RouteAction_RequestMirrorPolicy{
			Cluster: m.Backend,
			RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{
				Numerator:   uint32(int64(m.Numerator) * 1_000_000 / int64(m.Denominator)),
				Denominator: typev3.FractionalPercent_MILLION,
			}},
		})
	}
	if to := r.Timeout; to != nil {
		if to.Request > 0 || to.Backend == 0 {
			ra.Timeout = durationpb.New(to.Request) // 0 disables Envoy's 15 s default
		}
	}
	var perTry time.Duration
	if r.Timeout != nil {
		perTry = r.Timeout.Backend
	}
	switch {
	case r.Retry != nil:
		rp := &routev3.RetryPolicy{
			RetryOn:    "connect-failure,refused-stream,reset",
			NumRetries: wrapperspb.UInt32(uint32(r.Retry.Attempts)),
		}
		if len(r.Retry.Codes) > 0 {
			rp.RetryOn += ",retriable-status-codes"
			for _, c := range r.Retry.Codes {
				rp.RetriableStatusCodes = append(rp.RetriableStatusCodes, uint32(c))
			}
		}
		if r.Retry.Backoff > 0 {
			rp.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(r.Retry.Backoff)}
		}
		if perTry > 0 {
			rp.PerTryTimeout = durationpb.New(perTry)
		}
		ra.RetryPolicy = rp
	case perTry > 0:
		ra.RetryPolicy = &routev3.RetryPolicy{NumRetries: wrapperspb.UInt32(0), PerTryTimeout: durationpb.New(perTry)}
	}
	return ra
}

// corsPolicy maps the route's CORS filter; "*" in an origin matches any
// characters.
func corsPolicy(c *gatewayapi.CORS) *corsv3.CorsPolicy {
	p := &corsv3.CorsPolicy{
		AllowMethods:     strings.Join(c.AllowMethods, ","),
		AllowHeaders:     strings.Join(c.AllowHeaders, ","),
		ExposeHeaders:    strings.Join(c.ExposeHeaders, ","),
		MaxAge:           strconv.Itoa(int(c.MaxAge / time.Second)),
		AllowCredentials: wrapperspb.Bool(c.AllowCredentials),
	}
	for _, o := range c.AllowOrigins {
		if !strings.Contains(o, "*") {
			p.AllowOriginStringMatch = append(p.AllowOriginStringMatch, exact(o))
			continue
		}
		parts := strings.Split(o, "*")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		p.AllowOriginStringMatch = append(p.AllowOriginStringMatch, regex(strings.Join(parts, ".*")))
	}
	return p
}

// cluster is an EDS cluster for a backend.
func cluster(b *gatewayapi.Backend, opts Options) (*clusterv3.Cluster, error) {
	c := &clusterv3.Cluster{
		Name:                 b.Name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource(), ServiceName: b.Name},
		ConnectTimeout:       durationpb.New(opts.ConnectTimeout),
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
	}
	if b.Protocol == gatewayapi.AppH2C {
		po := &httpv3.HttpProtocolOptions{UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
			},
		}}
		a, err := pack(po)
		if err != nil {
			return nil, err
		}
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{upstreamHTTPOptions: a}
	}
	if err := c.ValidateAll(); err != nil {
		return nil, err
	}
	return c, nil
}

// ClusterLoadAssignment is the EDS resource of a backend: its ready
// endpoints grouped by zone, zones in name order. It is what Translate puts
// in Resources.Endpoints, for callers that update endpoints alone.
func ClusterLoadAssignment(b *gatewayapi.Backend) (*endpointv3.ClusterLoadAssignment, error) {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: b.Name}
	byZone := map[string]*endpointv3.LocalityLbEndpoints{}
	var zones []string
	for _, e := range b.Endpoints {
		z := byZone[e.Zone]
		if z == nil {
			// Every locality has an ID (gRPC clients reject one without)
			// and a weight (they skip weight 0): its endpoint count.
			z = &endpointv3.LocalityLbEndpoints{Locality: &corev3.Locality{Zone: e.Zone}}
			byZone[e.Zone] = z
			zones = append(zones, e.Zone)
		}
		z.LbEndpoints = append(z.LbEndpoints, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
			Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address:       e.Addr.Addr().String(),
				PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(e.Addr.Port())},
			}}}},
		}})
	}
	slices.Sort(zones)
	for _, z := range zones {
		l := byZone[z]
		l.LoadBalancingWeight = wrapperspb.UInt32(uint32(len(l.LbEndpoints)))
		cla.Endpoints = append(cla.Endpoints, l)
	}
	if err := cla.ValidateAll(); err != nil {
		return nil, err
	}
	return cla, nil
}
