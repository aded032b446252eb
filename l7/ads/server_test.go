package ads_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/gatewaytest"
	"github.com/eniway/eniway/internal/testutils"
	"github.com/eniway/eniway/l7/ads"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(fleetEnv); spec != "" { // the push harness's clients
		if err := runFleet(spec); err != nil {
			fmt.Fprintln(os.Stderr, "clients:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// canaryIR is the guide's canary route translated by gatewayapi.
func canaryIR(t *testing.T) *gatewayapi.IR {
	t.Helper()
	c, err := gatewaytest.Load(gatewaytest.Dir() + "/guide-canary.in.yaml")
	require.NoError(t, err)
	res, err := gatewayapi.Translate(c.Input, c.Options)
	require.NoError(t, err)
	return res.IR
}

type fixture struct {
	srv *ads.Server
	reg *prometheus.Registry
}

func startServer(t *testing.T, opts ads.Options) *fixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Listen = "127.0.0.1:0"
	opts.Registerer = reg
	if os.Getenv("ENIWAY_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := ads.New(opts)
	require.NoError(t, err)
	testutils.Run(t, srv.Start)
	return &fixture{srv: srv, reg: reg}
}

// sotw is a minimal state-of-the-world ADS client.
type sotw struct {
	t      *testing.T
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *corev3.Node
}

func dial(t *testing.T, srv *ads.Server, nodeID string) *sotw {
	t.Helper()
	conn, err := grpc.NewClient(srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	// A deadline, so that a response that never comes fails the test.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(func() {
		cancel()
		require.NoError(t, conn.Close())
	})
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	require.NoError(t, err)
	return &sotw{t: t, stream: stream, node: &corev3.Node{Id: nodeID}}
}

func (c *sotw) send(typeURL, version, nonce string, names []string, nack string) {
	c.t.Helper()
	req := &discoveryv3.DiscoveryRequest{Node: c.node, TypeUrl: typeURL, VersionInfo: version, ResponseNonce: nonce, ResourceNames: names}
	if nack != "" {
		req.ErrorDetail = &status.Status{Code: 3, Message: nack}
	}
	require.NoError(c.t, c.stream.Send(req))
}

func (c *sotw) recv() *discoveryv3.DiscoveryResponse {
	c.t.Helper()
	resp, err := c.stream.Recv()
	require.NoError(c.t, err)
	return resp
}

// ack acknowledges resp, keeping the subscription to names.
func (c *sotw) ack(resp *discoveryv3.DiscoveryResponse, names []string) {
	c.send(resp.TypeUrl, resp.VersionInfo, resp.Nonce, names, "")
}

func TestStateOfTheWorld(t *testing.T) {
	f := startServer(t, ads.Options{})
	ir := canaryIR(t)
	require.NoError(t, f.srv.Update(t.Context(), ir))
	c := dial(t, f.srv, "node-1")

	c.send(resourcev3.ListenerType, "", "", nil, "")
	lds := c.recv()
	require.Equal(t, resourcev3.ListenerType, lds.TypeUrl)
	require.Len(t, lds.Resources, 2)
	var listeners []string
	for _, a := range lds.Resources {
		var l listenerv3.Listener
		require.NoError(t, a.UnmarshalTo(&l))
		listeners = append(listeners, l.Name)
	}
	slices.Sort(listeners) // a response's order is the cache's map order
	require.Equal(t, []string{"default/cilium-gateway/443", "default/cilium-gateway/80"}, listeners)
	c.ack(lds, nil)

	c.send(resourcev3.ClusterType, "", "", nil, "")
	cds := c.recv()
	require.Len(t, cds.Resources, 2)
	c.ack(cds, nil)

	rdsNames := []string{"default/cilium-gateway/listener/https", "default/cilium-gateway/port/80"}
	c.send(resourcev3.RouteType, "", "", rdsNames, "")
	rds := c.recv()
	require.Len(t, rds.Resources, 2)
	c.ack(rds, rdsNames)

	edsNames := []string{"production/api-v2-canary:8080", "production/api-v2-stable:8080"}
	c.send(resourcev3.EndpointType, "", "", edsNames, "")
	eds := c.recv()
	require.Len(t, eds.Resources, 2)
	c.ack(eds, edsNames)

	// A route change (weights 90/10 to 50/50) pushes routes only: the
	// listeners, clusters and endpoints are unchanged and keep their
	// versions.
	ir2 := withWeights(canaryIR(t), 50)
	require.NoError(t, f.srv.Update(t.Context(), ir2))
	next := c.recv()
	require.Equal(t, resourcev3.RouteType, next.TypeUrl, "only routes changed")
	var rc routev3.RouteConfiguration
	require.NoError(t, next.Resources[0].UnmarshalTo(&rc))
	require.Equal(t, uint32(50), rc.VirtualHosts[0].Routes[0].GetRoute().GetWeightedClusters().Clusters[0].Weight.GetValue())
	c.ack(next, rdsNames)

	// An endpoint change, handed over as the controller does (a new IR
	// sharing the unchanged objects), takes the fast path and pushes
	// endpoints only.
	ir3 := canaryIR(t)
	moved := *ir2
	moved.Backends = slices.Clone(ir2.Backends)
	b := *moved.Backends[0]
	b.Endpoints = append(slices.Clone(b.Endpoints), gatewayapi.Endpoint{Addr: mustAddrPort("10.0.3.33:8080")})
	moved.Backends[0] = &b
	require.NoError(t, f.srv.Update(t.Context(), &moved))
	next = c.recv()
	require.Equal(t, resourcev3.EndpointType, next.TypeUrl, "only endpoints changed")
	require.Equal(t, 1.0, counter(t, f.reg, "eniway_xds_translations_total", "endpoints"))
	c.ack(next, edsNames)

	// The same IR modified and handed over again is translated afresh,
	// and still pushes only what changed.
	moved.Backends[0].Endpoints = append(moved.Backends[0].Endpoints, gatewayapi.Endpoint{Addr: mustAddrPort("10.0.3.34:8080")})
	require.NoError(t, f.srv.Update(t.Context(), &moved))
	next = c.recv()
	require.Equal(t, resourcev3.EndpointType, next.TypeUrl, "only endpoints changed")
	require.Equal(t, 1.0, counter(t, f.reg, "eniway_xds_translations_total", "endpoints"))
	c.ack(next, edsNames)

	// A NACK is recorded, with its detail, until a later version is
	// accepted.
	// ir3 changes routes (back to 90/10) and endpoints (the added ones
	// go): two pushes, in either order.
	require.NoError(t, f.srv.Update(t.Context(), ir3))
	pushed := map[string]*discoveryv3.DiscoveryResponse{}
	for range 2 {
		r := c.recv()
		pushed[r.TypeUrl] = r
	}
	require.Contains(t, pushed, resourcev3.EndpointType)
	c.ack(pushed[resourcev3.EndpointType], edsNames)
	next = pushed[resourcev3.RouteType]
	require.NotNil(t, next)
	c.send(resourcev3.RouteType, rds.VersionInfo, next.Nonce, rdsNames, "route default/cilium-gateway/port/80: unknown cluster")
	require.Eventually(t, func() bool { return len(f.srv.NACKs()) == 1 }, 5*time.Second, 10*time.Millisecond)
	n := f.srv.NACKs()[0]
	require.Equal(t, "node-1", n.Node)
	require.Equal(t, resourcev3.RouteType, n.TypeURL)
	require.Contains(t, n.Error, "unknown cluster")
	require.Equal(t, 1.0, counter(t, f.reg, "eniway_xds_nacks_total", "RouteConfiguration"))

	// The next Update brings other routes (70/30); accepting them closes
	// the NACK.
	require.NoError(t, f.srv.Update(t.Context(), withWeights(canaryIR(t), 70, 30)))
	next = c.recv()
	require.Equal(t, resourcev3.RouteType, next.TypeUrl)
	require.NoError(t, next.Resources[0].UnmarshalTo(&rc))
	require.Equal(t, uint32(70), rc.VirtualHosts[0].Routes[0].GetRoute().GetWeightedClusters().Clusters[0].Weight.GetValue())
	c.ack(next, rdsNames)
	require.Eventually(t, func() bool { return len(f.srv.NACKs()) == 0 }, 5*time.Second, 10*time.Millisecond)
}

// withWeights sets the weights of every route's backends, in order.
func withWeights(ir *gatewayapi.IR, weights ...uint32) *gatewayapi.IR {
	for _, g := range ir.Gateways {
		for _, p := range g.Ports {
			for _, l := range p.Listeners {
				for _, vh := range l.VirtualHosts {
					for _, r := range vh.Routes {
						for i, b := range r.Action.Backends {
							b.Weight = weights[i%len(weights)]
						}
					}
				}
			}
		}
	}
	return ir
}

func TestNodeGateways(t *testing.T) {
	ir := canaryIR(t)
	other := *ir.Gateways[0]
	other.Name = "other"
	ir.Gateways = append(ir.Gateways, &other)
	f := startServer(t, ads.Options{Gateways: func(n *corev3.Node) []string {
		if n.Id == "edge-a" {
			return []string{"default/other"}
		}
		return []string{"default/cilium-gateway"}
	}})
	require.NoError(t, f.srv.Update(t.Context(), ir))
	for node, want := range map[string]string{"edge-a": "default/other/80", "edge-b": "default/cilium-gateway/80"} {
		c := dial(t, f.srv, node)
		c.send(resourcev3.ListenerType, "", "", nil, "")
		lds := c.recv()
		var got []string
		for _, a := range lds.Resources {
			var l listenerv3.Listener
			require.NoError(t, a.UnmarshalTo(&l))
			got = append(got, l.Name)
		}
		require.True(t, slices.Contains(got, want), "%s got %v", node, got)
		require.Len(t, got, 2)
	}
}

func TestDelta(t *testing.T) {
	f := startServer(t, ads.Options{})
	require.NoError(t, f.srv.Update(t.Context(), canaryIR(t)))
	conn, err := grpc.NewClient(f.srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	require.NoError(t, err)
	node := &corev3.Node{Id: "delta-node"}
	require.NoError(t, stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType}))
	resp, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, resourcev3.ClusterType, resp.TypeUrl)
	require.Len(t, resp.Resources, 2)
	require.NoError(t, stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.ClusterType, ResponseNonce: resp.Nonce}))

	// Removing the canary backend from the routes removes its cluster:
	// the incremental response names it as removed and sends nothing else.
	ir := canaryIR(t)
	for _, g := range ir.Gateways {
		for _, p := range g.Ports {
			for _, l := range p.Listeners {
				for _, vh := range l.VirtualHosts {
					for _, r := range vh.Routes {
						r.Action.Backends = r.Action.Backends[:1]
					}
				}
			}
		}
	}
	require.NoError(t, f.srv.Update(t.Context(), ir))
	resp, err = stream.Recv()
	require.NoError(t, err)
	require.Empty(t, resp.Resources)
	require.Equal(t, []string{"production/api-v2-canary:8080"}, resp.RemovedResources)
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// counter reads the value of a counter vector's child by its one label.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestMakeBeforeBreak switches a route from one cluster to another for an
// Envoy node and checks the order of what it gets: the new cluster and its
// endpoints first (old routes kept), the new routes once it has accepted
// them, and the old cluster removed only after it has accepted the routes.
func TestMakeBeforeBreak(t *testing.T) {
	only := func(keep string) *gatewayapi.IR {
		ir := canaryIR(t)
		for _, g := range ir.Gateways {
			for _, p := range g.Ports {
				for _, l := range p.Listeners {
					for _, vh := range l.VirtualHosts {
						for _, r := range vh.Routes {
							var bs []*gatewayapi.WeightedBackend
							for _, b := range r.Action.Backends {
								if b.Backend == keep {
									bs = append(bs, b)
								}
							}
							r.Action.Backends = bs
						}
					}
				}
			}
		}
		var backends []*gatewayapi.Backend
		for _, b := range ir.Backends {
			if b.Name == keep {
				backends = append(backends, b)
			}
		}
		ir.Backends = backends
		return ir
	}
	const stable, canary = "production/api-v2-stable:8080", "production/api-v2-canary:8080"
	f := startServer(t, ads.Options{})
	require.NoError(t, f.srv.Update(t.Context(), only(stable)))
	c := dial(t, f.srv, "envoy-1")
	clusterNames := func(resp *discoveryv3.DiscoveryResponse) []string {
		var out []string
		for _, a := range resp.Resources {
			var cl clusterv3.Cluster
			require.NoError(t, a.UnmarshalTo(&cl))
			out = append(out, cl.Name)
		}
		slices.Sort(out)
		return out
	}
	c.send(resourcev3.ListenerType, "", "", nil, "")
	c.ack(c.recv(), nil)
	c.send(resourcev3.ClusterType, "", "", nil, "")
	cds := c.recv()
	require.Equal(t, []string{stable}, clusterNames(cds))
	c.ack(cds, nil)
	rdsNames := []string{"default/cilium-gateway/listener/https", "default/cilium-gateway/port/80"}
	c.send(resourcev3.RouteType, "", "", rdsNames, "")
	c.ack(c.recv(), rdsNames)
	c.send(resourcev3.EndpointType, "", "", []string{stable}, "")
	eds := c.recv()
	c.ack(eds, []string{stable})

	require.NoError(t, f.srv.Update(t.Context(), only(canary)))
	// 1. Clusters first: the new one added, the old one kept; no routes.
	// The endpoints the node asks for did not change: nothing for them.
	cds = c.recv()
	require.Equal(t, resourcev3.ClusterType, cds.TypeUrl, "clusters before routes")
	require.Equal(t, []string{canary, stable}, clusterNames(cds))
	c.ack(cds, nil)
	// The node asks for the new cluster's endpoints, and gets them (the
	// stable ones it has).
	both := []string{canary, stable}
	c.send(resourcev3.EndpointType, eds.VersionInfo, eds.Nonce, both, "")
	eds = c.recv()
	require.Equal(t, resourcev3.EndpointType, eds.TypeUrl)
	require.Len(t, eds.Resources, 1)
	var cla endpointv3.ClusterLoadAssignment
	require.NoError(t, eds.Resources[0].UnmarshalTo(&cla))
	require.Equal(t, canary, cla.ClusterName)
	c.ack(eds, both)
	// 2. Then the routes.
	rds := c.recv()
	require.Equal(t, resourcev3.RouteType, rds.TypeUrl)
	var rc routev3.RouteConfiguration
	require.NoError(t, rds.Resources[0].UnmarshalTo(&rc))
	require.Equal(t, canary, rc.VirtualHosts[0].Routes[0].GetRoute().GetCluster())
	c.ack(rds, rdsNames)
	// 3. The old cluster goes once the routes are accepted (and its
	// endpoints with it: a node drops those of a cluster it no longer has).
	cds = c.recv()
	require.Equal(t, resourcev3.ClusterType, cds.TypeUrl)
	require.Equal(t, []string{canary}, clusterNames(cds))
}

