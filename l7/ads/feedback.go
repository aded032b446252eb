package ads

import (
	"fmt"
	"slices"
	"strings"

	"github.com/eniway/eniway/l7/xds"
)

// Rejections returns, by Gateway ("namespace/name"), a description of each
// open NACK of its resources: which node rejected which resources, and
// the node's error detail, as in
//
//	node "envoy-1" rejected RouteConfiguration default/gw/port/80: <detail>
//
// A NACK counts for the Gateways its rejected resources belong to (NACK.
// Gateways). It is nil when there is none. Rejections and
// RejectionsChanged satisfy gatewayapi/controller's Feedback, which turns
// a Gateway's Programmed condition False while it has any.
func (s *Server) Rejections() map[string][]string {
	var out map[string][]string
	for _, n := range s.NACKs() {
		msg := describe(n)
		for _, gw := range n.Gateways {
			if out == nil {
				out = map[string][]string{}
			}
			out[gw] = append(out[gw], msg)
		}
	}
	return out
}

// RejectionsChanged returns a channel that is closed when Rejections may
// have changed (a NACK recorded, its detail changed, or a NACK closed).
// Each change closes the channel returned until then: call it again to
// wait for the next one.
func (s *Server) RejectionsChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// notify closes the channel of RejectionsChanged. Must hold s.mu.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// maxNamed is how many resource names a description names.
const maxNamed = 3

func describe(n NACK) string {
	names := n.Rejected
	more := ""
	if len(names) > maxNamed {
		more = fmt.Sprintf(" and %d more", len(names)-maxNamed)
		names = names[:maxNamed]
	}
	what := shortType(n.TypeURL)
	if len(names) > 0 {
		what += " " + strings.Join(names, ", ") + more
	}
	return fmt.Sprintf("node %q rejected %s: %s", n.Node, what, n.Error)
}

// gatewaysOf returns the Gateways ("namespace/name", sorted) that the
// resources of typ named names belong to, for an Envoy node (the
// Gateways' own resources; a cluster and its endpoints belong to every
// Gateway that uses the backend) or for a gRPC client (the projection's
// listener and route configuration of a host belong to the first Gateway
// that serves the host, as xds.TranslateGRPC picks it). Must hold s.mu.
func (m *model) gatewaysOf(typ int, names []string, proxyless bool) []string {
	var out []string
	if !proxyless || typ == typeCluster || typ == typeEndpoint {
		for _, key := range m.keys {
			gm := m.gateways[key]
			for _, name := range names {
				_, own := gm.lists[typ].find(name)
				if own || (proxyless && gm.refs[name]) {
					out = append(out, key)
					break
				}
			}
		}
		return out
	}
	hosts := map[string]bool{}
	for _, name := range names {
		hosts[strings.TrimPrefix(name, xds.GRPCRouteConfigPrefix)] = true
	}
	owner := map[string]string{}
	for _, key := range m.keys {
		g := m.gateways[key].gw
		for _, p := range g.Ports {
			for _, l := range p.Listeners {
				for _, vh := range l.VirtualHosts {
					if _, taken := owner[vh.Hostname]; !taken && hosts[vh.Hostname] {
						owner[vh.Hostname] = key
					}
				}
			}
		}
	}
	for _, key := range owner {
		out = append(out, key)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
