package ads

import (
	"context"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
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
func (s *Server) request(streamID int64, node *corev3.Node, typeURL, version, nonce string, names []string, detail string, nack bool) {
	s.nodeSeen(node)
	if node == nil {
		return
	}
	s.mu.Lock()
	defer func() {
		q := s.takeQueue()
		s.mu.Unlock()
		if len(q) > 0 {
			// Not here: this goroutine serves the node's stream, which
			// setting its snapshot may wait for.
			go func() {
				if err := s.flush(context.Background(), q); err != nil {
					s.log.Warn("cannot set a snapshot", "node", node.Id, "error", err)
				}
			}()
		}
	}()
	s.streams[streamID] = node.Id
	key := nackKey{node.Id, typeURL}
	n := s.nodes[node.Id]
	if n != nil {
		n.subscribed[typeURL] = true
	}
	if nack {
		if _, open := s.nacks[key]; !open {
			s.metrics.nacks.WithLabelValues(shortType(typeURL)).Inc()
			s.log.Warn("configuration rejected", "node", node.Id, "type", shortType(typeURL), "accepted_version", version, "error", detail)
		}
		s.nacks[key] = NACK{Node: node.Id, TypeURL: typeURL, Resources: slices.Clone(names), Version: version, Error: detail, At: time.Now()}
		s.revert(n, typeURL)
		return
	}
	if n != nil && nonce != "" {
		if delivered, ok := n.sent[nonce]; ok {
			delete(n.sent, nonce)
			if !nack {
				if n.ackedNames[typeURL] == nil {
					n.ackedNames[typeURL] = map[string]bool{}
				}
				for _, name := range delivered {
					n.ackedNames[typeURL][name] = true
				}
			}
		}
	}
	if n != nil && n.snap != nil && version != "" && version == n.versions[typeURL] {
		delete(s.nacks, key)
		n.acked[typeURL] = n.snap.Resources[cachev3.GetResponseType(typeURL)]
		s.log.Debug("ack", "node", node.Id, "type", shortType(typeURL), "version", version, "pending", n.pending)
		if n.pending && s.warmedUp(n) {
			if err := s.setSnapshot(context.Background(), node.Id); err != nil {
				s.log.Warn("cannot set the snapshot after a warm-up", "node", node.Id, "error", err)
			}
			return
		}
		s.retire(n)
	}
}

// response records a push, which names it carried (to know, at the ACK
// of its nonce, what the node has) and its latency from the Update that
// caused it.
func (s *Server) response(streamID int64, typeURL, version, nonce string, requested []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metrics.pushes.WithLabelValues(shortType(typeURL)).Inc()
	n := s.nodes[s.streams[streamID]]
	if n == nil {
		return
	}
	if nonce != "" && n.snap != nil {
		var names []string
		for name := range n.snap.GetResources(typeURL) {
			if len(requested) == 0 || slices.Contains(requested, name) {
				names = append(names, name)
			}
		}
		if len(n.sent) > 64 {
			clear(n.sent) // a node that never acknowledges
		}
		n.sent[nonce] = names
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
			s.request(id, req.Node, req.TypeUrl, req.VersionInfo, req.ResponseNonce, req.ResourceNames, detail, req.ErrorDetail != nil)
			return nil
		},
		StreamResponseFunc: func(_ context.Context, id int64, req *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
			s.response(id, resp.TypeUrl, resp.VersionInfo, resp.Nonce, req.GetResourceNames())
		},
		StreamDeltaRequestFunc: func(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			detail := ""
			if req.ErrorDetail != nil {
				detail = req.ErrorDetail.Message
			}
			// An incremental request carries no version; an ACK closes the
			// type's NACK once the node has the current resources.
			s.request(id, req.Node, req.TypeUrl, s.currentVersion(req.Node, req.TypeUrl, req.ErrorDetail != nil), req.ResponseNonce, req.ResourceNamesSubscribe, detail, req.ErrorDetail != nil)
			return nil
		},
		StreamDeltaResponseFunc: func(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
			names := make([]string, 0, len(resp.Resources))
			for _, r := range resp.Resources {
				names = append(names, r.Name)
			}
			if len(names) == 0 {
				names = []string{"\x00none"} // only removals: restrict to nothing
			}
			s.response(id, resp.TypeUrl, "", resp.Nonce, names)
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

// revert puts back, in the node's snapshot, the resources of typeURL it
// last accepted, so that the rejected ones are not sent again and again
// (the node's NACK names the version it still runs, which would otherwise
// never match the snapshot's); the next Update sets a new snapshot. A node
// that never accepted that type keeps the rejected resources. Must hold
// s.mu.
func (s *Server) revert(n *nodeState, typeURL string) {
	if n == nil || n.snap == nil {
		return
	}
	acked, ok := n.acked[typeURL]
	if !ok {
		return
	}
	next := *n.snap
	next.Resources[cachev3.GetResponseType(typeURL)] = acked
	next.VersionMap = maps.Clone(n.snap.VersionMap)
	perResource := map[string]string{}
	for name, r := range acked.Items {
		h, err := s.resourceHash(r.Resource)
		if err != nil {
			s.log.Warn("cannot revert a rejected push", "node", n.node.Id, "error", err)
			return
		}
		perResource[name] = h
	}
	next.VersionMap[typeURL] = perResource
	n.snap = &next
	n.versions[typeURL] = acked.Version
	n.seq++
	s.queue = append(s.queue, queued{id: n.node.Id, seq: n.seq, snap: &next})
}

// retire drops the clusters kept for make before break once the node runs
// the current listeners and routes. Must hold s.mu.
func (s *Server) retire(n *nodeState) {
	if len(n.retiring) == 0 {
		return
	}
	if n.pending {
		return
	}
	for _, typ := range []string{resourcev3.ListenerType, resourcev3.RouteType} {
		if n.subscribed[typ] && n.acked[typ].Version != n.versions[typ] {
			return
		}
	}
	n.dropRetiring = true
	if err := s.setSnapshot(context.Background(), n.node.Id); err != nil {
		s.log.Warn("cannot drop retired clusters", "node", n.node.Id, "error", err)
	}
}
