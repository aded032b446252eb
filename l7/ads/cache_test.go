package ads

import (
	"slices"
	"sync"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/status"
)

// These tests drive the cache as go-control-plane's servers do, with
// subscriptions of its stream package, one request at a time.

type eventLog struct {
	mu     sync.Mutex
	events []clientEvent
}

func (l *eventLog) add(e []clientEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e...)
}

func (l *eventLog) take() []clientEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.events
	l.events = nil
	return e
}

// endpointsSnap is a node snapshot with endpoint assignments of the given
// names, each with the given port (a port per version).
func endpointsSnap(t *testing.T, prev *nodeSnap, port uint32, names ...string) *nodeSnap {
	t.Helper()
	items := map[string]*entry{}
	for _, name := range names {
		cla := &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: "10.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}}}}},
		}}}
		e, err := newEntry(typeEndpoint, name, cla)
		require.NoError(t, err)
		items[name] = e
	}
	snap := emptySnaps
	var p *typeSnap
	if prev != nil {
		p = prev[typeEndpoint]
	}
	snap[typeEndpoint] = newTypeSnap(typeEndpoint, items, p)
	out := nodeSnap(snap)
	return &out
}

// sotwClient is one state of the world stream to the cache.
type sotwClient struct {
	t     *testing.T
	c     *xdsCache
	sub   stream.Subscription
	nonce int
	last  *discoveryv3.DiscoveryResponse
}

// request makes a request for names (acknowledging the last response
// sent, or rejecting it) and returns the channel of its watch.
func (s *sotwClient) request(names []string, nack string) chan cachev3.Response {
	s.t.Helper()
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: resourcev3.EndpointType, ResourceNames: names}
	if s.last != nil {
		req.ResponseNonce = s.last.Nonce
		req.VersionInfo = s.last.VersionInfo
	}
	if nack != "" {
		req.ErrorDetail = &status.Status{Code: 3, Message: nack}
	}
	if s.sub.ReturnedResources() == nil {
		s.sub = stream.NewSotwSubscription(names, true)
	} else {
		s.sub.SetResourceSubscription(names)
	}
	ch := make(chan cachev3.Response, 1)
	_, err := s.c.CreateWatch(req, s.sub, ch)
	require.NoError(s.t, err)
	return ch
}

// send sends a response as the server does, and returns the names it
// carries.
func (s *sotwClient) send(r cachev3.Response) []string {
	s.t.Helper()
	out, err := r.GetDiscoveryResponse()
	require.NoError(s.t, err)
	s.nonce++
	out.Nonce = string(rune('0' + s.nonce))
	s.sub.SetReturnedResources(r.GetReturnedResources())
	s.last = out
	var names []string
	for _, a := range out.Resources {
		var cla endpointv3.ClusterLoadAssignment
		require.NoError(s.t, a.UnmarshalTo(&cla))
		names = append(names, cla.ClusterName)
	}
	slices.Sort(names)
	return names
}

func pending(ch chan cachev3.Response) cachev3.Response {
	select {
	case r := <-ch:
		return r
	default:
		return nil
	}
}

// TestCacheDroppedResponse: the state of the world server drops a
// response still in its hands when a newer request of the type comes (the
// watch it answered is replaced); the resources it carried are sent
// again.
func TestCacheDroppedResponse(t *testing.T) {
	var log eventLog
	c := newXDSCache(log.add)
	c.set("n", endpointsSnap(t, nil, 80, "a", "b"), 1)
	s := &sotwClient{t: t, c: c}
	require.Equal(t, []string{"a"}, s.send(pending(s.request([]string{"a"}, ""))))
	// The client adds b and acknowledges; the answer (b) is dropped.
	require.NotNil(t, pending(s.request([]string{"a", "b"}, "")))
	// The client asks again, as grpc-go does: b comes again.
	require.Equal(t, []string{"b"}, s.send(pending(s.request([]string{"a", "b"}, ""))))
	// Once it has it, nothing more.
	require.Nil(t, pending(s.request([]string{"a", "b"}, "")))
}

// TestCacheRejected: a rejected response is not sent again; a later
// snapshot is sent as a difference from what the client runs; what the
// client does is reported.
func TestCacheRejected(t *testing.T) {
	var log eventLog
	c := newXDSCache(log.add)
	v1 := endpointsSnap(t, nil, 80, "a", "b")
	c.set("n", v1, 1)
	s := &sotwClient{t: t, c: c}
	s.send(pending(s.request([]string{"a", "b"}, "")))
	require.Nil(t, pending(s.request([]string{"a", "b"}, "")))
	ev := log.take()
	require.Len(t, ev, 1)
	require.False(t, ev[0].rejected)
	require.Same(t, v1[typeEndpoint], ev[0].state, "accepted v1")

	// v2 changes a; the client rejects it.
	v2 := endpointsSnap(t, v1, 81, "a")
	v2[typeEndpoint].items["b"] = v1[typeEndpoint].items["b"]
	v2 = &nodeSnap{typeEndpoint: newTypeSnap(typeEndpoint, v2[typeEndpoint].items, v1[typeEndpoint])}
	for typ := range numTypes {
		if v2[typ] == nil {
			v2[typ] = emptySnaps[typ]
		}
	}
	ch := s.request([]string{"a", "b"}, "")
	c.set("n", v2, 2)
	require.Equal(t, []string{"a"}, s.send(pending(ch)), "only what changed")
	ch = s.request([]string{"a", "b"}, "bad endpoint")
	require.Nil(t, pending(ch), "not sent again")
	ev = log.take()
	require.Len(t, ev, 1)
	require.True(t, ev[0].rejected)
	require.Same(t, v2[typeEndpoint], ev[0].state)
	require.Same(t, v1[typeEndpoint], ev[0].running)
	require.Equal(t, "bad endpoint", ev[0].detail)

	// Put back (the server's revert): nothing to send.
	c.set("n", v1, 3)
	require.Nil(t, pending(ch))
	// v3 changes b: the client gets b, and a as it runs it now (v1's a).
	v3 := endpointsSnap(t, v2, 82, "b")
	v3[typeEndpoint].items["a"] = v1[typeEndpoint].items["a"]
	v3 = &nodeSnap{typeEndpoint: newTypeSnap(typeEndpoint, v3[typeEndpoint].items, v2[typeEndpoint])}
	for typ := range numTypes {
		if v3[typ] == nil {
			v3[typ] = emptySnaps[typ]
		}
	}
	c.set("n", v3, 4)
	require.Equal(t, []string{"b"}, s.send(pending(ch)), "b only: the client runs v1's a")
}
