package gatewayapi

import (
	"iter"
	"net/netip"
	"time"
)

// IR is the routing model the translator produces for every Gateway of the
// controller's classes: what package l7 turns into Envoy resources and what
// its embedded data plane executes. Every slice is sorted, so equal inputs
// give equal (and identically serialized) IRs. An IR is a value: consumers
// must not modify it, and a new translation never changes an old IR.
type IR struct {
	// Gateways in namespace/name order.
	Gateways []*Gateway `json:"gateways,omitempty"`
	// Backends are the Service ports the routes send traffic to, with their
	// ready endpoints, in Name order. A route refers to them by Name, so an
	// endpoint change touches only this list.
	Backends []*Backend `json:"backends,omitempty"`
}

// Gateway is one accepted Gateway: its ports and the Service that exposes it.
type Gateway struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Class is the name of the GatewayClass.
	Class string `json:"class"`
	// Ports in ascending order; each holds the programmed listeners bound to it.
	Ports []*Port `json:"ports,omitempty"`
	// Service is the LoadBalancer Service to create for the Gateway, which
	// the AWS Load Balancer Controller turns into an NLB.
	Service *Service `json:"service"`
}

// Protocol is the protocol of a port or listener.
type Protocol string

// Protocols of listeners this package programs.
const (
	// ProtocolHTTP is plain-text HTTP/1.1 and h2c.
	ProtocolHTTP Protocol = "HTTP"
	// ProtocolHTTPS terminates TLS and serves HTTP/1.1 and HTTP/2.
	ProtocolHTTPS Protocol = "HTTPS"
	// ProtocolTLS passes TLS through, selected by SNI, without terminating it.
	ProtocolTLS Protocol = "TLS"
)

// Port is one TCP port of a Gateway. All its listeners are either HTTP, or
// HTTPS and TLS (told apart by SNI); listeners that cannot share a port are
// Conflicted and never reach the IR.
type Port struct {
	Port int32 `json:"port"`
	// Protocol is HTTP for a plain-text port and HTTPS for a port whose
	// connections start with TLS (HTTPS and TLS listeners).
	Protocol Protocol `json:"protocol"`
	// Listeners in the order requests must be matched to them: exact
	// hostnames, then wildcards with more labels first, then the listener
	// without a hostname; ties by name.
	Listeners []*Listener `json:"listeners"`
}

// Listener is one programmed Gateway listener.
type Listener struct {
	// Name is the listener's name in the Gateway (its sectionName).
	Name string `json:"name"`
	// Hostname is the listener's hostname, exact or "*.suffix"; "" matches
	// every host.
	Hostname string       `json:"hostname,omitempty"`
	Protocol Protocol     `json:"protocol"`
	TLS      *ListenerTLS `json:"tls,omitempty"`
	// VirtualHosts of an HTTP or HTTPS listener, most specific hostname first.
	// Listener isolation is already applied: a hostname a more specific
	// listener on the same port owns never appears here, and every listener
	// with a hostname has a virtual host for it (empty when no route
	// attached, so its requests get 404 instead of reaching a less specific
	// listener's routes).
	VirtualHosts []*VirtualHost `json:"virtualHosts,omitempty"`
	// TLSRoutes of a TLS passthrough listener, most specific SNI first.
	TLSRoutes []*TLSPassthroughRoute `json:"tlsRoutes,omitempty"`
	// RateLimit applies to every request of the listener whose route has
	// no limit of its own.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
}

// ListenerTLS is the TLS configuration of an HTTPS listener.
type ListenerTLS struct {
	// Certificates in certificateRefs order; only valid ones. A client's SNI
	// picks among them; the first is the default.
	Certificates []*Certificate `json:"certificates"`
	// Options are the listener's tls.options, as given.
	Options map[string]string `json:"options,omitempty"`
}

