package ads

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// The resource types the server serves, by index.
const (
	typeListener = iota
	typeRoute
	typeCluster
	typeEndpoint
	typeSecret
	numTypes
)

var typeURLs = [numTypes]string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.SecretType}

// typeIndex is the index of typeURL, -1 for a type the server does not serve.
func typeIndex(typeURL string) int {
	for i, u := range typeURLs {
		if u == typeURL {
			return i
		}
	}
	return -1
}

// fullState says whether a state of the world response of the type must
// carry every resource the client subscribes to (listeners and clusters),
// not only those that changed: a client drops the resources of these
// types a response leaves out, and keeps those of the others.
func fullState(typ int) bool { return typ == typeListener || typ == typeCluster }

// entry is one resource, serialized once and shared by every response
// that carries it, whatever the node and the protocol.
type entry struct {
	name string
	// res is the resource, kept for listeners and clusters only: the rest
	// is needed serialized only.
	res types.Resource
	// version is the hex of the first 12 bytes of sum, the SHA-256 of the
	// deterministic serialization.
	version string
	sum     [sha256.Size]byte
	any     *anypb.Any
	delta   *discoveryv3.Resource
}

func newEntry(typ int, name string, res types.Resource) (*entry, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("ads: marshal %s %s: %w", shortType(typeURLs[typ]), name, err)
	}
	return newEntryBytes(typ, name, res, b), nil
}

// newEntryBytes is newEntry for res serialized as b.
func newEntryBytes(typ int, name string, res types.Resource, b []byte) *entry {
	e := &entry{name: name, sum: sha256.Sum256(b)}
	if typ == typeListener || typ == typeCluster {
		e.res = res // their references are checked (consistent)
	}
	e.version = hex.EncodeToString(e.sum[:12])
	e.any = &anypb.Any{TypeUrl: typeURLs[typ], Value: b}
	e.delta = &discoveryv3.Resource{Name: name, Version: e.version, Resource: e.any}
	return e
}

// typeSnap is the resources of one type that a node runs or is to run.
// It is immutable once built and shared by every node that runs the
// same.
type typeSnap struct {
	typ     int
	version string
	// sum is the XOR of the items' hashes: the version's digest.
	sum   [sha256.Size]byte
	items map[string]*entry
	// prev is the type snapshot this one follows for the nodes that ran
	// prev (nil if none); changed and removed are how the two differ.
	prev    *typeSnap
	changed []*entry
	removed []string

	refsOnce sync.Once
	refs     map[string]bool
}

// newTypeSnap builds the type snapshot of items, the successor of prev.
// Its version is a digest of the resources' hashes, so equal resources
// give equal versions.
func newTypeSnap(typ int, items map[string]*entry, prev *typeSnap) *typeSnap {
	t := &typeSnap{typ: typ, items: items, prev: prev}
	for _, e := range items {
		t.xor(e)
	}
	if prev != nil {
		t.changed, t.removed = diffItems(prev.items, items)
	}
	t.version = fmt.Sprintf("%s-%d", hex.EncodeToString(t.sum[:8]), len(items))
	return t
}

// nextTypeSnap is newTypeSnap for items that differ from prev's by changed
// and removed, known already.
func nextTypeSnap(prev *typeSnap, items map[string]*entry, changed []*entry, removed []string) *typeSnap {
	t := &typeSnap{typ: prev.typ, items: items, prev: prev, changed: changed, removed: removed, sum: prev.sum}
	for _, e := range changed {
		if o := prev.items[e.name]; o != nil {
			t.xor(o)
		}
		t.xor(e)
	}
	for _, name := range removed {
		t.xor(prev.items[name])
	}
	t.version = fmt.Sprintf("%s-%d", hex.EncodeToString(t.sum[:8]), len(items))
	return t
}

func (t *typeSnap) xor(e *entry) {
	for i := range t.sum {
		t.sum[i] ^= e.sum[i]
	}
}

