package xds

import (
	"errors"

	"regexp"
	"slices"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/eniway/eniway/gatewayapi"
)

// GRPCRouteConfigPrefix prefixes the RouteConfiguration names of the gRPC
// projection.
const GRPCRouteConfigPrefix = "grpc/"

// TranslateGRPC is the projection of ir for proxyless gRPC clients
// (grpc-go's xds resolver and its peers in other languages): a client
// dialing xds:///<host> asks for the Listener named <host>, so every exact
// hostname of a virtual host becomes an api_listener Listener with that
// name, whose HTTP connection manager reads the RouteConfiguration
// grpc/<host> over RDS, plus the clusters and endpoint assignments its
// routes use (shared with the Envoy resources, same names).
//
// gRPC clients support a subset of Envoy's route API, and reject a
// RouteConfiguration with path_separated_prefix, so the projection differs
// from Translate: PathPrefix P is the regular expression P(/.*)? (a plain
// prefix for /); only routes that forward are kept (redirects and direct
// responses have no meaning for an RPC), as are the routes that match POST
// or any method; header modifiers, rewrites, mirrors, CORS and rate limits
// are left out; the only HTTP filter is the router. Wildcard hostnames have
// no projection (a target names one host). When several Gateways serve one
// hostname, the first in namespace/name order wins.
func TranslateGRPC(ir *gatewayapi.IR, opts Options) (*Resources, error) {
	opts = opts.withDefaults()
	backends := map[string]*gatewayapi.Backend{}
	for _, b := range ir.Backends {
		backends[b.Name] = b
	}
	t := &gatewayTranslator{opts: opts, key: "grpc", backends: backends, used: map[string]bool{}}
	t.res = &Resources{}
	seen := map[string]bool{}
	for _, g := range ir.Gateways {
		for _, p := range g.Ports {
			for _, l := range p.Listeners {
				for _, vh := range l.VirtualHosts {
					if strings.Contains(vh.Hostname, "*") || seen[vh.Hostname] {
						continue
					}
					seen[vh.Hostname] = true
					t.grpcHost(vh)
				}
			}
		}
	}
	for _, name := range slices.Sorted(mapsKeys(t.used)) {
		b := backends[name]
		if b == nil {
			continue
		}
		t.addBackend(b)
	}
	sortResources(t.res)
	return t.res, errors.Join(t.errs...)
}

func (t *gatewayTranslator) grpcHost(vh *gatewayapi.VirtualHost) {
	rcName := GRPCRouteConfigPrefix + vh.Hostname
	v := &routev3.VirtualHost{Name: vh.Hostname, Domains: []string{vh.Hostname}}
	for _, r := range vh.Routes {
		if len(r.Action.Backends) == 0 || (r.Method != "" && r.Method != "POST") {
			continue
		}
		m := grpcMatch(r)
		ra := &routev3.RouteAction{}
		wc := &routev3.WeightedCluster{}
		for _, b := range r.Action.Backends {
			name := b.Backend
			if name == "" {
				name = InvalidCluster
			} else {
				t.used[name] = true
			}
			wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: name, Weight: wrapperspb.UInt32(b.Weight)})
		}
		if len(wc.Clusters) == 1 {
			ra.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: wc.Clusters[0].Name}
		} else {
			ra.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
		}
		v.Routes = append(v.Routes, &routev3.Route{Name: routeName(r.Source), Match: m, Action: &routev3.Route_Route{Route: ra}})
	}
	rc := &routev3.RouteConfiguration{Name: rcName, VirtualHosts: []*routev3.VirtualHost{v}}
	if err := rc.ValidateAll(); err != nil {
		t.fail("RouteConfiguration", rcName, "", err)
		return
	}
	var errs []error
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:     "grpc",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: rcName, ConfigSource: adsSource()}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: filterRouter,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustPackErr(&errs, &routerv3.Router{})}}},
	}
	l := &listenerv3.Listener{Name: vh.Hostname, ApiListener: &listenerv3.ApiListener{ApiListener: mustPackErr(&errs, hcm)}}
	if err := errors.Join(append(errs, l.ValidateAll())...); err != nil {
		t.fail("Listener", vh.Hostname, "", err)
		return
	}
	t.res.Routes = append(t.res.Routes, rc)
	t.res.Listeners = append(t.res.Listeners, l)
}

// grpcMatch is routeMatch without path_separated_prefix or method.
func grpcMatch(r *gatewayapi.Route) *routev3.RouteMatch {
	m := routeMatch(r)
	if p, ok := m.PathSpecifier.(*routev3.RouteMatch_PathSeparatedPrefix); ok {
		m.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{
			Regex: regexp.QuoteMeta(p.PathSeparatedPrefix) + "(/.*)?",
		}}
	}
	m.Headers = slices.DeleteFunc(m.Headers, func(h *routev3.HeaderMatcher) bool { return h.Name == ":method" })
	return m
}
