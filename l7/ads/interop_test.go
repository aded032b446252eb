package ads_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	xdsgrpc "google.golang.org/grpc/xds"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/l7/ads"
)

// These tests point grpc-go's own xDS client (the xds:/// resolver, its
// LDS/RDS/CDS/EDS watchers and its weighted-target and round-robin
// balancers) at the server, on loopback.

// backend is a gRPC test service that answers with its id.
type backend struct {
	testgrpc.UnimplementedTestServiceServer
	id   string
	addr netip.AddrPort
}

func (b *backend) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{ServerId: b.id}, nil
}

func startBackend(t *testing.T, id string) *backend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &backend{id: id, addr: netip.MustParseAddrPort(lis.Addr().String())}
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, b)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return b
}

const host = "echo.example.com"

// echoIR routes host to the backends by routes.
func echoIR(backends []*backend, routes ...*gatewayapi.Route) *gatewayapi.IR {
	ir := &gatewayapi.IR{Gateways: []*gatewayapi.Gateway{{
		Namespace: "default", Name: "gw", Class: "eniway", Service: &gatewayapi.Service{},
		Ports: []*gatewayapi.Port{{Port: 80, Protocol: gatewayapi.ProtocolHTTP, Listeners: []*gatewayapi.Listener{{
			Name: "http", Protocol: gatewayapi.ProtocolHTTP,
			VirtualHosts: []*gatewayapi.VirtualHost{{Hostname: host, Routes: routes}},
		}}}},
	}}}
	for _, b := range backends {
		ir.Backends = append(ir.Backends, &gatewayapi.Backend{
			Name: "default/" + b.id + ":50051", Namespace: "default", Service: b.id, Port: 50051, Protocol: gatewayapi.AppH2C,
			Endpoints: []gatewayapi.Endpoint{{Addr: b.addr}},
		})
	}
	return ir
}

func split(weights map[string]uint32) gatewayapi.Action {
	var a gatewayapi.Action
	for _, id := range []string{"stable", "canary"} {
		if w, ok := weights[id]; ok {
			a.Backends = append(a.Backends, &gatewayapi.WeightedBackend{Backend: "default/" + id + ":50051", Weight: w})
		}
	}
	return a
}

func prefix(p string) gatewayapi.PathMatch {
	return gatewayapi.PathMatch{Type: gatewayapi.PathPrefix, Value: p}
}

// grpcClient dials xds:///host through a resolver bootstrapped to srv.
func grpcClient(t *testing.T, srv *ads.Server, node string) testgrpc.TestServiceClient {
	t.Helper()
	bootstrap := fmt.Sprintf(`{
		"xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
		"node": {"id": %q}
	}`, srv.Addr().String(), node)
	builder, err := xdsgrpc.NewXDSResolverWithConfigForTesting([]byte(bootstrap))
	require.NoError(t, err)
	conn, err := grpc.NewClient("xds:///"+host, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(builder))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return testgrpc.NewTestServiceClient(conn)
}

func call(t *testing.T, c testgrpc.TestServiceClient, md ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if len(md) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, md...)
	}
	resp, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{}, grpc.WaitForReady(true))
	require.NoError(t, err)
	return resp.ServerId
}

func TestGRPCWeightedSplit(t *testing.T) {
	backends := []*backend{startBackend(t, "stable"), startBackend(t, "canary")}
	f := startServer(t, ads.Options{})
	require.NoError(t, f.srv.Update(t.Context(), echoIR(backends,
		&gatewayapi.Route{Path: prefix("/"), Action: split(map[string]uint32{"stable": 90, "canary": 10})})))
	c := grpcClient(t, f.srv, "split-client")
	const n = 2000
	counts := map[string]int{}
	for range n {
		counts[call(t, c)]++
	}
	// 10% of 2000 is 200 with a standard deviation of 13.4; ±5 sigma.
	require.InDelta(t, 200, counts["canary"], 67, "canary share of %d RPCs: %v", n, counts)
	require.Equal(t, n, counts["stable"]+counts["canary"])
}

