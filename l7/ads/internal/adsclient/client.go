// Package adsclient is an ADS client that behaves like Envoy on one
// stream, state of the world or incremental, for the tests, benchmarks and
// measurements of package ads: it subscribes to listeners and clusters,
// to the route configurations its listeners name and to the endpoint
// assignments of its clusters, and acknowledges every response. Receiving
// and sending run on goroutines of their own, as in Envoy, so that neither
// side of the stream waits for the other (a client that sends from its
// receive loop can block the server's send on flow control while the
// server waits to read it).
//
// Once it has every resource it subscribes to (Synced), a client keeps
// only what it needs to follow changes of subscription, not the names of
// every resource, so that many clients in one process cost little next to
// the server they measure.
package adsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// Types are the resource types a client subscribes to.
var Types = []string{resourcev3.ListenerType, resourcev3.ClusterType, resourcev3.RouteType, resourcev3.EndpointType}

// Options configure a client.
type Options struct {
	// Node is the client's node ID.
	Node string
	// Delta selects the incremental protocol.
	Delta bool
	// OnResponse, when set, is called on the receive goroutine with each
	// response as soon as it arrives: its type and its serialized
	// resources.
	OnResponse func(at time.Time, typeURL string, resources [][]byte)
}

// Client is one ADS stream. Its methods are safe for concurrent use.
type Client struct {
	opts  Options
	conn  *grpc.ClientConn
	sotw  discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	incr  discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	sendq chan any      // requests for the send loop
	done  chan struct{} // closed when the send loop ends

	// The receive loop's state.
	version  map[string]string          // state of the world: last version by type
	nonce    map[string]string          // last nonce by type
	names    map[string][]string        // subscribed names (routes, endpoints)
	have     map[string]map[string]bool // names received, by type, until synced
	clusters map[string]string          // cluster -> endpoint assignment name
	routes   map[string]map[string]bool // listener -> route configurations

	mu     sync.Mutex // guards what follows
	synced bool
	err    error
	got    map[string]int // responses by type
}

// Dial opens the client's stream to addr, which lives as long as ctx, and
// sends its first requests; Run serves it.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	// HTTP/2 windows as large as Envoy's defaults (256 MiB), not grpc-go's
	// 64 KiB, so that a large push needs no window updates on the way.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)),
		grpc.WithInitialWindowSize(256<<20), grpc.WithInitialConnWindowSize(256<<20))
	if err != nil {
		return nil, fmt.Errorf("adsclient: dial %s: %w", addr, err)
	}
	c := &Client{opts: opts, conn: conn, sendq: make(chan any, 1024), done: make(chan struct{}),
		version: map[string]string{}, nonce: map[string]string{}, names: map[string][]string{},
		have: map[string]map[string]bool{}, clusters: map[string]string{}, routes: map[string]map[string]bool{},
		got: map[string]int{}}
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	if opts.Delta {
		c.incr, err = ads.DeltaAggregatedResources(ctx)
	} else {
		c.sotw, err = ads.StreamAggregatedResources(ctx)
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("adsclient: node %s: open stream: %w", opts.Node, err)
	}
	for _, typ := range []string{resourcev3.ListenerType, resourcev3.ClusterType} {
		c.request(typ, "", nil, nil)
	}
	return c, nil
}

// Close closes the client's connection.
func (c *Client) Close() error { return c.conn.Close() }

// Run receives until the stream ends (ctx done, or Close) and returns nil
// then, or the error that ended it otherwise. It is called once.
func (c *Client) Run(ctx context.Context) error {
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { c.sendLoop(sctx) })
	defer func() {
		cancel()
		wg.Wait()
	}()
	for {
		var err error
		if c.opts.Delta {
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
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
				return nil
			}
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return fmt.Errorf("adsclient: node %s: %w", c.opts.Node, err)
		}
	}
}

