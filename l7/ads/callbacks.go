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
	// Rejected are the names of the resources of the rejected push that
	// the node did not run already: what it rejected (a node rejects a
	// push as a whole, and names the culprit in Error); the first 64.
	Rejected []string
	// Gateways ("namespace/name") are those the rejected resources
	// belong to: every Gateway the node serves when they belong to none
	// (a push that only removed resources, say).
	Gateways []string
	// Version is the last version the node accepted ("" for none).
	Version string
	// Error is the node's error detail.
	Error string
	// At is when the NACK arrived.
	At time.Time
}

type nackKey struct{ node, typeURL string }

// NACKs returns the open NACKs, by node and type: a NACK is closed when
// the node accepts a later version of that type, or when an Update brings
// back the version it runs.
func (s *Server) NACKs() []NACK {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NACK, 0, len(s.nacks))
	for _, n := range s.nacks {
		n.Resources = slices.Clone(n.Resources)
		n.Rejected = slices.Clone(n.Rejected)
		n.Gateways = slices.Clone(n.Gateways)
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
// registers the node and the types it asks for. Whether the request
// accepts or rejects a response, the cache tells (clientEvents). Only the
// first request of a stream need name the node (Envoy's incremental
// requests do not repeat it), so the stream's first node stands in.
func (s *Server) request(streamID int64, node *corev3.Node, typeURL string, names func(old map[string]bool) map[string]bool) {
	if node == nil {
		s.mu.Lock()
		node = s.streams[streamID]
		s.mu.Unlock()
	}
	s.nodeSeen(node)
	if node == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.streams[streamID]; !ok {
		s.streams[streamID] = node
	}
	n := s.nodes[node.Id]
	if n == nil {
		return
	}
	n.subscribed[typeURL] = true
	if typeURL == typeURLs[typeCluster] {
		n.clusters = names(n.clusters)
		if len(n.retiring) > 0 {
			s.retire(n)
			if q := s.takeQueue(); len(q) > 0 {
				// Not here: this is a stream's goroutine.
				go s.flush(context.Background(), q)
			}
		}
	}
}

// sotwNames are the names a state of the world request subscribes to, nil
// for a wildcard.
func sotwNames(req *discoveryv3.DiscoveryRequest) func(map[string]bool) map[string]bool {
	return func(map[string]bool) map[string]bool {
		if len(req.ResourceNames) == 0 || slices.Contains(req.ResourceNames, "*") {
			return nil
		}
		out := make(map[string]bool, len(req.ResourceNames))
		for _, name := range req.ResourceNames {
			out[name] = true
		}
		return out
	}
}

// deltaNames applies an incremental request's changes of subscription to
// old, nil for a wildcard.
func deltaNames(req *discoveryv3.DeltaDiscoveryRequest) func(map[string]bool) map[string]bool {
	return func(old map[string]bool) map[string]bool {
		if slices.Contains(req.ResourceNamesSubscribe, "*") || (old == nil && len(req.ResourceNamesSubscribe) == 0) {
			return nil
		}
		out := maps.Clone(old)
		if out == nil {
			out = map[string]bool{}
		}
		for _, name := range req.ResourceNamesSubscribe {
			out[name] = true
		}
		for _, name := range req.ResourceNamesUnsubscribe {
			delete(out, name)
		}
		return out
	}
}

// response counts a push and observes its latency from the Update that
// caused it.
func (s *Server) response(streamID int64, typeURL, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metrics.pushes.WithLabelValues(shortType(typeURL)).Inc()
	node := s.streams[streamID]
	typ := typeIndex(typeURL)
	if node == nil || typ < 0 {
		return
	}
	n := s.nodes[node.Id]
	if n == nil || n.snap == nil {
		return
	}
	if at := n.setAt[typ]; !at.IsZero() && version == n.snap[typ].version {
		s.metrics.latency.WithLabelValues(shortType(typeURL)).Observe(time.Since(at).Seconds())
		n.setAt[typ] = time.Time{}
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
			s.names.intern(req.ResourceNames)
			s.request(id, req.Node, req.TypeUrl, sotwNames(req))
			return nil
		},
		StreamResponseFunc: func(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
			s.response(id, resp.TypeUrl, resp.VersionInfo)
		},
		StreamDeltaRequestFunc: func(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			s.names.intern(req.ResourceNamesSubscribe)
			s.request(id, req.Node, req.TypeUrl, deltaNames(req))
			return nil
		},
		StreamDeltaResponseFunc: func(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
			s.response(id, resp.TypeUrl, resp.SystemVersionInfo)
		},
	}
}

func (s *Server) closed(id int64) {
	s.metrics.streams.Dec()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams, id)
}

// clientEvents takes what the cache found out clients did with responses:
// it records what each node runs, records and reverts rejections, and
// moves make before break along.
func (s *Server) clientEvents(events []clientEvent) {
	s.mu.Lock()
	for _, e := range events {
		n := s.nodes[e.node]
		if n == nil {
			continue
		}
		if e.rejected {
			s.rejected(n, e)
		} else {
			s.accepted(n, e)
		}
	}
	q := s.takeQueue()
	s.mu.Unlock()
	if len(q) > 0 {
		// Not here: this may be a stream's goroutine, which setting a
		// snapshot may hand a response to.
		go s.flush(context.Background(), q)
	}
}