func TestGRPCHeaderAndPrefixRouting(t *testing.T) {
	backends := []*backend{startBackend(t, "stable"), startBackend(t, "canary")}
	f := startServer(t, ads.Options{})
	require.NoError(t, f.srv.Update(t.Context(), echoIR(backends,
		// Precedence as gatewayapi orders it: the header match first.
		&gatewayapi.Route{Path: prefix("/"), Headers: []gatewayapi.HeaderMatch{{Name: "X-User-Type", Type: gatewayapi.MatchExact, Value: "beta"}},
			Action: split(map[string]uint32{"canary": 1})},
		&gatewayapi.Route{Path: prefix("/grpc.testing.TestService"), Action: split(map[string]uint32{"stable": 1})},
		&gatewayapi.Route{Path: prefix("/"), Action: split(map[string]uint32{"canary": 1})},
	)))
	c := grpcClient(t, f.srv, "routing-client")
	require.Equal(t, "stable", call(t, c))
	require.Equal(t, "canary", call(t, c, "x-user-type", "beta"))

	// A path prefix is whole segments: /grpc.testing.TestServic does not
	// match /grpc.testing.TestService/UnaryCall, so the catch-all takes it.
	require.NoError(t, f.srv.Update(t.Context(), echoIR(backends,
		&gatewayapi.Route{Path: prefix("/grpc.testing.TestServic"), Action: split(map[string]uint32{"stable": 1})},
		&gatewayapi.Route{Path: prefix("/"), Action: split(map[string]uint32{"canary": 1})},
	)))
	require.Eventually(t, func() bool { return call(t, c) == "canary" }, 10*time.Second, 20*time.Millisecond)
}

// TestGRPCUpdateWhileRPCsFlow switches a route from one backend to
// another while RPCs flow. grpc-go (v1.84) installs the new route table
// before its balancer has a child for a cluster the table names for the
// first time, and fails an RPC picked in that window with "unknown cluster
// selected" (the picker's own status error, so not even a wait-for-ready
// RPC is picked again); no server can close that window. The test allows
// such failures during the switch, no other failure, and none after it.
func TestGRPCUpdateWhileRPCsFlow(t *testing.T) {
	backends := []*backend{startBackend(t, "stable"), startBackend(t, "canary")}
	f := startServer(t, ads.Options{})
	require.NoError(t, f.srv.Update(t.Context(), echoIR(backends,
		&gatewayapi.Route{Path: prefix("/"), Action: split(map[string]uint32{"stable": 1})})))
	c := grpcClient(t, f.srv, "flowing-client")
	require.Equal(t, "stable", call(t, c))

	var mu sync.Mutex
	var calls, raced int
	var others []error
	var last atomic.Value
	flow := func(stop <-chan struct{}, wg *sync.WaitGroup) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{})
			cancel()
			mu.Lock()
			calls++
			switch {
			case err == nil:
				last.Store(resp.ServerId)
			case strings.Contains(err.Error(), "unknown cluster selected for RPC"):
				raced++
			default:
				others = append(others, err)
			}
			mu.Unlock()
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go flow(stop, &wg)
	}
	time.Sleep(100 * time.Millisecond) // let RPCs flow before the change
	require.NoError(t, f.srv.Update(t.Context(), echoIR(backends,
		&gatewayapi.Route{Path: prefix("/"), Action: split(map[string]uint32{"canary": 1})})))
	require.Eventually(t, func() bool { return last.Load() == "canary" }, 10*time.Second, 10*time.Millisecond)
	close(stop)
	wg.Wait()
	mu.Lock()
	t.Logf("%d RPCs during the switch, %d failed in grpc-go's new-cluster window", calls, raced)
	require.Empty(t, others, "RPCs failed for another reason")
	require.Positive(t, calls)
	mu.Unlock()

	// After the switch every RPC goes to the new backend.
	for range 200 {
		require.Equal(t, "canary", call(t, c))
	}
}

func TestGRPCInvalidResourceIsNACKed(t *testing.T) {
	backends := []*backend{startBackend(t, "stable")}
	f := startServer(t, ads.Options{})
	good := echoIR(backends, &gatewayapi.Route{Path: prefix("/"), Action: split(map[string]uint32{"stable": 1})})
	require.NoError(t, f.srv.Update(t.Context(), good))
	c := grpcClient(t, f.srv, "nack-client")
	require.Equal(t, "stable", call(t, c))

	// An IR built by hand, past gatewayapi's validation: \C (any byte) is
	// RE2 syntax that Go's regexp, and so grpc-go, rejects.
	bad := echoIR(backends, &gatewayapi.Route{Path: gatewayapi.PathMatch{Type: gatewayapi.PathRegex, Value: `/\C*`}, Action: split(map[string]uint32{"stable": 1})})
	require.NoError(t, f.srv.Update(t.Context(), bad))
	require.Eventually(t, func() bool { return len(f.srv.NACKs()) > 0 }, 10*time.Second, 10*time.Millisecond)
	n := f.srv.NACKs()[0]
	require.Equal(t, "nack-client", n.Node)
	require.Contains(t, n.TypeURL, "RouteConfiguration")
	t.Logf("grpc-go rejected the routes: %s", n.Error)
	require.Equal(t, 1.0, counter(t, f.reg, "eniway_xds_nacks_total", "RouteConfiguration"))
	// The last accepted configuration stays in force.
	require.Equal(t, "stable", call(t, c))

	require.NoError(t, f.srv.Update(t.Context(), good))
	require.Eventually(t, func() bool { return len(f.srv.NACKs()) == 0 }, 10*time.Second, 10*time.Millisecond)
}
