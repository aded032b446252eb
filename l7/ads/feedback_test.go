package ads

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/gatewaytest"
)

// TestGatewaysOf attributes resources to Gateways: a Gateway's own
// listeners and route configurations, the clusters and endpoints of the
// backends it uses (shared ones to each user), and the gRPC projection's
// listeners and route configurations to the first Gateway of their host.
func TestGatewaysOf(t *testing.T) {
	c, err := gatewaytest.Load(gatewaytest.Dir() + "/guide-canary.in.yaml")
	require.NoError(t, err)
	res, err := gatewayapi.Translate(c.Input, c.Options)
	require.NoError(t, err)
	ir := res.IR
	// A second Gateway with the same routes (and so the same backends
	// and hosts), and a third without routes.
	for _, name := range []string{"second", "third"} {
		g := *ir.Gateways[0]
		g.Name = name
		if name == "third" {
			g.Ports = nil
		}
		ir.Gateways = append(ir.Gateways, &g)
	}
	s := testServer()
	_, err = s.model.update(ir)
	require.NoError(t, err)
	const first, second = "default/cilium-gateway", "default/second"
	host := ir.Gateways[0].Ports[0].Listeners[0].VirtualHosts[0].Hostname
	for _, tc := range []struct {
		name      string
		typ       int
		names     []string
		proxyless bool
		want      []string
	}{
		{"own route configuration", typeRoute, []string{"default/second/port/80"}, false, []string{second}},
		{"own listener", typeListener, []string{"default/cilium-gateway/80"}, false, []string{first}},
		{"shared cluster", typeCluster, []string{"production/api-v2-canary:8080"}, false, []string{first, second}},
		{"shared endpoints", typeEndpoint, []string{"production/api-v2-stable:8080"}, false, []string{first, second}},
		{"unknown", typeRoute, []string{"default/none/port/80"}, false, nil},
		{"gRPC host: the first Gateway", typeListener, []string{host}, true, []string{first}},
		{"gRPC route configuration", typeRoute, []string{"grpc/" + host}, true, []string{first}},
		{"gRPC cluster", typeCluster, []string{"production/api-v2-canary:8080"}, true, []string{first, second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, s.model.gatewaysOf(tc.typ, tc.names, tc.proxyless))
		})
	}
}

func TestDescribe(t *testing.T) {
	n := NACK{Node: "envoy-1", TypeURL: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
		Rejected: []string{"a", "b", "c", "d", "e"}, Error: "invalid regex"}
	require.Equal(t, `node "envoy-1" rejected RouteConfiguration a, b, c and 2 more: invalid regex`, describe(n))
	n.Rejected = nil
	require.Equal(t, `node "envoy-1" rejected RouteConfiguration: invalid regex`, describe(n))
}