// accepted records that the node runs e.state. Must hold s.mu.
func (s *Server) accepted(n *nodeState, e clientEvent) {
	n.acked[e.typ] = e.state
	if nack, ok := s.nacks[nackKey{n.node.Id, typeURLs[e.typ]}]; ok && nack.Version != e.state.version {
		s.closeNACK(n.node.Id, e.typ)
	}
	if e.typ == typeEndpoint && len(n.warming) > 0 {
		for _, en := range e.carried {
			if _, ok := n.warming[en.name]; ok {
				n.warming[en.name] = false
			}
		}
	}
	s.log.Debug("ack", "node", n.node.Id, "type", shortType(typeURLs[e.typ]), "version", e.state.version, "pending", n.pending)
	if n.pending {
		if s.warmedUp(n) {
			if err := s.setSnapshot(n.node.Id); err != nil {
				s.log.Warn("cannot set the snapshot after a warm-up", "node", n.node.Id, "error", err)
			}
		}
		return
	}
	s.retire(n)
}

// maxRejected bounds NACK.Rejected.
const maxRejected = 64

// rejected records a NACK and puts back, in the node's snapshot, what it
// runs of that type, so that a node that connects again gets its last
// accepted configuration; the next Update sets a new snapshot. A node
// that never accepted that type keeps the rejected resources. Must hold
// s.mu.
func (s *Server) rejected(n *nodeState, e clientEvent) {
	typeURL := typeURLs[e.typ]
	key := nackKey{n.node.Id, typeURL}
	running := e.running
	if running == nil {
		running = emptySnaps[e.typ]
	}
	changed, removed := diffItems(running.items, e.state.items)
	names := make([]string, 0, len(changed))
	for _, en := range changed {
		names = append(names, en.name)
	}
	slices.Sort(names)
	gateways := s.model.gatewaysOf(e.typ, names, n.proxyless)
	if len(gateways) == 0 {
		gateways = s.model.gatewaysOf(e.typ, removed, n.proxyless)
	}
	if len(gateways) == 0 {
		gateways = s.servedBy(n)
	}
	names = names[:min(len(names), maxRejected)]
	version := ""
	if e.running != nil && e.running != emptySnaps[e.typ] {
		version = e.running.version
	}
	old, open := s.nacks[key]
	if !open {
		s.metrics.nacks.WithLabelValues(shortType(typeURL)).Inc()
		s.log.Warn("configuration rejected", "node", n.node.Id, "type", shortType(typeURL), "resources", names,
			"gateways", gateways, "accepted_version", version, "error", e.detail)
	}
	next := NACK{Node: n.node.Id, TypeURL: typeURL, Resources: e.asked, Rejected: names, Gateways: gateways,
		Version: version, Error: e.detail, At: time.Now()}
	s.nacks[key] = next
	if !open || old.Error != next.Error || !slices.Equal(old.Rejected, next.Rejected) || !slices.Equal(old.Gateways, next.Gateways) {
		s.notify()
	}
	s.revert(n, e.typ)
}

// servedBy is the Gateways a node serves. Must hold s.mu.
func (s *Server) servedBy(n *nodeState) []string {
	if s.opts.Gateways == nil || n.proxyless {
		return slices.Clone(s.model.keys)
	}
	return slices.Clone(n.gateways)
}

func (s *Server) closeNACK(node string, typ int) {
	key := nackKey{node, typeURLs[typ]}
	if _, ok := s.nacks[key]; ok {
		delete(s.nacks, key)
		s.notify()
	}
}

// revert puts the node's accepted resources of typ back in its snapshot.
// Must hold s.mu.
func (s *Server) revert(n *nodeState, typ int) {
	a := n.acked[typ]
	if n.snap == nil || a == nil || n.snap[typ] == a {
		return
	}
	next := *n.snap
	next[typ] = a
	n.snap = &next
	n.seq++
	s.queue = append(s.queue, queued{id: n.node.Id, seq: n.seq, snap: &next})
}

// retire drops the clusters kept for make before break once the node runs
// the current listeners and routes, and, for a node that asks for
// clusters by name (a gRPC client, which keeps a cluster for the RPCs
// already routed to it), once it no longer asks for them. Must hold s.mu.
func (s *Server) retire(n *nodeState) {
	if len(n.retiring) == 0 || n.pending || n.snap == nil {
		return
	}
	for _, typ := range []int{typeListener, typeRoute} {
		if a := n.acked[typ]; n.subscribed[typeURLs[typ]] && (a == nil || a.version != n.snap[typ].version) {
			return
		}
	}
	for name := range n.retiring {
		if n.clusters == nil || !n.clusters[name] {
			n.drop[name] = true
		}
	}
	if len(n.drop) == 0 {
		return
	}
	if err := s.setSnapshot(n.node.Id); err != nil {
		s.log.Warn("cannot drop retired clusters", "node", n.node.Id, "error", err)
	}
}
