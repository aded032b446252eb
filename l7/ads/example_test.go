package ads_test

import (
	"context"
	"fmt"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/l7/ads"
)

// A server serving a Gateway with one HTTP port. In a cluster, the
// Gateway controller feeds it: controller.Options{Sink: srv, Feedback:
// srv} hands it every new IR and turns a Gateway's Programmed condition
// False while a node rejects its configuration.
func Example() {
	srv, err := ads.New(ads.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()

	err = srv.Update(ctx, &gatewayapi.IR{Gateways: []*gatewayapi.Gateway{{
		Namespace: "default", Name: "gw", Class: "eniway", Service: &gatewayapi.Service{},
		Ports: []*gatewayapi.Port{{Port: 80, Protocol: gatewayapi.ProtocolHTTP, Listeners: []*gatewayapi.Listener{{
			Name: "http", Protocol: gatewayapi.ProtocolHTTP,
			VirtualHosts: []*gatewayapi.VirtualHost{{Hostname: "*"}},
		}}}},
	}}})
	fmt.Println("update:", err)
	fmt.Println("rejections:", len(srv.Rejections()))

	cancel()
	if err := <-done; err != nil {
		panic(err)
	}
	// Output:
	// update: <nil>
	// rejections: 0
}
