package proxy_test

import (
	"net/http"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/testutils"
	"github.com/eniway/eniway/l7/ads"
	"github.com/eniway/eniway/l7/proxy"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// adsGateway is the semantics Gateway served by a proxy that gets its
// configuration from an ads.Server.
func adsGateway(t *testing.T) (*gateway, *ads.Server) {
	t.Helper()
	srv, err := ads.New(ads.Options{Listen: "127.0.0.1:0"})
	require.NoError(t, err)
	testutils.Run(t, srv.Start)
	g := startGateway(t, proxy.Options{Server: srv.Addr().String(), Node: &corev3.Node{Id: "node-1"}})
	require.NoError(t, srv.Update(t.Context(), g.ir))
	return g, srv
}

// eventually polls a request until check accepts its response.
func (g *gateway) eventually(t *testing.T, uri string, check func(*http.Response, *echo) bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		a := g.p.ListenerAddr("default/gw/80")
		if a == nil {
			return false
		}
		req := newRequest(t, "GET", "app.test", uri)
		req.URL.Host = a.String()
		resp, e := g.do(t, req)
		return check(resp, e)
	}, 10*time.Second, 5*time.Millisecond)
}

func TestADS(t *testing.T) {
	g, srv := adsGateway(t)
	backendIs := func(name string) func(*http.Response, *echo) bool {
		return func(_ *http.Response, e *echo) bool { return e != nil && e.Backend == name }
	}
	g.eventually(t, "/exact", backendIs("canary"))
	require.NotEmpty(t, g.p.Version(resourcev3.RouteType))

	t.Run("endpoint change", func(t *testing.T) {
		for _, b := range g.ir.Backends {
			if b.Service == "canary" {
				b.Endpoints = []gatewayapi.Endpoint{{Addr: g.backends["app"].addr}}
			}
		}
		require.NoError(t, srv.Update(t.Context(), g.ir))
		g.eventually(t, "/exact", backendIs("app"))
	})

	t.Run("route change", func(t *testing.T) {
		eachRoute(g.ir, func(r *gatewayapi.Route) {
			if r.Path.Value == "/exact" {
				r.Path.Value = "/precise"
			}
		})
		require.NoError(t, srv.Update(t.Context(), g.ir))
		g.eventually(t, "/precise", backendIs("app"))
		_, e := g.do(t, newRequest(t, "GET", "app.test", "/exact"))
		require.Equal(t, "app", e.Backend, "/exact falls to the / route")
	})

	t.Run("rejected routes are NACKed and the routes in force stay", func(t *testing.T) {
		eachRoute(g.ir, func(r *gatewayapi.Route) {
			if r.Path.Type == gatewayapi.PathRegex {
				r.Path.Value = `/regex/\C` // RE2 accepts \C; Go does not
			}
		})
		require.NoError(t, srv.Update(t.Context(), g.ir))
		require.Eventually(t, func() bool {
			for _, n := range srv.NACKs() {
				if n.Node == "node-1" && n.TypeURL == resourcev3.RouteType {
					return true
				}
			}
			return false
		}, 10*time.Second, 5*time.Millisecond)
		for len(g.logs) > 0 {
			<-g.logs
		}
		resp, _ := g.do(t, newRequest(t, "GET", "app.test", "/regex/7"))
		require.Equal(t, 200, resp.StatusCode)
		l := <-g.logs
		require.Equal(t, "/regex/7", l.Path)
		require.Equal(t, "default/canary:80", l.Cluster, "the accepted regex route still serves")
	})
}

// eachRoute calls f with every route of the IR.
func eachRoute(ir *gatewayapi.IR, f func(*gatewayapi.Route)) {
	for _, gw := range ir.Gateways {
		for _, p := range gw.Ports {
			for _, l := range p.Listeners {
				for _, vh := range l.VirtualHosts {
					for _, r := range vh.Routes {
						f(r)
					}
				}
			}
		}
	}
}