// diffItems returns the entries of to that differ from from, and the
// names of from that to lacks.
func diffItems(from, to map[string]*entry) (changed []*entry, removed []string) {
	for name, e := range to {
		if o := from[name]; o == nil || o.version != e.version {
			changed = append(changed, e)
		}
	}
	for name := range from {
		if to[name] == nil {
			removed = append(removed, name)
		}
	}
	return changed, removed
}

// sameNames says whether t has the names of its predecessor.
func (t *typeSnap) sameNames() bool {
	if t.prev == nil || len(t.removed) > 0 {
		return false
	}
	for _, e := range t.changed {
		if t.prev.items[e.name] == nil {
			return false
		}
	}
	return true
}

// streamStateTTL is how long the cache remembers a stream whose watch was
// cancelled and not renewed.
const streamStateTTL = time.Minute

// emptySnaps are the type snapshots of a client that has nothing.
var emptySnaps = func() (out [numTypes]*typeSnap) {
	for i := range out {
		out[i] = newTypeSnap(i, map[string]*entry{}, nil)
	}
	return out
}()

// nodeSnap is the resources of every type a node runs or is to run.
type nodeSnap [numTypes]*typeSnap

// clientEvent is what a client did with a response: it accepted it and
// now runs state, or it rejected it (state is what it rejected, running
// is what it runs, nil when it never accepted that type).
type clientEvent struct {
	node     string
	typ      int
	state    *typeSnap
	running  *typeSnap
	carried  []*entry // accepted: the resources of the response accepted
	rejected bool
	detail   string
	asked    []string // rejected: the names the client asked for
}

// xdsCache keeps each node's snapshot and answers the watches go-control-
// plane's state of the world and incremental servers open for their
// streams. It implements cachev3.Cache. go-control-plane's own snapshot
// cache works out each response per node from the whole snapshot and
// serializes each resource again for each node; this one tracks, per
// stream and type, what the client runs, answers with what differs from
// it (for state of the world too, for the types whose responses need not
// repeat unchanged resources), works out the difference once per snapshot
// for all the nodes that share it, and serializes each resource once.
// It also knows which response a client accepts or rejects, and reports
// that (report).
type xdsCache struct {
	// report is called with what clients did, without the cache's lock,
	// on the goroutine that found out (a stream's or a set's).
	report func([]clientEvent)

	mu    sync.Mutex
	nodes map[string]*cacheNode
}

var _ cachev3.Cache = (*xdsCache)(nil)

func newXDSCache(report func([]clientEvent)) *xdsCache {
	return &xdsCache{report: report, nodes: map[string]*cacheNode{}}
}

type cacheNode struct {
	snap    *nodeSnap
	seq     uint64
	watches map[*watch]struct{}
	streams map[streamKey]*streamState
}

// streamKey names one type of one stream: the map of returned resources
// of its subscription, which go-control-plane's servers keep for the life
// of the stream's subscription to a type and pass to every watch (the
// response channel is no key: the state of the world server makes one per
// watch). The cache updates that map in place, so it stays the same.
type streamKey unsafe.Pointer

// streamState is what the cache knows of one type on one stream. Only the
// stream's goroutine (which creates the watches and sends the responses)
// uses it, except closed.
type streamState struct {
	// closedAt is when the stream's last watch was cancelled (unix ns, 0
	// while a watch is open or a request is being handled): the stream may
	// be gone, and a set forgets the state streamStateTTL later.
	closedAt atomic.Int64
	// running is what the client runs, nil if unknown (then the
	// subscription's returned resources say what it has).
	running *typeSnap
	// sent is what the last response sent brings the client to, and
	// sotwOut or deltaOut that response (its nonce is set when it is sent).
	sent     *typeSnap
	carried  []*entry
	sotwOut  *discoveryv3.DiscoveryResponse
	deltaOut *discoveryv3.DeltaDiscoveryResponse
	// rejected is what the client rejected last: not sent again.
	rejected *typeSnap
	// pending are names the client subscribed to anew and has not been
	// sent yet: a response in the server's hands may be dropped for a
	// newer request.
	pending map[string]bool
	// named is set once a request was seen; names are the resource names
	// of the last state of the world request and wildcard whether the
	// subscription was a wildcard, to tell a change of subscription.
	named    bool
	names    []string
	wildcard bool
}

