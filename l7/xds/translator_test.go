package xds_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/gatewaytest"
	"github.com/eniway/eniway/l7/xds"
)

// requireSameTranslation checks that got is what a fresh Translate gives
// for ir.
func requireSameTranslation(t *testing.T, ir *gatewayapi.IR, got map[string]*xds.Resources, gotErr error, what string) {
	t.Helper()
	want, wantErr := xds.Translate(ir, xds.Options{})
	require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(gotErr), "%s: errors", what)
	require.Equal(t, slices.Sorted(keys(want)), slices.Sorted(keys(got)), "%s: Gateways", what)
	for key, w := range want {
		g := got[key]
		for _, pair := range [][2][]proto.Message{
			{msgs(w.Listeners), msgs(g.Listeners)}, {msgs(w.Routes), msgs(g.Routes)},
			{msgs(w.Clusters), msgs(g.Clusters)}, {msgs(w.Endpoints), msgs(g.Endpoints)},
			{msgs(w.Secrets), msgs(g.Secrets)},
		} {
			require.Len(t, pair[1], len(pair[0]), "%s: Gateway %s", what, key)
			for i := range pair[0] {
				if !proto.Equal(pair[0][i], pair[1][i]) {
					t.Fatalf("%s: Gateway %s: resource %d differs:\nwant %v\ngot  %v", what, key, i, pair[0][i], pair[1][i])
				}
			}
		}
	}
}

func keys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func msgs[M proto.Message](l []M) []proto.Message {
	out := make([]proto.Message, len(l))
	for i, m := range l {
		out[i] = m
	}
	return out
}

// TestTranslatorMatchesTranslate translates every test case's IR with one
// Translator, twice each (the second time from memory), and requires what
// Translate gives.
func TestTranslatorMatchesTranslate(t *testing.T) {
	cases, err := gatewaytest.All()
	require.NoError(t, err)
	tr := xds.NewTranslator(xds.Options{})
	for _, c := range cases {
		res, err := gatewayapi.Translate(c.Input, c.Options) // cases of invalid input give an IR and errors
		if res == nil {
			require.NoError(t, err, c.Name)
		}
		for _, pass := range []string{"first", "again"} {
			got, err := tr.Translate(res.IR)
			requireSameTranslation(t, res.IR, got, err, c.Name+" "+pass)
		}
	}
}

// TestTranslatorFollowsChanges makes random changes, as a controller
// hands them over (changed objects replaced, the rest shared), and
// requires after each what Translate gives.
func TestTranslatorFollowsChanges(t *testing.T) {
	res, err := gatewayapi.Translate(gatewaytest.ScaleInput(300), gatewayapi.Options{})
	require.NoError(t, err)
	ir := res.IR
	tr := xds.NewTranslator(xds.Options{})
	got, err := tr.Translate(ir)
	requireSameTranslation(t, ir, got, err, "initial")
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 200 {
		var what string
		switch op := rng.IntN(6); op {
		case 0: // change the header value a route matches
			next, vh := copyVirtualHost(ir, rng)
			i := rng.IntN(len(vh.Routes))
			r := *vh.Routes[i]
			r.Headers = append(slices.Clone(r.Headers), gatewayapi.HeaderMatch{Name: "x-step", Type: gatewayapi.MatchExact, Value: fmt.Sprint(step)})
			vh.Routes[i] = &r
			ir, what = next, "route changed"
		case 1: // remove a route
			next, vh := copyVirtualHost(ir, rng)
			if len(vh.Routes) > 1 {
				vh.Routes = slices.Delete(vh.Routes, 0, 1)
			}
			ir, what = next, "route removed"
		case 2: // move an endpoint
			next := *ir
			next.Backends = slices.Clone(ir.Backends)
			i := rng.IntN(len(next.Backends))
			b := *next.Backends[i]
			b.Endpoints = []gatewayapi.Endpoint{{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(step), 1}), 8080)}}
			next.Backends[i] = &b
			ir, what = &next, "endpoints changed"
		case 3: // a listener gets a rate limit (its routes take it)
			next, l := copyListener(ir, rng)
			l.RateLimit = &gatewayapi.RateLimit{Policy: fmt.Sprintf("ns/step-%d", step), Requests: uint32(step + 1), Interval: time.Second, Burst: uint32(step + 1), Status: 429}
			ir, what = next, "listener limited"
		case 4: // a Gateway goes, and the Translator forgets it
			if len(ir.Gateways) < 3 {
				continue
			}
			next := *ir
			i := rng.IntN(len(ir.Gateways))
			gone := ir.Gateways[i]
			next.Gateways = slices.Delete(slices.Clone(ir.Gateways), i, i+1)
			tr.Forget(gone.Namespace + "/" + gone.Name)
			ir, what = &next, "Gateway removed"
		case 5: // a backend goes: its routes' shares turn invalid
			next := *ir
			i := rng.IntN(len(ir.Backends))
			next.Backends = slices.Delete(slices.Clone(ir.Backends), i, i+1)
			ir, what = &next, "backend removed"
		}
		got, err := tr.Translate(ir)
		requireSameTranslation(t, ir, got, err, fmt.Sprintf("step %d (%s)", step, what))
	}
}

