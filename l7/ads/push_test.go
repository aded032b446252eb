package ads_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/benchutil"
	"github.com/eniway/eniway/internal/gatewaytest"
	"github.com/eniway/eniway/l7/ads"
)

// This file holds an ADS client that behaves like Envoy on one stream
// (state of the world or incremental): it subscribes to listeners and
// clusters, to the route configurations its listeners name and to the
// endpoint assignments of its clusters, and acknowledges every response.
// Receiving and sending run on their own goroutines, as in Envoy, so that
// neither side of the stream waits for the other (a client that sends
// from its receive loop can block the server's send on flow control while
// the server waits to read it). TestPushReachesEveryClient and
// BenchmarkPushLatency use it.

// pushTypes are the types an Envoy node subscribes to here.
var pushTypes = []string{resourcev3.ListenerType, resourcev3.ClusterType, resourcev3.RouteType, resourcev3.EndpointType}

// expectation is the change a harness waits for: the first response of
// typeURL after start whose resources contain marker.
type expectation struct {
	seq     int
	typeURL string
	marker  []byte
	start   time.Time
}

// arrival is one client's receipt of an expected change.
type arrival struct {
	client  string
	seq     int
	latency time.Duration
}

type pushClient struct {
	id     string
	delta  bool
	conn   *grpc.ClientConn
	sotw   discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	incr   discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	expect *atomic.Pointer[expectation]
	out    chan<- arrival

	// The receive loop's state.
	seen     int                        // seq of the last expectation met
	version  map[string]string          // state of the world: last version by type
	nonce    map[string]string          // last nonce by type
	names    map[string][]string        // subscribed names (RDS, EDS)
	have     map[string]map[string]bool // names received, by type
	clusters map[string]string          // cluster -> EDS service name
	rds      map[string]map[string]bool // listener -> route configurations
	sendq    chan any                   // requests for the send loop
	stopped  chan struct{}              // closed when the send loop ends
	mu       sync.Mutex                 // guards what synced reads
	synced   bool
	err      error
	got      map[string]int // responses by type, for failure messages
}

// dialPush opens one client's stream and sends its first requests.
func dialPush(ctx context.Context, addr, id string, delta bool, expect *atomic.Pointer[expectation], out chan<- arrival) (*pushClient, error) {
	// HTTP/2 windows as large as Envoy's defaults (256 MiB), not grpc-go's
	// 64 KiB, so that a large push needs no window updates on the way.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)),
		grpc.WithInitialWindowSize(256<<20), grpc.WithInitialConnWindowSize(256<<20))
	if err != nil {
		return nil, err
	}
	c := &pushClient{id: id, delta: delta, conn: conn, expect: expect, out: out,
		version: map[string]string{}, nonce: map[string]string{}, names: map[string][]string{},
		have: map[string]map[string]bool{}, clusters: map[string]string{}, rds: map[string]map[string]bool{},
		sendq: make(chan any, 1024), stopped: make(chan struct{}), got: map[string]int{}}
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	if delta {
		c.incr, err = ads.DeltaAggregatedResources(ctx)
	} else {
		c.sotw, err = ads.StreamAggregatedResources(ctx)
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	for _, typ := range []string{resourcev3.ListenerType, resourcev3.ClusterType} {
		c.request(typ, "", nil, nil)
	}
	return c, nil
}

// run receives until the stream ends; send runs the send loop. Both
// return when ctx (the stream's) is done.
func (c *pushClient) run(ctx context.Context) {
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { c.sendLoop(sctx) })
	defer func() {
		cancel()
		wg.Wait()
	}()
	for {
		var err error
		if c.delta {
			var resp *discoveryv3.DeltaDiscoveryResponse
			if resp, err = c.incr.Recv(); err == nil {
				err = c.onDelta(time.Now(), resp)
			}
		} else {
			var resp *discoveryv3.DiscoveryResponse
			if resp, err = c.sotw.Recv(); err == nil {
				err = c.onSotW(time.Now(), resp)
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && status.Code(err) != codes.Canceled {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
			}
			return
		}
	}
}