func (c *Client) sendLoop(ctx context.Context) {
	defer close(c.done)
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
func (c *Client) request(typ, nonce string, subscribe, unsubscribe []string) {
	node := &corev3.Node{Id: c.opts.Node}
	var req any = &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ, VersionInfo: c.version[typ],
		ResponseNonce: nonce, ResourceNames: c.names[typ]}
	if c.opts.Delta {
		req = &discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: typ, ResponseNonce: nonce,
			ResourceNamesSubscribe: subscribe, ResourceNamesUnsubscribe: unsubscribe}
	}
	select {
	case c.sendq <- req:
	case <-c.done: // the stream failed; the receive loop sees it
	}
}

func (c *Client) onSotW(at time.Time, resp *discoveryv3.DiscoveryResponse) error {
	typ := resp.TypeUrl
	if c.opts.OnResponse != nil {
		values := make([][]byte, len(resp.Resources))
		for i, a := range resp.Resources {
			values[i] = a.Value
		}
		c.opts.OnResponse(at, typ, values)
	}
	c.version[typ], c.nonce[typ] = resp.VersionInfo, resp.Nonce
	switch typ {
	case resourcev3.ListenerType:
		clear(c.routes)
	case resourcev3.ClusterType:
		clear(c.clusters)
	}
	synced := c.Synced()
	have := map[string]bool{}
	for _, a := range resp.Resources {
		name, err := c.index(typ, a, synced)
		if err != nil {
			return err
		}
		if !synced {
			have[name] = true
		}
	}
	if !synced {
		if c.have[typ] == nil || fullState(typ) {
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

func (c *Client) onDelta(at time.Time, resp *discoveryv3.DeltaDiscoveryResponse) error {
	typ := resp.TypeUrl
	if c.opts.OnResponse != nil {
		values := make([][]byte, len(resp.Resources))
		for i, r := range resp.Resources {
			values[i] = r.GetResource().GetValue()
		}
		c.opts.OnResponse(at, typ, values)
	}
	c.nonce[typ] = resp.Nonce
	synced := c.Synced()
	if !synced && c.have[typ] == nil {
		c.have[typ] = map[string]bool{}
	}
	for _, name := range resp.RemovedResources {
		delete(c.have[typ], name)
		delete(c.clusters, name)
		delete(c.routes, name)
	}
	for _, r := range resp.Resources {
		name, err := c.index(typ, r.Resource, synced)
		if err != nil {
			return err
		}
		if name != r.Name && name != "" {
			return fmt.Errorf("%s: resource %s sent as %s", typ, name, r.Name)
		}
		if !synced {
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

// fullState says whether a state of the world response of typ carries
// every resource (listeners, clusters) or only the changed ones.
func fullState(typ string) bool {
	return typ == resourcev3.ListenerType || typ == resourcev3.ClusterType
}

// index decodes what the client needs of a resource (listeners' route
// configuration names, clusters' endpoint names) and returns its name
// ("" for a route configuration or endpoint assignment once synced: only
// listeners and clusters matter then).
func (c *Client) index(typ string, a *anypb.Any, synced bool) (string, error) {
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
		c.routes[l.Name] = rcs
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
		if synced {
			return "", nil
		}
		return nameOf(a)
	}
}

// nameOf reads field 1 (name, cluster_name) of a serialized
// RouteConfiguration or ClusterLoadAssignment without decoding the rest.
func nameOf(a *anypb.Any) (string, error) {
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
func (c *Client) resubscribe() {
	var rds, eds []string
	for _, rcs := range c.routes {
		for n := range rcs {
			rds = append(rds, n)
		}
	}
	for _, n := range c.clusters {
		eds = append(eds, n)
	}
	for _, typ := range []string{resourcev3.RouteType, resourcev3.EndpointType} {
		want := rds
		if typ == resourcev3.EndpointType {
			want = eds
		}
		slices.Sort(want)
		want = slices.Compact(want)
		old := c.names[typ]
		if slices.Equal(old, want) {
			continue
		}
		c.names[typ] = want
		if !c.opts.Delta {
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
func (c *Client) progress(typ string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got[typ]++
	if c.synced {
		return
	}
	for _, t := range Types {
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

// Synced says whether the client has had every resource it subscribes to.
func (c *Client) Synced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.synced
}

// String describes how far the client got, for failure messages.
func (c *Client) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%s: synced=%v responses=%v err=%v", c.opts.Node, c.synced, c.got, c.err)
}
