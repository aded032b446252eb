package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/manifest"
	"github.com/eniway/eniway/l7/proxy"
	"github.com/eniway/eniway/l7/xds"
)

// Serve a Gateway from manifests: translate them, point the backend at a
// local server, load the resources and send a request through.
func Example() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s via %s", r.Host, r.URL.Path, r.Header.Get("X-Forwarded-Proto"))
	}))
	defer backend.Close()

	in, err := manifest.Load("testdata/semantics.yaml")
	if err != nil {
		panic(err)
	}
	res, _ := gatewayapi.Translate(in, gatewayapi.Options{}) // the manifest's missing Service is reported
	for _, b := range res.IR.Backends {
		if b.Service == "app" {
			b.Endpoints = []gatewayapi.Endpoint{{Addr: netip.MustParseAddrPort(backend.Listener.Addr().String())}}
		}
	}
	resources, _ := xds.Translate(res.IR, xds.Options{})

	p, err := proxy.New(proxy.Options{
		// Listen on free loopback ports instead of 80 and 443.
		Bind: func(string, netip.AddrPort) netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:0") },
	})
	if err != nil {
		panic(err)
	}
	if err := p.Load(resources["default/gw"]); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() { _ = p.Start(ctx) }()

	req, _ := http.NewRequest("GET", "http://"+p.ListenerAddr("default/gw/80").String()+"/hello", nil)
	req.Host = "app.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 app.test /hello via http
}
