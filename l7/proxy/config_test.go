package proxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/eniway/eniway/l7/proxy"
	"github.com/eniway/eniway/l7/xds"
)

// TestRejectedConfiguration: a resource the data plane cannot execute
// fails the whole Load with a ConfigError naming it and its field, and the
// configuration in force keeps serving.
func TestRejectedConfiguration(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	good, err := xds.Translate(g.ir, xds.Options{})
	require.NoError(t, err)
	routes := func(r *xds.Resources) *routev3.RouteConfiguration {
		for _, rc := range r.Routes {
			if rc.Name == "default/gw/port/80" {
				return rc
			}
		}
		t.Fatal("no route configuration for port 80")
		return nil
	}
	for _, tc := range []struct {
		name   string
		mutate func(*xds.Resources)
		typ    string
		field  string
		is     error
	}{{
		name: "regex Go cannot compile",
		mutate: func(r *xds.Resources) {
			routes(r).VirtualHosts[0].Routes[0].Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{
				SafeRegex: &matcherv3.RegexMatcher{Regex: `/\C`}}
		},
		typ: resourcev3.RouteType, field: "virtual_hosts[0].routes[0].match.safe_regex.regex", is: proxy.ErrInvalid,
	}, {
		name: "unimplemented route field",
		mutate: func(r *xds.Resources) {
			a := routes(r).VirtualHosts[0].Routes[0].GetRoute()
			a.HashPolicy = []*routev3.RouteAction_HashPolicy{{}}
		},
		typ: resourcev3.RouteType, field: "virtual_hosts[0].routes[0].route.hash_policy", is: proxy.ErrUnsupported,
	}, {
		name: "unimplemented HTTP filter",
		mutate: func(r *xds.Resources) {
			var l *listenerv3.Listener
			for _, x := range r.Listeners {
				if x.Name == "default/gw/80" {
					l = x
				}
			}
			h := &hcmv3.HttpConnectionManager{}
			require.NoError(t, l.FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(h))
			h.HttpFilters = append([]*hcmv3.HttpFilter{{Name: "envoy.filters.http.ext_authz"}}, h.HttpFilters...)
			a, err := anypb.New(h)
			require.NoError(t, err)
			l.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
		},
		typ: resourcev3.ListenerType, field: "filter_chains[0].filters[0].typed_config.http_filters[0]", is: proxy.ErrUnsupported,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			bad := &xds.Resources{}
			for _, l := range good["default/gw"].Listeners {
				bad.Listeners = append(bad.Listeners, proto.Clone(l).(*listenerv3.Listener))
			}
			for _, rc := range good["default/gw"].Routes {
				bad.Routes = append(bad.Routes, proto.Clone(rc).(*routev3.RouteConfiguration))
			}
			bad.Clusters, bad.Endpoints, bad.Secrets = good["default/gw"].Clusters, good["default/gw"].Endpoints, good["default/gw"].Secrets
			tc.mutate(bad)
			err := g.p.Load(bad)
			require.ErrorIs(t, err, tc.is)
			var ce *proxy.ConfigError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.typ, ce.Type)
			require.Equal(t, tc.field, ce.Field)
			_, e := g.do(t, newRequest(t, "GET", "app.test", "/exact"))
			require.NotNil(t, e, "the configuration in force still serves")
			require.Equal(t, "canary", e.Backend)
		})
	}
}

// TestBindFailure: a listener whose address is taken rejects the update,
// and nothing of it is applied.
func TestBindFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	g := startGateway(t, proxy.Options{})
	p, err := proxy.New(proxy.Options{Bind: func(name string, a netip.AddrPort) netip.AddrPort {
		if name == "default/gw/443" {
			return taken.Addr().(*net.TCPAddr).AddrPort()
		}
		return netip.MustParseAddrPort("127.0.0.1:0")
	}})
	require.NoError(t, err)
	all, err := xds.Translate(g.ir, xds.Options{})
	require.NoError(t, err)
	err = p.Load(all["default/gw"])
	require.ErrorIs(t, err, proxy.ErrBind)
	var ce *proxy.ConfigError
	require.True(t, errors.As(err, &ce))
	require.Equal(t, "default/gw/443", ce.Name)
	require.Nil(t, p.ListenerAddr("default/gw/80"), "the other listener was not kept either")
	require.Empty(t, p.Version(resourcev3.ListenerType))
}

// TestListenerUpdate: a changed Listener keeps its socket, and an open
// keep-alive connection follows the new configuration from its next
// request.
func TestListenerUpdate(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	good, err := xds.Translate(g.ir, xds.Options{})
	require.NoError(t, err)
	addr := g.addr(t, 80)
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	get := func() string {
		req, _ := http.NewRequest("GET", "http://"+addr+"/exact", nil)
		req.Host = "app.test"
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var e echo
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
		return e.Backend
	}
	var conns atomic.Int32
	c.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
		conns.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}
	require.Equal(t, "canary", get())

	// The port's connection manager now reads a route configuration of
	// another name, in which /exact goes to app.
	next := &xds.Resources{Clusters: good["default/gw"].Clusters, Endpoints: good["default/gw"].Endpoints, Secrets: good["default/gw"].Secrets}
	for _, l := range good["default/gw"].Listeners {
		l = proto.Clone(l).(*listenerv3.Listener)
		if l.Name == "default/gw/80" {
			h := &hcmv3.HttpConnectionManager{}
			require.NoError(t, l.FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(h))
			h.GetRds().RouteConfigName = "renamed"
			a, err := anypb.New(h)
			require.NoError(t, err)
			l.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
		}
		next.Listeners = append(next.Listeners, l)
	}
	for _, rc := range good["default/gw"].Routes {
		rc = proto.Clone(rc).(*routev3.RouteConfiguration)
		if rc.Name == "default/gw/port/80" {
			rc.Name = "renamed"
			for _, r := range rc.VirtualHosts[0].Routes {
				if r.GetMatch().GetPath() == "/exact" {
					r.GetRoute().ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: "default/app:80"}
				}
			}
		}
		next.Routes = append(next.Routes, rc)
	}
	require.NoError(t, g.p.Load(next))
	require.Equal(t, addr, g.addr(t, 80), "the socket is kept")
	require.Equal(t, "app", get())
	require.EqualValues(t, 1, conns.Load(), "on the same connection")
}
