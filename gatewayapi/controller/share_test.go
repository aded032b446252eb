package controller

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/gatewaytest"
)

// scaleIR is a fresh translation (every object new) of the scale input.
func scaleIR(t *testing.T, edit func(*gatewayapi.Input)) *gatewayapi.IR {
	t.Helper()
	in := gatewaytest.ScaleInput(20)
	if edit != nil {
		edit(in)
	}
	res, err := gatewayapi.Translate(in, gatewayapi.Options{})
	require.NoError(t, err)
	return res.IR
}

func TestShare(t *testing.T) {
	first, last, changed, err := share(nil, scaleIR(t, nil))
	require.NoError(t, err)
	require.True(t, changed)

	t.Run("the same again", func(t *testing.T) {
		ir, next, changed, err := share(last, scaleIR(t, nil))
		require.NoError(t, err)
		require.False(t, changed)
		require.Same(t, first, ir)
		require.Same(t, last, next)
	})

	t.Run("one route", func(t *testing.T) {
		ir, _, changed, err := share(last, scaleIR(t, func(in *gatewayapi.Input) {
			in.HTTPRoutes[3].Spec.Rules[1].Matches[0].Headers[0].Value = "gamma"
		}))
		require.NoError(t, err)
		require.True(t, changed)
		kept := 0
		for i, g := range ir.Gateways {
			if g == first.Gateways[i] {
				kept++
			}
		}
		require.Equal(t, len(ir.Gateways)-1, kept, "the route's Gateway is new, the others are the last IR's")
		// In the new Gateway, the routes but the changed one's are the
		// last IR's objects.
		old := map[*gatewayapi.Route]bool{}
		for _, g := range first.Gateways {
			walkRoutes(g, func(r *gatewayapi.Route) { old[r] = true })
		}
		reused, fresh := 0, map[string]bool{}
		for i, g := range ir.Gateways {
			if g == first.Gateways[i] {
				continue
			}
			walkRoutes(g, func(r *gatewayapi.Route) {
				if old[r] {
					reused++
				} else {
					fresh[r.Source.Name] = true
				}
			})
		}
		require.Equal(t, map[string]bool{"route-3": true}, fresh, "routes that are new objects")
		require.Positive(t, reused)
		require.Same(t, &first.Backends[0], &ir.Backends[0], "the Backends slice is the last IR's")
	})

	t.Run("one endpoint", func(t *testing.T) {
		ir := scaleIR(t, nil)
		ir.Backends[5].Endpoints[0].Addr = netip.MustParseAddrPort("10.9.9.9:8080")
		out, _, changed, err := share(last, ir)
		require.NoError(t, err)
		require.True(t, changed)
		for i, g := range out.Gateways {
			require.Same(t, first.Gateways[i], g)
		}
		for i, b := range out.Backends {
			if i == 5 {
				require.NotSame(t, first.Backends[i], b)
				require.Equal(t, "10.9.9.9:8080", b.Endpoints[0].Addr.String())
				continue
			}
			require.Same(t, first.Backends[i], b)
		}
	})

	t.Run("a Gateway gone", func(t *testing.T) {
		ir := scaleIR(t, nil)
		ir.Gateways = ir.Gateways[1:]
		out, _, changed, err := share(last, ir)
		require.NoError(t, err)
		require.True(t, changed)
		require.Len(t, out.Gateways, len(first.Gateways)-1)
	})
}

func walkRoutes(g *gatewayapi.Gateway, f func(*gatewayapi.Route)) {
	for _, p := range g.Ports {
		for _, l := range p.Listeners {
			for _, vh := range l.VirtualHosts {
				for _, r := range vh.Routes {
					f(r)
				}
			}
		}
	}
}

// TestShareRouteMoved: a route that moves to another virtual host of its
// Gateway, unchanged itself, changes the Gateway.
func TestShareRouteMoved(t *testing.T) {
	first, last, _, err := share(nil, scaleIR(t, nil))
	require.NoError(t, err)
	ir := scaleIR(t, nil)
	var l *gatewayapi.Listener
	for _, g := range ir.Gateways {
		for _, p := range g.Ports {
			for _, pl := range p.Listeners {
				if len(pl.VirtualHosts) > 1 && len(pl.VirtualHosts[0].Routes) > 1 {
					l = pl
				}
			}
		}
	}
	require.NotNil(t, l, "a listener with two virtual hosts")
	a, b := l.VirtualHosts[0], l.VirtualHosts[1]
	b.Routes = append([]*gatewayapi.Route{a.Routes[len(a.Routes)-1]}, b.Routes...)
	a.Routes = a.Routes[:len(a.Routes)-1]
	out, _, changed, err := share(last, ir)
	require.NoError(t, err)
	require.True(t, changed)
	require.NotEqual(t, first, out)
}