// copyVirtualHost copies ir along the path to a random virtual host with
// routes, and returns the copy and that virtual host.
func copyVirtualHost(ir *gatewayapi.IR, rng *rand.Rand) (*gatewayapi.IR, *gatewayapi.VirtualHost) {
	for {
		next, l := copyListener(ir, rng)
		if len(l.VirtualHosts) == 0 {
			continue
		}
		l.VirtualHosts = slices.Clone(l.VirtualHosts)
		i := rng.IntN(len(l.VirtualHosts))
		vh := *l.VirtualHosts[i]
		if len(vh.Routes) == 0 {
			continue
		}
		vh.Routes = slices.Clone(vh.Routes)
		l.VirtualHosts[i] = &vh
		return next, &vh
	}
}

// copyListener copies ir along the path to a random listener.
func copyListener(ir *gatewayapi.IR, rng *rand.Rand) (*gatewayapi.IR, *gatewayapi.Listener) {
	next := *ir
	next.Gateways = slices.Clone(ir.Gateways)
	gi := rng.IntN(len(next.Gateways))
	g := *next.Gateways[gi]
	next.Gateways[gi] = &g
	g.Ports = slices.Clone(g.Ports)
	pi := rng.IntN(len(g.Ports))
	p := *g.Ports[pi]
	g.Ports[pi] = &p
	p.Listeners = slices.Clone(p.Listeners)
	li := rng.IntN(len(p.Listeners))
	l := *p.Listeners[li]
	p.Listeners[li] = &l
	return &next, &l
}

// TestTranslatorListenerLimit: routes of one HTTP port share a connection
// manager, so a route takes its listener's rate limit itself; a new
// listener object with a limit changes the translation of routes that
// did not change.
func TestTranslatorListenerLimit(t *testing.T) {
	r := &gatewayapi.Route{
		Source: gatewayapi.RouteSource{Kind: gatewayapi.KindHTTPRoute, Namespace: "ns", Name: "r"},
		Path:   gatewayapi.PathMatch{Type: gatewayapi.PathPrefix, Value: "/"},
		Action: gatewayapi.Action{Backends: []*gatewayapi.WeightedBackend{{Backend: "ns/svc:80", Weight: 1}}},
	}
	a := &gatewayapi.Listener{Name: "a", Hostname: "a.example.com", Protocol: gatewayapi.ProtocolHTTP,
		VirtualHosts: []*gatewayapi.VirtualHost{{Hostname: "a.example.com", Routes: []*gatewayapi.Route{r}}}}
	b := &gatewayapi.Listener{Name: "b", Hostname: "b.example.com", Protocol: gatewayapi.ProtocolHTTP,
		VirtualHosts: []*gatewayapi.VirtualHost{{Hostname: "b.example.com"}}}
	ir := &gatewayapi.IR{
		Gateways: []*gatewayapi.Gateway{{Namespace: "ns", Name: "gw", Ports: []*gatewayapi.Port{{Port: 80, Protocol: gatewayapi.ProtocolHTTP,
			Listeners: []*gatewayapi.Listener{a, b}}}}},
		Backends: []*gatewayapi.Backend{{Name: "ns/svc:80", Namespace: "ns", Service: "svc", Port: 80}},
	}
	tr := xds.NewTranslator(xds.Options{})
	got, err := tr.Translate(ir)
	requireSameTranslation(t, ir, got, err, "without a limit")

	limited := *a
	limited.RateLimit = &gatewayapi.RateLimit{Policy: "ns/limit", Requests: 5, Interval: time.Second, Burst: 5, Status: 429}
	next := *ir
	g := *ir.Gateways[0]
	p := *g.Ports[0]
	p.Listeners = []*gatewayapi.Listener{&limited, b}
	g.Ports = []*gatewayapi.Port{&p}
	next.Gateways = []*gatewayapi.Gateway{&g}
	got, err = tr.Translate(&next)
	requireSameTranslation(t, &next, got, err, "with a limit")
	require.NotEmpty(t, got["ns/gw"].Routes[0].VirtualHosts[0].Routes[0].TypedPerFilterConfig, "the route takes its listener's limit")
}
