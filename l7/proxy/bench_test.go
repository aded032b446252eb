package proxy_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/eniway/eniway/l7/proxy"
)

// BenchmarkProxy sends requests through the data plane to a local backend
// over loopback, with 64 keep-alive connections: ns/op is the wall time
// per request of client, proxy and backend together on this machine (the
// figures next to nginx come from hack/l7-loadtest.sh), allocs/op those
// of the whole process.
func BenchmarkProxy(b *testing.B) {
	g := startGateway(b, proxy.Options{})
	url := "http://" + g.p.ListenerAddr("default/gw/80").String() + "/exact"
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64, DisableCompression: true}}
	b.ReportAllocs()
	b.SetParallelism(32) // 64 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Host = "app.test"
		for pb.Next() {
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
