package proxy_test

import (
	"context"
	"net/netip"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"

	"github.com/eniway/eniway/l7/proxy"
	"github.com/eniway/eniway/l7/xds"
)

// FuzzLoad feeds arbitrary bytes, as a Listener, a RouteConfiguration or a
// Cluster, to Load: it must accept or reject them and never panic, and a
// rejected Listener must leave nothing bound.
func FuzzLoad(f *testing.F) {
	g := &gateway{backends: map[string]*backend{}}
	semanticsIR(f, g)
	all, err := xds.Translate(g.ir, xds.Options{})
	if err != nil {
		f.Fatal(err)
	}
	r := all["default/gw"]
	for _, m := range r.Listeners {
		b, _ := proto.Marshal(m)
		f.Add(uint8(0), b)
	}
	for _, m := range r.Routes {
		b, _ := proto.Marshal(m)
		f.Add(uint8(1), b)
	}
	for _, m := range r.Clusters[:2] {
		b, _ := proto.Marshal(m)
		f.Add(uint8(2), b)
	}
	bind := func(string, netip.AddrPort) netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:0") }
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		res := &xds.Resources{}
		var name string
		switch kind % 3 {
		case 0:
			l := &listenerv3.Listener{}
			if proto.Unmarshal(data, l) != nil {
				return
			}
			res.Listeners, name = []*listenerv3.Listener{l}, l.GetName()
		case 1:
			rc := &routev3.RouteConfiguration{}
			if proto.Unmarshal(data, rc) != nil {
				return
			}
			res.Routes = []*routev3.RouteConfiguration{rc}
		default:
			c := &clusterv3.Cluster{}
			if proto.Unmarshal(data, c) != nil {
				return
			}
			res.Clusters = []*clusterv3.Cluster{c}
		}
		p, err := proxy.New(proxy.Options{Bind: bind})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Load(res); err != nil {
			if name != "" && p.ListenerAddr(name) != nil {
				t.Fatalf("rejected load %v left listener %q bound", err, name)
			}
			return
		}
		// Start with an ended context closes what Load bound.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = p.Start(ctx)
	})
}