// Certificate is a certificate chain and private key from a
// kubernetes.io/tls Secret.
type Certificate struct {
	// Name is "namespace/name" of the Secret.
	Name string `json:"name"`
	// DNSNames are the names the leaf certificate is valid for.
	DNSNames []string `json:"dnsNames,omitempty"`
	// CertPEM is the chain, leaf first (the Secret's tls.crt).
	CertPEM []byte `json:"-"`
	// KeyPEM is the private key (the Secret's tls.key). It is never
	// serialized.
	KeyPEM []byte `json:"-"`
	// SHA256 is the hex SHA-256 of CertPEM and KeyPEM, so a change of either
	// changes the serialized IR.
	SHA256 string `json:"sha256"`
}

// VirtualHost is the set of routes for one hostname (the intersection of a
// listener's and a route's hostnames).
type VirtualHost struct {
	// Hostname is exact, "*.suffix", or "*" for every host.
	Hostname string `json:"hostname"`
	// Routes in Gateway API precedence order: the first that matches a
	// request handles it; none matching answers 404.
	Routes []*Route `json:"routes,omitempty"`
}

// RouteKind names the Gateway API kind a route came from.
type RouteKind string

// Route kinds.
const (
	KindHTTPRoute RouteKind = "HTTPRoute"
	KindGRPCRoute RouteKind = "GRPCRoute"
	KindTLSRoute  RouteKind = "TLSRoute"
)