func (c *pushClient) sendLoop(ctx context.Context) {
	defer close(c.stopped)
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-c.sendq:
			var err error
			switch r := req.(type) {
			case *discoveryv3.DiscoveryRequest:
				err = c.sotw.Send(r)
			case *discoveryv3.DeltaDiscoveryRequest:
				err = c.incr.Send(r)
			}
			if err != nil {
				return // the receive loop sees the stream's error
			}
		}
	}
}

// request queues a request of typ: an ACK when nonce is set, with the
// subscription to names (state of the world) or the changes to it
// (incremental).
func (c *pushClient) request(typ, nonce string, subscribe, unsubscribe []string) {
	node := &corev3.Node{Id: c.id}
	var req any = &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ, VersionInfo: c.version[typ],
		ResponseNonce: nonce, ResourceNames: c.names[typ]}
	if c.delta {
		req = &discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: typ, ResponseNonce: nonce,
			ResourceNamesSubscribe: subscribe, ResourceNamesUnsubscribe: unsubscribe}
	}
	select {
	case c.sendq <- req:
	case <-c.stopped: // the stream failed; the receive loop sees it
	}
}

func (c *pushClient) onSotW(at time.Time, resp *discoveryv3.DiscoveryResponse) error {
	typ := resp.TypeUrl
	c.check(at, typ, resp.Resources, nil)
	c.version[typ], c.nonce[typ] = resp.VersionInfo, resp.Nonce
	switch typ {
	case resourcev3.ListenerType:
		clear(c.rds)
	case resourcev3.ClusterType:
		clear(c.clusters)
	}
	have := map[string]bool{}
	for _, a := range resp.Resources {
		name, err := c.index(typ, a)
		if err != nil {
			return err
		}
		if !c.synced {
			have[name] = true
		}
	}
	if !c.synced {
		if c.have[typ] == nil || fullStateType(typ) {
			c.have[typ] = have
		} else {
			maps.Copy(c.have[typ], have)
		}
	}
	c.request(typ, resp.Nonce, nil, nil) // ACK, with the names subscribed
	if typ == resourcev3.ListenerType || typ == resourcev3.ClusterType {
		c.resubscribe()
	}
	c.progress(typ)
	return nil
}

func (c *pushClient) onDelta(at time.Time, resp *discoveryv3.DeltaDiscoveryResponse) error {
	typ := resp.TypeUrl
	c.check(at, typ, nil, resp.Resources)
	c.nonce[typ] = resp.Nonce
	if !c.synced && c.have[typ] == nil {
		c.have[typ] = map[string]bool{}
	}
	for _, name := range resp.RemovedResources {
		delete(c.have[typ], name)
		delete(c.clusters, name)
		delete(c.rds, name)
	}
	for _, r := range resp.Resources {
		name, err := c.index(typ, r.Resource)
		if err != nil {
			return err
		}
		if name != r.Name && name != "" {
			return fmt.Errorf("%s: resource %s sent as %s", typ, name, r.Name)
		}
		if !c.synced {
			c.have[typ][r.Name] = true
		}
	}
	c.request(typ, resp.Nonce, nil, nil)
	if typ == resourcev3.ListenerType || typ == resourcev3.ClusterType {
		c.resubscribe()
	}
	c.progress(typ)
	return nil
}

// check reports the expected change if this response carries it. It scans
// the serialized resources, so that it costs little next to the push.
func (c *pushClient) check(at time.Time, typ string, sotw []*anypb.Any, delta []*discoveryv3.Resource) {
	e := c.expect.Load()
	if e == nil || e.seq == c.seen || e.typeURL != typ {
		return
	}
	found := false
	for _, a := range sotw {
		found = found || bytes.Contains(a.Value, e.marker)
	}
	for _, r := range delta {
		found = found || bytes.Contains(r.GetResource().GetValue(), e.marker)
	}
	if found {
		c.seen = e.seq
		c.out <- arrival{client: c.id, seq: e.seq, latency: at.Sub(e.start)}
	}
}