// watch is an open watch: a stream waiting for a change of one type.
type watch struct {
	node    string
	typ     int
	st      *streamState
	sub     cachev3.Subscription
	sotw    *cachev3.Request
	sotwCh  chan cachev3.Response
	delta   *cachev3.DeltaRequest
	deltaCh chan cachev3.DeltaResponse
	// base is what the client runs (nil: see the returned resources) and
	// added the names it subscribed to since; rejected is not sent;
	// initial says that the first snapshot must be answered even if it
	// has nothing for the client.
	base     *typeSnap
	added    []string
	rejected *typeSnap
	initial  bool
}

func (c *xdsCache) node(id string) *cacheNode {
	n := c.nodes[id]
	if n == nil {
		n = &cacheNode{watches: map[*watch]struct{}{}, streams: map[streamKey]*streamState{}}
		c.nodes[id] = n
	}
	return n
}

func (n *cacheNode) stream(k streamKey) *streamState {
	if k == nil {
		return &streamState{} // no map: nothing to remember the stream by
	}
	st := n.streams[k]
	if st == nil {
		st = &streamState{}
		n.streams[k] = st
	}
	st.closedAt.Store(0)
	return st
}

// set makes snap the node's snapshot and answers the node's open watches
// whose client lacks something of it. A snapshot older (by seq) than the
// one set already is dropped.
func (c *xdsCache) set(id string, snap *nodeSnap, seq uint64) {
	var events []clientEvent
	c.mu.Lock()
	n := c.node(id)
	if seq <= n.seq {
		c.mu.Unlock()
		return
	}
	n.seq, n.snap = seq, snap
	for w := range n.watches {
		t := snap[w.typ]
		if t == w.base || t == w.rejected {
			continue
		}
		if c.respond(w, t) {
			delete(n.watches, w)
		} else if w.base != nil {
			// Nothing the client subscribes to changed: it runs t.
			w.base = t
			events = append(events, clientEvent{node: id, typ: w.typ, state: t})
		}
	}
	now := time.Now().UnixNano()
	for k, st := range n.streams {
		if at := st.closedAt.Load(); at != 0 && now-at > int64(streamStateTTL) {
			delete(n.streams, k)
		}
	}
	c.mu.Unlock()
	if len(events) > 0 {
		c.report(events)
	}
}

// snapshot returns the node's snapshot, nil if none was set.
func (c *xdsCache) snapshot(id string) *nodeSnap {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[id]; n != nil {
		return n.snap
	}
	return nil
}

// CreateWatch answers a state of the world request at once when the
// client lacks something of the node's snapshot, and otherwise waits for
// a snapshot that brings something (set).
func (c *xdsCache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, ch chan cachev3.Response) (func(), error) {
	typ := typeIndex(req.GetTypeUrl())
	if typ < 0 {
		return func() {}, nil // a type this server has nothing of: never answered
	}
	w := &watch{node: req.GetNode().GetId(), typ: typ, sub: sub, sotw: req, sotwCh: ch}
	initial := req.GetVersionInfo() == "" && req.GetResponseNonce() == ""
	return c.watch(w, req.GetResponseNonce(), req.GetErrorDetail(), initial, req.GetResourceNames(), func(st *streamState) ([]string, bool) {
		names := req.GetResourceNames()
		prev, had := st.names, st.named
		st.names, st.named = names, true
		if !had || sub.IsWildcard() != st.wildcard {
			st.wildcard = sub.IsWildcard()
			return nil, true
		}
		if slices.Equal(prev, names) {
			return nil, false
		}
		old := make(map[string]bool, len(prev))
		for _, n := range prev {
			old[n] = true
		}
		var added []string
		for _, n := range names {
			if !old[n] {
				added = append(added, n)
			}
		}
		return added, false
	})
}