// TestDeltaNodeOnFirstRequest is an incremental client that, like Envoy,
// names its node in the first request of the stream only: its later
// requests (acknowledgements, rejections, subscriptions) still count for
// that node. go-control-plane's incremental server hands them to the
// server's callbacks before it fills the node in.
func TestDeltaNodeOnFirstRequest(t *testing.T) {
	f := startServer(t, ads.Options{})
	require.NoError(t, f.srv.Update(t.Context(), canaryIR(t)))
	conn, err := grpc.NewClient(f.srv.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	require.NoError(t, err)
	recv := func(typeURL string) *discoveryv3.DeltaDiscoveryResponse {
		t.Helper()
		resp, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, typeURL, resp.TypeUrl)
		return resp
	}
	require.NoError(t, stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "envoy-delta"}, TypeUrl: resourcev3.ListenerType}))
	lds := recv(resourcev3.ListenerType)
	require.NoError(t, stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: lds.Nonce}))
	rdsNames := []string{"default/cilium-gateway/listener/https", "default/cilium-gateway/port/80"}
	require.NoError(t, stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: rdsNames}))
	rds := recv(resourcev3.RouteType)
	require.Len(t, rds.Resources, 2)
	require.NoError(t, stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResponseNonce: rds.Nonce}))

	// New weights: the client rejects the routes.
	require.NoError(t, f.srv.Update(t.Context(), withWeights(canaryIR(t), 50)))
	rds = recv(resourcev3.RouteType)
	require.NoError(t, stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResponseNonce: rds.Nonce,
		ErrorDetail: &status.Status{Code: 3, Message: "route default/cilium-gateway/port/80: rejected"}}))
	require.Eventually(t, func() bool { return len(f.srv.NACKs()) == 1 }, 10*time.Second, 10*time.Millisecond)
	n := f.srv.NACKs()[0]
	require.Equal(t, "envoy-delta", n.Node)
	require.Equal(t, resourcev3.RouteType, n.TypeURL)
	require.Equal(t, rdsNames, n.Rejected, "the route configurations the push changed")
	require.Contains(t, n.Error, "rejected")

	// Other weights, accepted: the rejection is over.
	require.NoError(t, f.srv.Update(t.Context(), withWeights(canaryIR(t), 70, 30)))
	rds = recv(resourcev3.RouteType)
	require.NoError(t, stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResponseNonce: rds.Nonce}))
	require.Eventually(t, func() bool { return len(f.srv.NACKs()) == 0 }, 10*time.Second, 10*time.Millisecond)
}