// index decodes what the client needs of a resource (listeners' route
// configuration names, clusters' endpoint names) and returns its name.
func (c *pushClient) index(typ string, a *anypb.Any) (string, error) {
	switch typ {
	case resourcev3.ListenerType:
		var l listenerv3.Listener
		if err := a.UnmarshalTo(&l); err != nil {
			return "", err
		}
		rcs := map[string]bool{}
		chains := slices.Clone(l.FilterChains)
		if l.DefaultFilterChain != nil {
			chains = append(chains, l.DefaultFilterChain)
		}
		for _, fc := range chains {
			for _, f := range fc.Filters {
				var hcm hcmv3.HttpConnectionManager
				if f.GetTypedConfig().MessageIs(&hcm) {
					if err := f.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
						return "", err
					}
					if n := hcm.GetRds().GetRouteConfigName(); n != "" {
						rcs[n] = true
					}
				}
			}
		}
		c.rds[l.Name] = rcs
		return l.Name, nil
	case resourcev3.ClusterType:
		var cl clusterv3.Cluster
		if err := a.UnmarshalTo(&cl); err != nil {
			return "", err
		}
		eds := cl.GetEdsClusterConfig().GetServiceName()
		if eds == "" {
			eds = cl.Name
		}
		c.clusters[cl.Name] = eds
		return cl.Name, nil
	default:
		if c.synced {
			return "", nil // only the names of listeners and clusters matter now
		}
		// Route configurations and endpoint assignments: name is field 1.
		return resourceName(a)
	}
}

// resourceSetName reads field 1 (name, cluster_name) of a serialized
// RouteConfiguration or ClusterLoadAssignment without decoding the rest.
func resourceName(a *anypb.Any) (string, error) {
	b := a.Value
	if len(b) < 2 || b[0] != 0x0a {
		return "", fmt.Errorf("%s: field 1 does not come first", a.TypeUrl)
	}
	n, i := 0, 1
	for shift := 0; i < len(b); i, shift = i+1, shift+7 {
		n |= int(b[i]&0x7f) << shift
		if b[i] < 0x80 {
			i++
			break
		}
	}
	if i+n > len(b) {
		return "", fmt.Errorf("%s: truncated name", a.TypeUrl)
	}
	return string(b[i : i+n]), nil
}

// resubscribe asks for the route configurations and endpoint assignments
// the listeners and clusters now name.
func (c *pushClient) resubscribe() {
	var rds, eds []string
	for _, rcs := range c.rds {
		for n := range rcs {
			rds = append(rds, n)
		}
	}
	for _, n := range c.clusters {
		eds = append(eds, n)
	}
	for typ, want := range map[string][]string{resourcev3.RouteType: rds, resourcev3.EndpointType: eds} {
		slices.Sort(want)
		want = slices.Compact(want)
		old := c.names[typ]
		if slices.Equal(old, want) {
			continue
		}
		c.names[typ] = want
		if !c.delta {
			c.request(typ, c.nonce[typ], nil, nil)
			continue
		}
		var sub, unsub []string
		for _, n := range want {
			if _, ok := slices.BinarySearch(old, n); !ok {
				sub = append(sub, n)
			}
		}
		for _, n := range old {
			if _, ok := slices.BinarySearch(want, n); !ok {
				unsub = append(unsub, n)
			}
		}
		c.request(typ, "", sub, unsub)
	}
}

// progress marks the client synced once it has every type and every name
// it subscribes to.
func (c *pushClient) progress(typ string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got[typ]++
	if c.synced {
		return
	}
	for _, t := range pushTypes {
		if c.have[t] == nil {
			return
		}
	}
	for _, t := range []string{resourcev3.RouteType, resourcev3.EndpointType} {
		if len(c.names[t]) == 0 {
			return
		}
		for _, n := range c.names[t] {
			if !c.have[t][n] {
				return
			}
		}
	}
	// From now on only the changes matter: no more bookkeeping by name.
	c.synced, c.have = true, nil
}