// CreateDeltaWatch is CreateWatch for an incremental request.
func (c *xdsCache) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, ch chan cachev3.DeltaResponse) (func(), error) {
	typ := typeIndex(req.GetTypeUrl())
	if typ < 0 {
		return func() {}, nil
	}
	w := &watch{node: req.GetNode().GetId(), typ: typ, sub: sub, delta: req, deltaCh: ch}
	initial := sub.IsWildcard() && req.GetResponseNonce() == ""
	return c.watch(w, req.GetResponseNonce(), req.GetErrorDetail(), initial, req.GetResourceNamesSubscribe(), func(st *streamState) ([]string, bool) {
		if !st.named || sub.IsWildcard() != st.wildcard {
			st.named, st.wildcard = true, sub.IsWildcard()
			return nil, true
		}
		return req.GetResourceNamesSubscribe(), false
	})
}

// watch handles a request on w's stream: it tells an ACK or a NACK (nack
// set) of the last response, then answers at once or registers w.
// subscription reports the names the request subscribes to anew, or that
// what the client has is to be worked out again (a new stream, a change
// of wildcard).
func (c *xdsCache) watch(w *watch, nonce string, nack *status.Status, initial bool, asked []string, subscription func(*streamState) ([]string, bool)) (func(), error) {
	var events []clientEvent
	c.mu.Lock()
	n := c.node(w.node)
	st := n.stream(streamKey(reflect.ValueOf(w.sub.ReturnedResources()).UnsafePointer()))
	w.st = st
	if st.sent != nil && nonce != "" && nonce == st.lastNonce() {
		if nack != nil {
			events = append(events, clientEvent{node: w.node, typ: w.typ, state: st.sent, running: st.running,
				rejected: true, detail: nack.GetMessage(), asked: slices.Clone(asked)})
			st.rejected = st.sent
			if st.running == nil {
				st.running = emptySnaps[w.typ]
			}
			// What the rejected response brought anew, the client lacks
			// (of the rest, it runs what running has).
			for _, e := range st.carried {
				if st.running.items[e.name] == nil {
					if st.pending == nil {
						st.pending = map[string]bool{}
					}
					st.pending[e.name] = true
				}
			}
		} else {
			events = append(events, clientEvent{node: w.node, typ: w.typ, state: st.sent, carried: st.carried})
			st.running, st.rejected = st.sent, nil
		}
		st.sent, st.carried, st.sotwOut, st.deltaOut = nil, nil, nil, nil
	}
	added, reset := subscription(st)
	if reset || initial {
		st.running = nil // a new subscription: see the returned resources
		clear(st.pending)
	} else if len(added) > 0 {
		if st.pending == nil {
			st.pending = map[string]bool{}
		}
		for _, name := range added {
			st.pending[name] = true
		}
	}
	w.base, w.rejected, w.initial = st.running, st.rejected, initial
	w.added = slices.Collect(maps.Keys(st.pending))
	cancel := func() { st.closedAt.Store(time.Now().UnixNano()) }
	var t *typeSnap
	if n.snap != nil {
		t = n.snap[w.typ]
	}
	switch {
	case t == nil || t == w.rejected:
		n.watches[w] = struct{}{}
	case c.respond(w, t):
	default:
		// The client has everything of t it subscribes to.
		n.watches[w] = struct{}{}
		if w.base != nil || nack == nil {
			if w.base != t {
				events = append(events, clientEvent{node: w.node, typ: w.typ, state: t})
			}
			w.base, st.running = t, t
		}
	}
	if _, ok := n.watches[w]; ok {
		cancel = func() {
			st.closedAt.Store(time.Now().UnixNano())
			c.mu.Lock()
			delete(n.watches, w)
			c.mu.Unlock()
		}
	}
	c.mu.Unlock()
	if len(events) > 0 {
		c.report(events)
	}
	return cancel, nil
}