// RouteSource identifies the object, rule and match a route came from.
type RouteSource struct {
	Kind      RouteKind `json:"kind"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	// Rule is the index of the rule, RuleName its optional name.
	Rule     int    `json:"rule"`
	RuleName string `json:"ruleName,omitempty"`
	// Match is the index of the match within the rule.
	Match int `json:"match"`
}

// Route is one match of one rule, with everything to do with a request
// it matches.
type Route struct {
	Source RouteSource `json:"source"`
	// Path is always set (a rule without matches matches PathPrefix /).
	Path PathMatch `json:"path"`
	// Method is an HTTP method; "" matches any.
	Method  string        `json:"method,omitempty"`
	Headers []HeaderMatch `json:"headers,omitempty"`
	Query   []QueryMatch  `json:"query,omitempty"`
	Filters Filters       `json:"filters,omitzero"`
	Action  Action        `json:"action"`
	Timeout *Timeouts     `json:"timeouts,omitempty"`
	Retry   *Retry        `json:"retry,omitempty"`
	// RateLimit is the route's own limit; when nil the listener's applies.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	rateLimitOnSection bool
}

// PathMatchType is how a path matches.
type PathMatchType string

// Path match types.
const (
	// PathExact matches the path exactly.
	PathExact PathMatchType = "Exact"
	// PathPrefix matches whole path segments: /foo matches /foo, /foo/ and
	// /foo/bar but not /foobar.
	PathPrefix PathMatchType = "PathPrefix"
	// PathRegex matches an RE2 regular expression against the whole path.
	PathRegex PathMatchType = "RegularExpression"
)

// PathMatch matches the request path.
type PathMatch struct {
	Type  PathMatchType `json:"type"`
	Value string        `json:"value"`
}

// StringMatchType is how a header or query value matches.
type StringMatchType string

// Value match types.
const (
	MatchExact StringMatchType = "Exact"
	MatchRegex StringMatchType = "RegularExpression"
)

// HeaderMatch matches a request header (name compared case-insensitively,
// given in canonical form).
type HeaderMatch struct {
	Name  string          `json:"name"`
	Type  StringMatchType `json:"type"`
	Value string          `json:"value"`
}

// QueryMatch matches a query parameter (name compared exactly).
type QueryMatch struct {
	Name  string          `json:"name"`
	Type  StringMatchType `json:"type"`
	Value string          `json:"value"`
}

// Filters are the request and response changes of a route.
type Filters struct {
	RequestHeaders  *HeaderModifier `json:"requestHeaders,omitempty"`
	ResponseHeaders *HeaderModifier `json:"responseHeaders,omitempty"`
	// Rewrite changes the host or path before forwarding.
	Rewrite *Rewrite `json:"rewrite,omitempty"`
	// Mirrors copy requests to other backends, fire and forget.
	Mirrors []*Mirror `json:"mirrors,omitempty"`
	// CORS answers preflight requests and adds CORS response headers.
	CORS *CORS `json:"cors,omitempty"`
}

// HeaderModifier changes headers. Set replaces, Add appends, Remove deletes;
// they apply in the order Set, Add, Remove.
type HeaderModifier struct {
	Set    []Header `json:"set,omitempty"`
	Add    []Header `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// Header is a header name and value.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// PathModifierType is how a redirect or rewrite changes the path.
type PathModifierType string

// Path modifier types.
const (
	// ReplaceFullPath replaces the whole path.
	ReplaceFullPath PathModifierType = "ReplaceFullPath"
	// ReplacePrefixMatch replaces the prefix the route's PathPrefix match
	// matched (whole segments), keeping the rest.
	ReplacePrefixMatch PathModifierType = "ReplacePrefixMatch"
)

// PathModifier changes the request path.
type PathModifier struct {
	Type PathModifierType `json:"type"`
	// Value is the new path (ReplaceFullPath) or the new prefix
	// (ReplacePrefixMatch).
	Value string `json:"value"`
	// Prefix is the matched prefix ReplacePrefixMatch replaces: the route's
	// PathPrefix value.
	Prefix string `json:"prefix,omitempty"`
}

// Rewrite changes the request before it is forwarded.
type Rewrite struct {
	Hostname string        `json:"hostname,omitempty"`
	Path     *PathModifier `json:"path,omitempty"`
}

// Mirror sends a copy of a share of requests to a backend; its response is
// discarded.
type Mirror struct {
	// Backend is the Name of the entry in IR.Backends.
	Backend string `json:"backend"`
	// Numerator/Denominator is the share of requests mirrored (100/100 when
	// the route gives no percentage).
	Numerator   int32 `json:"numerator"`
	Denominator int32 `json:"denominator"`
}

// CORS is a route's cross-origin resource sharing policy.
type CORS struct {
	// AllowOrigins are exact origins or patterns with "*" wildcards; "*"
	// alone allows every origin.
	AllowOrigins     []string `json:"allowOrigins,omitempty"`
	AllowCredentials bool     `json:"allowCredentials,omitempty"`
	AllowMethods     []string `json:"allowMethods,omitempty"`
	AllowHeaders     []string `json:"allowHeaders,omitempty"`
	ExposeHeaders    []string `json:"exposeHeaders,omitempty"`
	// MaxAge is how long a browser may cache a preflight answer.
	MaxAge time.Duration `json:"maxAge"`
}

// Action is what a route does with a request it matched: exactly one of
// Redirect, Direct and Backends is set.
type Action struct {
	Redirect *Redirect       `json:"redirect,omitempty"`
	Direct   *DirectResponse `json:"direct,omitempty"`
	// Backends share the traffic by weight. Entries are never weight 0.
	Backends []*WeightedBackend `json:"backends,omitempty"`
}

// Redirect answers with a redirect. Empty fields keep the request's value.
type Redirect struct {
	Scheme   string        `json:"scheme,omitempty"`
	Hostname string        `json:"hostname,omitempty"`
	Path     *PathModifier `json:"path,omitempty"`
	// Port is the port of the Location; 0 derives it as the Gateway API
	// specifies (from the scheme when the scheme changes, else the
	// listener's port), and well-known ports are omitted from the Location.
	Port int32 `json:"port,omitempty"`
	// StatusCode is 301, 302, 303, 307 or 308.
	StatusCode int `json:"statusCode"`
}

// DirectResponse answers without forwarding.
type DirectResponse struct {
	// Status is 500 for a rule none of whose backends is valid.
	Status int    `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// WeightedBackend is one backendRef of a rule with weight above 0.
type WeightedBackend struct {
	// Backend is the Name of the entry in IR.Backends; "" when the reference
	// is invalid, in which case this share of traffic gets HTTP 500.
	Backend string `json:"backend,omitempty"`
	Weight  uint32 `json:"weight"`
	// Invalid says why the reference could not be resolved (a ResolvedRefs
	// reason such as BackendNotFound).
	Invalid string `json:"invalid,omitempty"`
	// Filters for requests sent to this backend only.
	RequestHeaders  *HeaderModifier `json:"requestHeaders,omitempty"`
	ResponseHeaders *HeaderModifier `json:"responseHeaders,omitempty"`
}

// Timeouts of a route. Zero means no timeout.
type Timeouts struct {
	// Request bounds the whole request, retries included.
	Request time.Duration `json:"request,omitempty"`
	// Backend bounds each request to a backend.
	Backend time.Duration `json:"backend,omitempty"`
}

// Retry says which failed requests are retried.
type Retry struct {
	// Codes are the HTTP status codes that are retried; connection failures
	// always are.
	Codes []int `json:"codes,omitempty"`
	// Attempts is the maximum number of retries.
	Attempts int `json:"attempts"`
	// Backoff is the base interval between retries.
	Backoff time.Duration `json:"backoff,omitempty"`
}

// TLSPassthroughRoute sends TLS connections whose SNI matches Hostname to
// its backends unterminated.
type TLSPassthroughRoute struct {
	Source   RouteSource        `json:"source"`
	Hostname string             `json:"hostname"`
	Backends []*WeightedBackend `json:"backends,omitempty"`
}

// AppProtocol is what a backend speaks.
type AppProtocol string

// Backend protocols, from the Service port's appProtocol.
const (
	AppHTTP      AppProtocol = "HTTP"
	AppH2C       AppProtocol = "H2C"
	AppWebSocket AppProtocol = "WebSocket"
	AppTLS       AppProtocol = "TLS"
)

// Backend is one Service port with its ready endpoints.
type Backend struct {
	// Name is "namespace/service:port", unique in the IR.
	Name      string      `json:"name"`
	Namespace string      `json:"namespace"`
	Service   string      `json:"service"`
	Port      int32       `json:"port"`
	Protocol  AppProtocol `json:"protocol"`
	// Endpoints are the ready pod addresses, sorted. None means requests
	// get HTTP 503.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
}

// Endpoint is one ready backend address.
type Endpoint struct {
	Addr netip.AddrPort `json:"addr"`
	// Zone and Node come from the EndpointSlice, for locality.
	Zone string `json:"zone,omitempty"`
	Node string `json:"node,omitempty"`
}

// Service is the Service generated for a Gateway.
type Service struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	Type        string            `json:"type"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Ports       []int32           `json:"ports"`
	Selector    map[string]string `json:"selector,omitempty"`
}

// BackendNames yields the name of every backend the Gateway's routes send
// requests to or mirror them to (once per reference, so a name can come
// more than once); invalid references, which have no name, are skipped.
func (g *Gateway) BackendNames() iter.Seq[string] {
	return func(yield func(string) bool) {
		all := func(bs []*WeightedBackend) bool {
			for _, b := range bs {
				if b.Backend != "" && !yield(b.Backend) {
					return false
				}
			}
			return true
		}
		for _, p := range g.Ports {
			for _, l := range p.Listeners {
				for _, vh := range l.VirtualHosts {
					for _, r := range vh.Routes {
						if !all(r.Action.Backends) {
							return
						}
						for _, m := range r.Filters.Mirrors {
							if !yield(m.Backend) {
								return
							}
						}
					}
				}
				for _, r := range l.TLSRoutes {
					if !all(r.Backends) {
						return
					}
				}
			}
		}
	}
}