// fullStateType says whether a state of the world response of typ carries
// every resource (listeners, clusters) or only the changed ones.
func fullStateType(typ string) bool {
	return typ == resourcev3.ListenerType || typ == resourcev3.ClusterType
}

// state says how far a client got, for failure messages.
func (c *pushClient) state() (synced bool, desc string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.synced, fmt.Sprintf("%s: synced=%v responses=%v err=%v", c.id, c.synced, c.got, c.err)
}

// pushHarness is a server with n clients and the changes to push.
type pushHarness struct {
	srv     *ads.Server
	clients []*pushClient
	expect  atomic.Pointer[expectation]
	arrived chan arrival
	ir      *gatewayapi.IR
	seq     int
	wait    time.Duration
	// updates is the time Update took, for each change pushed.
	updates []time.Duration
}

type pushConfig struct {
	routes, clients int
	delta           bool
	// wait bounds every wait (sync, each change); past it the run fails.
	wait time.Duration
}

// startPush starts a server with the scale IR of cfg.routes routes and
// connects cfg.clients clients, each its own node, and waits until they
// all have every resource.
func startPush(tb testing.TB, cfg pushConfig) *pushHarness {
	tb.Helper()
	res, err := gatewayapi.Translate(gatewaytest.ScaleInput(cfg.routes), gatewayapi.Options{})
	require.NoError(tb, err)
	srv, err := ads.New(ads.Options{Listen: "127.0.0.1:0"})
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	h := &pushHarness{srv: srv, ir: res.IR, arrived: make(chan arrival, cfg.clients), wait: cfg.wait}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		cancel()
		for _, c := range h.clients {
			_ = c.conn.Close()
		}
		wg.Wait()
		require.NoError(tb, <-done)
	})
	require.NoError(tb, srv.Update(ctx, h.ir))
	for i := range cfg.clients {
		c, err := dialPush(ctx, srv.Addr().String(), fmt.Sprintf("node-%03d", i), cfg.delta, &h.expect, h.arrived)
		require.NoError(tb, err)
		h.clients = append(h.clients, c)
		wg.Go(func() { c.run(ctx) })
	}
	deadline := time.Now().Add(cfg.wait)
	for {
		var behind []string
		for _, c := range h.clients {
			if ok, desc := c.state(); !ok {
				behind = append(behind, desc)
			}
		}
		if len(behind) == 0 {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d clients not in sync after %v:\n%s", len(behind), len(h.clients), cfg.wait, joinLines(behind, 10))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return h
}

func joinLines(lines []string, max int) string {
	var b bytes.Buffer
	for i, l := range lines {
		if i == max {
			fmt.Fprintf(&b, "... and %d more\n", len(lines)-max)
			break
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// change is one push to measure: next returns the IR with the change and
// the marker a client finds in the resource of typeURL that carries it.
type change struct {
	typeURL string
	next    func(ir *gatewayapi.IR, seq int) (*gatewayapi.IR, []byte)
}

// routeChange changes the header value one route matches. The IR is
// copied along the path to the route, never modified.
var routeChange = change{typeURL: resourcev3.RouteType, next: func(ir *gatewayapi.IR, seq int) (*gatewayapi.IR, []byte) {
	marker := fmt.Sprintf("pl%08d", seq)
	next := *ir
	next.Gateways = slices.Clone(ir.Gateways)
	g := *next.Gateways[0]
	next.Gateways[0] = &g
	g.Ports = slices.Clone(g.Ports)
	p := *g.Ports[0]
	g.Ports[0] = &p
	p.Listeners = slices.Clone(p.Listeners)
	l := *p.Listeners[0]
	p.Listeners[0] = &l
	l.VirtualHosts = slices.Clone(l.VirtualHosts)
	vh := *l.VirtualHosts[0]
	l.VirtualHosts[0] = &vh
	vh.Routes = slices.Clone(vh.Routes)
	for i, r := range vh.Routes {
		if len(r.Headers) == 0 {
			continue
		}
		nr := *r
		nr.Headers = slices.Clone(r.Headers)
		nr.Headers[0].Value = marker
		vh.Routes[i] = &nr
		return &next, []byte(marker)
	}
	panic("no route matches a header")
}}

// endpointChange moves one endpoint of the first backend to an address
// of its own per change (fixed width, so no marker contains another).
var endpointChange = change{typeURL: resourcev3.EndpointType, next: func(ir *gatewayapi.IR, seq int) (*gatewayapi.IR, []byte) {
	addr := netip.AddrFrom4([4]byte{100, 64, byte(100 + seq/100%100), byte(100 + seq%100)})
	next := *ir
	next.Backends = slices.Clone(ir.Backends)
	b := *next.Backends[0]
	next.Backends[0] = &b
	b.Endpoints = slices.Clone(b.Endpoints)
	b.Endpoints[0].Addr = netip.AddrPortFrom(addr, b.Endpoints[0].Addr.Port())
	return &next, []byte(addr.String())
}}

// push makes one change and returns every client's latency for it.
func (h *pushHarness) push(tb testing.TB, ch change) []time.Duration {
	tb.Helper()
	h.seq++
	next, marker := ch.next(h.ir, h.seq)
	h.ir = next
	e := &expectation{seq: h.seq, typeURL: ch.typeURL, marker: marker, start: time.Now()}
	h.expect.Store(e)
	if err := h.srv.Update(context.Background(), next); err != nil {
		tb.Fatalf("update %d: %v", h.seq, err)
	}
	h.updates = append(h.updates, time.Since(e.start))
	lat := make([]time.Duration, 0, len(h.clients))
	timeout := time.NewTimer(h.wait)
	defer timeout.Stop()
	reached := map[string]bool{}
	for len(lat) < len(h.clients) {
		select {
		case a := <-h.arrived:
			if a.seq != h.seq || reached[a.client] {
				tb.Fatalf("change %d: %s reported change %d", h.seq, a.client, a.seq)
			}
			reached[a.client] = true
			lat = append(lat, a.latency)
		case <-timeout.C:
			var missing []string
			for _, c := range h.clients {
				if !reached[c.id] {
					_, desc := c.state()
					missing = append(missing, desc)
				}
			}
			tb.Fatalf("change %d (%s): %d of %d clients did not get it within %v:\n%s",
				h.seq, ch.typeURL, len(missing), len(h.clients), h.wait, joinLines(missing, 10))
		}
	}
	return lat
}

// settle waits, at most max, until the process is nearly idle: the
// clients' acknowledgements of the last change handled, so that the next
// change is measured alone.
func settle(max time.Duration) {
	deadline := time.Now().Add(max)
	prev, ok := benchutil.CPUTime()
	if !ok {
		time.Sleep(100 * time.Millisecond)
		return
	}
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		now, _ := benchutil.CPUTime()
		if now-prev < 4*time.Millisecond { // a fifth of a CPU
			return
		}
		prev = now
	}
}

// percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func sortDurations(d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
}

// TestPushReachesEveryClient makes route and endpoint changes with a few
// clients of each protocol connected, and checks that each change
// reaches every client (BenchmarkPushLatency measures how fast).
func TestPushReachesEveryClient(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(fmt.Sprintf("delta=%v", delta), func(t *testing.T) {
			h := startPush(t, pushConfig{routes: 20, clients: 5, delta: delta, wait: 30 * time.Second})
			for range 3 {
				for _, ch := range []change{routeChange, endpointChange} {
					require.Len(t, h.push(t, ch), 5)
				}
			}
		})
	}
}
