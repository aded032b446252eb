package proxy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// runADS keeps an ADS stream to the server until ctx ends, reconnecting
// with jittered exponential back-off from 100 ms to 5 s.
func (p *Proxy) runADS(ctx context.Context) error {
	opts := p.opts.DialOptions
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(p.opts.Server, opts...)
	if err != nil {
		return fmt.Errorf("dial ADS server %s: %w", p.opts.Server, err)
	}
	defer conn.Close()
	client := discoverygrpc.NewAggregatedDiscoveryServiceClient(conn)
	wait := 100 * time.Millisecond
	for {
		start := time.Now()
		err := p.stream(ctx, client)
		if ctx.Err() != nil {
			return nil
		}
		p.log.Warn("ADS stream ended", "server", p.opts.Server, "error", err)
		if time.Since(start) > 30*time.Second {
			wait = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait/2 + rand.N(wait/2)):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// subscription is the client's state of one resource type on a stream.
type subscription struct {
	names    []string // nil: wildcard
	nonce    string   // of the last response
	sent     bool     // a request went out on this stream
	wildcard bool
}

// stream runs one ADS stream: it subscribes to every Listener and Cluster
// and to the routes, secrets and endpoints they name, applies each
// response and ACKs it, or NACKs it with the error and keeps the
// configuration in force.
func (p *Proxy) stream(ctx context.Context, client discoverygrpc.AggregatedDiscoveryServiceClient) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := client.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	subs := map[string]*subscription{
		resourcev3.ListenerType: {wildcard: true},
		resourcev3.ClusterType:  {wildcard: true},
		resourcev3.RouteType:    {},
		resourcev3.SecretType:   {},
		resourcev3.EndpointType: {},
	}
	first := true
	send := func(typeURL string, detail error) error {
		sub := subs[typeURL]
		req := &discoverygrpc.DiscoveryRequest{
			TypeUrl:       typeURL,
			VersionInfo:   p.Version(typeURL),
			ResponseNonce: sub.nonce,
			ResourceNames: sub.names,
		}
		if first {
			req.Node = p.opts.Node
			first = false
		}
		if detail != nil {
			req.ErrorDetail = &status.Status{Code: int32(codes.InvalidArgument), Message: detail.Error()}
		}
		sub.sent = true
		return s.Send(req)
	}
	// What the configuration in force names is subscribed right away, so a
	// reconnect asks for everything it already runs.
	p.resubscribe(subs)
	for _, t := range []string{resourcev3.ListenerType, resourcev3.ClusterType, resourcev3.RouteType, resourcev3.SecretType, resourcev3.EndpointType} {
		if subs[t].wildcard || len(subs[t].names) > 0 {
			if err := send(t, nil); err != nil {
				return err
			}
		}
	}
	for {
		resp, err := s.Recv()
		if err != nil {
			return err
		}
		typeURL := resp.GetTypeUrl()
		sub := subs[typeURL]
		if sub == nil {
			p.log.Warn("ADS response of an unrequested type", "type", typeURL)
			continue
		}
		sub.nonce = resp.GetNonce()
		set, err := p.decode(typeURL, resp, sub)
		if err == nil {
			err = p.apply(typeURL, resp.GetVersionInfo(), set)
		}
		if err != nil {
			p.log.Warn("configuration rejected", "type", typeURL, "version", resp.GetVersionInfo(), "error", err)
		} else {
			p.log.Debug("configuration applied", "type", typeURL, "version", resp.GetVersionInfo(), "resources", len(set))
		}
		if err := send(typeURL, err); err != nil {
			return err
		}
		// New names to subscribe after listeners or clusters changed.
		before := map[string][]string{}
		for t, sb := range subs {
			before[t] = sb.names
		}
		p.resubscribe(subs)
		for _, t := range []string{resourcev3.RouteType, resourcev3.SecretType, resourcev3.EndpointType} {
			if !slices.Equal(before[t], subs[t].names) && (subs[t].sent || len(subs[t].names) > 0) {
				if err := send(t, nil); err != nil {
					return err
				}
			}
		}
	}
}

// decode unpacks a response into the resource set of its type: the whole
// set for wildcard types; for named types the accepted resources still
// subscribed, updated with the response's.
func (p *Proxy) decode(typeURL string, resp *discoverygrpc.DiscoveryResponse, sub *subscription) (map[string]proto.Message, error) {
	set := map[string]proto.Message{}
	if !sub.wildcard {
		p.mu.Lock()
		for _, n := range sub.names {
			if m, ok := p.raw[typeURL][n]; ok {
				set[n] = m
			}
		}
		p.mu.Unlock()
	}
	var errs []error
	for i, a := range resp.GetResources() {
		if a.GetTypeUrl() != typeURL {
			errs = append(errs, fmt.Errorf("%w: resource %d is a %s in a %s response", ErrInvalid, i, a.GetTypeUrl(), typeURL))
			continue
		}
		m, err := a.UnmarshalNew()
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: resource %d: %w", ErrInvalid, i, err))
			continue
		}
		name := cachev3.GetResourceName(m.(types.Resource))
		if !sub.wildcard && !slices.Contains(sub.names, name) {
			continue // no longer subscribed
		}
		set[name] = m
	}
	return set, errors.Join(errs...)
}

// resubscribe sets the names of the routes, secrets and endpoint
// assignments the configuration in force refers to.
func (p *Proxy) resubscribe(subs map[string]*subscription) {
	st := p.state.Load()
	routes, secrets, eds := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, l := range st.listeners {
		for _, c := range l.chains {
			if c.http != nil {
				routes[c.http.rds] = true
			}
			if c.tls != nil {
				for _, s := range c.tls.sds {
					secrets[s] = true
				}
			}
		}
	}
	for _, c := range st.clusters {
		if !c.static {
			eds[c.service] = true
		}
	}
	subs[resourcev3.RouteType].names = slices.Sorted(maps.Keys(routes))
	subs[resourcev3.SecretType].names = slices.Sorted(maps.Keys(secrets))
	subs[resourcev3.EndpointType].names = slices.Sorted(maps.Keys(eds))
}