// served takes what a response being sent carries off the pending names.
func (st *streamState) served(entries []*entry) {
	if len(st.pending) == 0 {
		return
	}
	for _, e := range entries {
		delete(st.pending, e.name)
	}
}

func (st *streamState) lastNonce() string {
	if st.sotwOut != nil {
		return st.sotwOut.GetNonce()
	}
	return st.deltaOut.GetNonce()
}

// respond sends w the resources of t its client lacks, if any (or an
// initial answer), and reports whether it did. Must hold c.mu.
func (c *xdsCache) respond(w *watch, t *typeSnap) bool {
	subscribed := func(name string) bool {
		if w.sub.IsWildcard() {
			return true
		}
		_, ok := w.sub.SubscribedResources()[name]
		return ok
	}
	var changed []*entry
	var removed []string
	if w.base != nil {
		cands, gone := t.changed, t.removed
		switch {
		case t == w.base:
			cands, gone = nil, nil
		case t.prev != w.base:
			cands, gone = diffItems(w.base.items, t.items)
		}
		for _, e := range cands {
			if subscribed(e.name) {
				changed = append(changed, e)
			}
		}
		for _, name := range gone {
			if subscribed(name) {
				removed = append(removed, name)
			}
		}
		// Names subscribed anew: the client has none of them.
		if len(w.added) > 0 {
			seen := make(map[string]bool, len(changed))
			for _, e := range changed {
				seen[e.name] = true
			}
			for _, name := range w.added {
				if e := t.items[name]; e != nil && !seen[name] {
					changed, seen[name] = append(changed, e), true
				}
			}
		}
	} else {
		// A new subscription: the client has what the request says
		// (incremental initial_resource_versions), else nothing.
		returned := w.sub.ReturnedResources()
		if w.sub.IsWildcard() {
			for name, e := range t.items {
				if v, ok := returned[name]; !ok || v != e.version {
					changed = append(changed, e)
				}
			}
		} else {
			for name := range w.sub.SubscribedResources() {
				if e := t.items[name]; e != nil {
					if v, ok := returned[name]; !ok || v != e.version {
						changed = append(changed, e)
					}
				}
			}
		}
		for name := range returned {
			if t.items[name] == nil && subscribed(name) {
				removed = append(removed, name)
			}
		}
	}
	initial := w.initial
	if w.sotw != nil {
		if fullState(w.typ) {
			if len(changed) == 0 && len(removed) == 0 && !initial {
				return false
			}
			// Every subscribed resource: what a response leaves out, the
			// client drops.
			changed = changed[:0]
			for name, e := range t.items {
				if subscribed(name) {
					changed = append(changed, e)
				}
			}
		} else if len(changed) == 0 && !initial {
			// The client keeps what a response leaves out; a removal
			// follows from the listeners and clusters.
			return false
		}
		w.initial = false
		sortEntries(changed)
		w.sotwCh <- &sotwResponse{req: w.sotw, t: t, entries: changed, returned: w.sub.ReturnedResources(), st: w.st}
		return true
	}
	if len(changed) == 0 && len(removed) == 0 && !initial {
		return false
	}
	w.initial = false
	sortEntries(changed)
	slices.Sort(removed)
	w.deltaCh <- &deltaResponse{req: w.delta, t: t, entries: changed, removed: removed,
		returned: w.sub.ReturnedResources(), st: w.st}
	return true
}

