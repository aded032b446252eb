package ads_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/benchutil"
	"github.com/eniway/eniway/internal/gatewaytest"
	"github.com/eniway/eniway/l7/ads"
)

// The clients are adsclient's (Envoy's behaviour on one stream).

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
	client string
	seq    int
	at     time.Time
}

// watcher returns a client's OnResponse: it reports the expected change
// when a response carries it, scanning the serialized resources so that
// it costs little next to the push.
func watcher(id string, expect *atomic.Pointer[expectation], out chan<- arrival) func(time.Time, string, [][]byte) {
	seen := 0 // seq of the last expectation met; the receive goroutine's
	return func(at time.Time, typ string, resources [][]byte) {
		e := expect.Load()
		if e == nil || e.seq == seen || e.typeURL != typ {
			return
		}
		for _, r := range resources {
			if bytes.Contains(r, e.marker) {
				seen = e.seq
				out <- arrival{client: id, seq: e.seq, at: at}
				return
			}
		}
	}
}

// pushHarness is a server with n clients (in a child process, fleet)
// and the changes to push.
type pushHarness struct {
	srv     *ads.Server
	clients *fleet
	n       int
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
	tb.Cleanup(func() {
		cancel()
		require.NoError(tb, <-done)
	})
	h := &pushHarness{srv: srv, ir: res.IR, n: cfg.clients, wait: cfg.wait}
	require.NoError(tb, srv.Update(ctx, h.ir))
	// Registered after the server's cleanup, so run before it: the
	// clients go first.
	h.clients = startFleet(tb, srv.Addr().String(), cfg.clients, cfg.delta, cfg.wait)
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
	next, vh := gatewaytest.CopyFirstVirtualHost(ir)
	for i, r := range vh.Routes {
		if len(r.Headers) == 0 {
			continue
		}
		nr := *r
		nr.Headers = slices.Clone(r.Headers)
		nr.Headers[0].Value = marker
		vh.Routes[i] = &nr
		return next, []byte(marker)
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
	e := &expectation{seq: h.seq, typeURL: ch.typeURL, marker: marker}
	h.clients.expect(tb, e)
	e.start = time.Now()
	if err := h.srv.Update(context.Background(), next); err != nil {
		tb.Fatalf("update %d: %v", h.seq, err)
	}
	h.updates = append(h.updates, time.Since(e.start))
	lat := make([]time.Duration, 0, h.n)
	timeout := time.NewTimer(h.wait)
	defer timeout.Stop()
	reached := map[string]bool{}
	for len(lat) < h.n {
		select {
		case a := <-h.clients.arrivals:
			if a.seq != h.seq || reached[a.client] {
				tb.Fatalf("change %d: %s reported change %d", h.seq, a.client, a.seq)
			}
			reached[a.client] = true
			lat = append(lat, a.at.Sub(e.start))
		case <-timeout.C:
			var missing []string
			for i := range h.n {
				if id := fmt.Sprintf("node-%03d", i); !reached[id] {
					missing = append(missing, id)
				}
			}
			tb.Fatalf("change %d (%s): %d of %d clients did not get it within %v: %s",
				h.seq, ch.typeURL, len(missing), h.n, h.wait, strings.Join(missing, " "))
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