// TestRejections: a node rejects routes of one of two Gateways; the
// rejection counts for that Gateway only, with the node, the resource and
// the detail, and RejectionsChanged tells when it starts and ends.
func TestRejections(t *testing.T) {
	twoGateways := func(otherWeights ...uint32) *gatewayapi.IR {
		ir := canaryIR(t)
		other := withWeights(canaryIR(t), otherWeights...).Gateways[0]
		other.Name = "other"
		ir.Gateways = append(ir.Gateways, other)
		return ir
	}
	f := startServer(t, ads.Options{})
	require.NoError(t, f.srv.Update(t.Context(), twoGateways(90, 10)))
	c := dial(t, f.srv, "envoy-1")
	c.send(resourcev3.ListenerType, "", "", nil, "")
	c.ack(c.recv(), nil)
	c.send(resourcev3.ClusterType, "", "", nil, "")
	c.ack(c.recv(), nil)
	rdsNames := []string{"default/cilium-gateway/listener/https", "default/cilium-gateway/port/80",
		"default/other/listener/https", "default/other/port/80"}
	c.send(resourcev3.RouteType, "", "", rdsNames, "")
	rds := c.recv()
	require.Len(t, rds.Resources, 4)
	c.ack(rds, rdsNames)
	require.Nil(t, f.srv.Rejections())

	changed := f.srv.RejectionsChanged()
	require.NoError(t, f.srv.Update(t.Context(), twoGateways(50)))
	next := c.recv()
	require.Equal(t, resourcev3.RouteType, next.TypeUrl)
	require.Len(t, next.Resources, 2, "the other Gateway's two route configurations changed")
	c.send(resourcev3.RouteType, rds.VersionInfo, next.Nonce, rdsNames, "route default/other/port/80: no cluster")
	waitClosed(t, changed, "RejectionsChanged after the NACK")
	got := f.srv.Rejections()
	require.Equal(t, []string{"default/other"}, slices.Collect(maps.Keys(got)))
	require.Equal(t, []string{`node "envoy-1" rejected RouteConfiguration default/other/listener/https, default/other/port/80: route default/other/port/80: no cluster`},
		got["default/other"])
	require.Equal(t, []string{"default/other"}, f.srv.NACKs()[0].Gateways)

	// Routes the node accepts end it.
	changed = f.srv.RejectionsChanged()
	require.NoError(t, f.srv.Update(t.Context(), twoGateways(70, 30)))
	next = c.recv()
	c.ack(next, rdsNames)
	waitClosed(t, changed, "RejectionsChanged after the ACK")
	require.Nil(t, f.srv.Rejections())
}

// waitClosed waits for ch to close; a failure, not a hang, if it does not.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: not closed", what)
	}
}
