package gatewayapi

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateIR(t *testing.T) {
	valid := func() *IR {
		return &IR{
			Backends: []*Backend{{Name: "ns/svc:80", Port: 80, Endpoints: []Endpoint{{Addr: netip.MustParseAddrPort("10.0.0.1:8080")}}}},
			Gateways: []*Gateway{{Namespace: "ns", Name: "gw", Service: &Service{}, Ports: []*Port{{
				Port: 80, Protocol: ProtocolHTTP,
				Listeners: []*Listener{{Name: "http", Protocol: ProtocolHTTP, VirtualHosts: []*VirtualHost{{
					Hostname: "*",
					Routes: []*Route{{
						Path:   PathMatch{Type: PathPrefix, Value: "/"},
						Action: Action{Backends: []*WeightedBackend{{Backend: "ns/svc:80", Weight: 1}, {Invalid: "BackendNotFound", Weight: 1}}},
					}},
				}}}},
			}}}},
		}
	}
	require.NoError(t, valid().Validate())
	route := func(ir *IR) *Route { return ir.Gateways[0].Ports[0].Listeners[0].VirtualHosts[0].Routes[0] }
	for _, tc := range []struct {
		name   string
		mutate func(*IR)
		path   string
	}{
		{"two actions", func(ir *IR) { route(ir).Action.Direct = &DirectResponse{Status: 500} }, "routes[0].action"},
		{"unknown backend", func(ir *IR) { route(ir).Action.Backends[0].Backend = "ns/other:80" }, "action.backends[0]"},
		{"weight 0", func(ir *IR) { route(ir).Action.Backends[1].Weight = 0 }, "action.backends[1]"},
		{"bad regex", func(ir *IR) { route(ir).Path = PathMatch{Type: PathRegex, Value: "("} }, "routes[0].path"},
		{"duplicate backend", func(ir *IR) { ir.Backends = append(ir.Backends, ir.Backends[0]) }, "backends[1]"},
		{"HTTPS without certificate", func(ir *IR) {
			ir.Gateways[0].Ports[0].Protocol = ProtocolHTTPS
			ir.Gateways[0].Ports[0].Listeners[0].Protocol = ProtocolHTTPS
		}, "listeners[0]"},
		{"rate limit of nothing", func(ir *IR) { route(ir).RateLimit = &RateLimit{Status: 429} }, "routes[0].rateLimit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ir := valid()
			tc.mutate(ir)
			err := ir.Validate()
			require.ErrorIs(t, err, ErrInvalid)
			var ie *IRError
			require.True(t, errors.As(err, &ie))
			require.Contains(t, ie.Path, tc.path)
		})
	}
}