func sortEntries(es []*entry) {
	slices.SortFunc(es, func(a, b *entry) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
}

// Fetch answers a REST request with the node's resources of the type.
func (c *xdsCache) Fetch(_ context.Context, req *cachev3.Request) (cachev3.Response, error) {
	typ := typeIndex(req.GetTypeUrl())
	snap := c.snapshot(req.GetNode().GetId())
	if typ < 0 || snap == nil {
		return nil, fmt.Errorf("ads: node %q: %w: no %s", req.GetNode().GetId(), ErrNotFound, req.GetTypeUrl())
	}
	t := snap[typ]
	if req.GetVersionInfo() == t.version {
		return nil, &types.SkipFetchError{}
	}
	var es []*entry
	for name, e := range t.items {
		if len(req.GetResourceNames()) == 0 || slices.Contains(req.GetResourceNames(), name) {
			es = append(es, e)
		}
	}
	sortEntries(es)
	return &sotwResponse{req: req, t: t, entries: es}, nil
}

// sotwResponse is a state of the world response. The server calls its
// methods on the stream's goroutine when it sends it.
type sotwResponse struct {
	req     *cachev3.Request
	t       *typeSnap
	entries []*entry
	// returned is the subscription's map, handed back as it is: the cache
	// knows what the client has by snapshot, and the map, which stays the
	// same, names the stream (streamKey).
	returned map[string]string
	st       *streamState
	out      *discoveryv3.DiscoveryResponse
}

var _ cachev3.Response = (*sotwResponse)(nil)

func (r *sotwResponse) GetDiscoveryResponse() (*discoveryv3.DiscoveryResponse, error) {
	if r.out == nil {
		res := make([]*anypb.Any, len(r.entries))
		for i, e := range r.entries {
			res[i] = e.any
		}
		r.out = &discoveryv3.DiscoveryResponse{VersionInfo: r.t.version, Resources: res, TypeUrl: r.req.GetTypeUrl()}
		if r.st != nil {
			r.st.sent, r.st.carried, r.st.sotwOut, r.st.deltaOut = r.t, r.entries, r.out, nil
			r.st.served(r.entries)
		}
	}
	return r.out, nil
}

func (r *sotwResponse) GetRequest() *discoveryv3.DiscoveryRequest { return r.req }
func (r *sotwResponse) GetVersion() (string, error)               { return r.t.version, nil }
func (r *sotwResponse) GetResponseVersion() string                { return r.t.version }
func (r *sotwResponse) GetContext() context.Context               { return context.Background() }
func (r *sotwResponse) GetReturnedResources() map[string]string   { return r.returned }

// deltaResponse is an incremental response.
type deltaResponse struct {
	req      *cachev3.DeltaRequest
	t        *typeSnap
	entries  []*entry
	removed  []string
	returned map[string]string // as in sotwResponse
	st       *streamState
	out      *discoveryv3.DeltaDiscoveryResponse
}

var _ cachev3.DeltaResponse = (*deltaResponse)(nil)

func (r *deltaResponse) GetDeltaDiscoveryResponse() (*discoveryv3.DeltaDiscoveryResponse, error) {
	if r.out == nil {
		res := make([]*discoveryv3.Resource, len(r.entries))
		for i, e := range r.entries {
			res[i] = e.delta
		}
		r.out = &discoveryv3.DeltaDiscoveryResponse{Resources: res, RemovedResources: r.removed,
			TypeUrl: r.req.GetTypeUrl(), SystemVersionInfo: r.t.version}
		r.st.sent, r.st.carried, r.st.deltaOut, r.st.sotwOut = r.t, r.entries, r.out, nil
		r.st.served(r.entries)
	}
	return r.out, nil
}

func (r *deltaResponse) GetDeltaRequest() *discoveryv3.DeltaDiscoveryRequest { return r.req }
func (r *deltaResponse) GetSystemVersion() (string, error)                   { return r.t.version, nil }
func (r *deltaResponse) GetResponseVersion() string                          { return r.t.version }
func (r *deltaResponse) GetContext() context.Context                         { return context.Background() }
func (r *deltaResponse) GetNextVersionMap() map[string]string                { return r.returned }
func (r *deltaResponse) GetReturnedResources() map[string]string             { return r.returned }

// cloneItems copies a type snapshot's items for a set that differs.
func cloneItems(t *typeSnap) map[string]*entry {
	if t == nil {
		return map[string]*entry{}
	}
	return maps.Clone(t.items)
}
