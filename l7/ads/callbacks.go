package ads

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// NACK is a rejected push: the node kept its last accepted configuration
// of that type.
type NACK struct {
	// Node is the node ID, TypeURL the resource type.
	Node    string
	TypeURL string
	// Resources are the names the node asked for (empty for wildcard
	// types such as listeners and clusters).
	Resources []string
	// Version is the last version the node accepted ("" for none).
	Version string
	// Error is the node's error detail.
	Error string
	// At is when the NACK arrived.
	At time.Time
}

type nackKey struct{ node, typeURL string }

// NACKs returns the open NACKs, by node and type: a NACK is closed when
// the node accepts a later version of that type.
func (s *Server) NACKs() []NACK {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NACK, 0, len(s.nacks))
	for _, n := range s.nacks {
		n.Resources = slices.Clone(n.Resources)
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Node != out[j].Node {
			return out[i].Node < out[j].Node
		}
		return out[i].TypeURL < out[j].TypeURL
	})
	return out
}

func shortType(typeURL string) string {
	return typeURL[strings.LastIndex(typeURL, ".")+1:]
}

// request handles an (incremental or state of the world) request: it
// registers the node and records ACKs and NACKs.
func (s *Server) request(streamID int64, node *corev3.Node, typeURL, version string, names []string, detail string, nack bool) {
	s.nodeSeen(node)
	if node == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[streamID] = node.Id
	key := nackKey{node.Id, typeURL}
	if nack {
		s.nacks[key] = NACK{Node: node.Id, TypeURL: typeURL, Resources: slices.Clone(names), Version: version, Error: detail, At: time.Now()}
		s.metrics.nacks.WithLabelValues(shortType(typeURL)).Inc()
		s.log.Warn("configuration rejected", "node", node.Id, "type", shortType(typeURL), "accepted_version", version, "error", detail)
		return
	}
	if n := s.nodes[node.Id]; n != nil && version != "" && version == n.versions[typeURL] {
		delete(s.nacks, key)
	}
}

// response records a push and its latency from the Update that caused it.
func (s *Server) response(streamID int64, typeURL, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metrics.pushes.WithLabelValues(shortType(typeURL)).Inc()
	n := s.nodes[s.streams[streamID]]
	if n == nil {
		return
	}
	if at, ok := n.setAt[typeURL]; ok && (version == "" || version == n.versions[typeURL]) {
		s.metrics.latency.WithLabelValues(shortType(typeURL)).Observe(time.Since(at).Seconds())
		delete(n.setAt, typeURL)
	}
}

func (s *Server) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamOpenFunc: func(context.Context, int64, string) error {
			s.metrics.streams.Inc()
			return nil
		},
		StreamClosedFunc: func(id int64, _ *corev3.Node) { s.closed(id) },
		DeltaStreamOpenFunc: func(context.Context, int64, string) error {
			s.metrics.streams.Inc()
			return nil
		},
		DeltaStreamClosedFunc: func(id int64, _ *corev3.Node) { s.closed(id) },
		StreamRequestFunc: func(id int64, req *discoveryv3.DiscoveryRequest) error {
			detail := ""
			if req.ErrorDetail != nil {
				detail = req.ErrorDetail.Message
			}
			s.request(id, req.Node, req.TypeUrl, req.VersionInfo, req.ResourceNames, detail, req.ErrorDetail != nil)
			return nil
		},
		StreamResponseFunc: func(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
			s.response(id, resp.TypeUrl, resp.VersionInfo)
		},
		StreamDeltaRequestFunc: func(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			detail := ""
			if req.ErrorDetail != nil {
				detail = req.ErrorDetail.Message
			}
			// An incremental request carries no version; an ACK closes the
			// type's NACK once the node has the current resources.
			s.request(id, req.Node, req.TypeUrl, s.currentVersion(req.Node, req.TypeUrl, req.ErrorDetail != nil), req.ResourceNamesSubscribe, detail, req.ErrorDetail != nil)
			return nil
		},
		StreamDeltaResponseFunc: func(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
			s.response(id, resp.TypeUrl, "")
		},
	}
}

// currentVersion is the version an incremental ACK acknowledges: the
// node's current one ("" for a NACK).
func (s *Server) currentVersion(node *corev3.Node, typeURL string, nack bool) string {
	if nack || node == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nodes[node.Id]; n != nil {
		return n.versions[typeURL]
	}
	return ""
}

func (s *Server) closed(id int64) {
	s.metrics.streams.Dec()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams, id)
}
