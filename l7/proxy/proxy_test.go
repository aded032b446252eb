package proxy_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/eniway/eniway/l7/proxy"
	"github.com/eniway/eniway/l7/xds"
)

func TestRouting(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	for _, tc := range []struct {
		name            string
		method, uri     string
		hdr             []string
		status          int
		backend, gotURI string
	}{
		{name: "prefix /", uri: "/anything?x=1", status: 200, backend: "app", gotURI: "/anything?x=1"},
		{name: "exact", uri: "/exact", status: 200, backend: "canary"},
		{name: "exact is not a prefix", uri: "/exact/more", status: 200, backend: "app"},
		{name: "header", uri: "/match", hdr: []string{"x-version", "v2"}, status: 200, backend: "canary"},
		{name: "header mismatch", uri: "/match", hdr: []string{"x-version", "v3"}, status: 200, backend: "app"},
		{name: "query", uri: "/match?flavor=canary", status: 200, backend: "canary"},
		{name: "method", method: "DELETE", uri: "/match", status: 200, backend: "canary"},
		{name: "regex", uri: "/regex/42", status: 200, backend: "canary"},
		{name: "regex is anchored", uri: "/regex/42x", status: 200, backend: "app"},
		{name: "path prefix is segment-wise", uri: "/matchless", status: 200, backend: "app"},
		{name: "dot segments normalized", uri: "/x/../exact", status: 200, backend: "canary", gotURI: "/exact"},
		{name: "rewrite prefix to /", uri: "/strip/a/b?q=1", status: 200, backend: "app", gotURI: "/a/b?q=1"},
		{name: "rewrite prefix to / exact", uri: "/strip", status: 200, backend: "app", gotURI: "/"},
		{name: "rewrite prefix", uri: "/v1/users", status: 200, backend: "app", gotURI: "/v2/users"},
		{name: "rewrite prefix bare", uri: "/v1", status: 200, backend: "app", gotURI: "/v2"},
		{name: "rewrite full path", uri: "/full/x?y=1", status: 200, backend: "app", gotURI: "/index.html?y=1"},
		{name: "all backends invalid", uri: "/all-invalid", status: 500},
		{name: "no endpoints", uri: "/empty", status: 503},
		{name: "h2c backend", uri: "/grpc", status: 200, backend: "grpc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, e := g.do(t, newRequest(t, cmpOr(tc.method, "GET"), "app.test", tc.uri, tc.hdr...))
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.backend == "" {
				require.Nil(t, e)
				return
			}
			require.NotNil(t, e)
			assert.Equal(t, tc.backend, e.Backend)
			assert.Equal(t, cmpOr(tc.gotURI, tc.uri), e.URI)
		})
	}
	t.Run("no route", func(t *testing.T) {
		resp, _ := g.do(t, newRequest(t, "GET", "other.test", "/"))
		require.Equal(t, 404, resp.StatusCode)
	})
	t.Run("host with port", func(t *testing.T) {
		_, e := g.do(t, newRequest(t, "GET", "APP.test:80", "/exact"))
		require.NotNil(t, e)
		require.Equal(t, "canary", e.Backend)
	})
	t.Run("h2c backend gets HTTP/2", func(t *testing.T) {
		_, e := g.do(t, newRequest(t, "GET", "app.test", "/grpc"))
		require.Equal(t, "HTTP/2.0", e.Proto)
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestForwardedHeaders(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	_, e := g.do(t, newRequest(t, "GET", "app.test", "/", "X-Forwarded-For", "203.0.113.7", "User-Agent", ""))
	require.NotNil(t, e)
	assert.Equal(t, "app.test", e.Host)
	assert.Equal(t, "203.0.113.7, 127.0.0.1", e.Header.Get("X-Forwarded-For"))
	assert.Equal(t, "http", e.Header.Get("X-Forwarded-Proto"))
	assert.Len(t, e.Header.Get("X-Request-Id"), 36)
	assert.Empty(t, e.Header.Get("User-Agent"), "no user agent is added")
}

func TestHeaderModifiers(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	resp, e := g.do(t, newRequest(t, "GET", "app.test", "/headers", "x-remove", "1", "x-add", "client", "x-set", "client"))
	require.NotNil(t, e)
	assert.Equal(t, []string{"route"}, e.Header.Values("X-Set"))
	assert.Equal(t, []string{"client", "route"}, e.Header.Values("X-Add"))
	assert.Empty(t, e.Header.Values("X-Remove"))
	assert.Equal(t, "app", e.Header.Get("X-Backend"))
	assert.Equal(t, "eniway", resp.Header.Get("X-Served-By"))
	assert.Empty(t, resp.Header.Get("X-Echo-Secret"))
}

func TestRedirects(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	resp, e := g.do(t, newRequest(t, "GET", "app.test", "/old/page?q=1"))
	require.Nil(t, e)
	assert.Equal(t, 301, resp.StatusCode)
	assert.Equal(t, "https://new.test/new/page?q=1", resp.Header.Get("Location"))
	resp, _ = g.do(t, newRequest(t, "GET", "app.test", "/moved?a=b"))
	assert.Equal(t, 302, resp.StatusCode)
	assert.Equal(t, "http://app.test:8080/here?a=b", resp.Header.Get("Location"))
}

func TestHostRewrite(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	_, e := g.do(t, newRequest(t, "GET", "app.test", "/strip/x"))
	require.NotNil(t, e)
	assert.Equal(t, "internal.test", e.Host)
}

func TestWeightedSplit(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	const n = 2000
	canary := 0
	for range n {
		_, e := g.do(t, newRequest(t, "GET", "app.test", "/split"))
		require.NotNil(t, e)
		if e.Backend == "canary" {
			canary++
		}
	}
	// 90/10: the canary count is binomial, sigma = sqrt(n p (1-p)) ~ 13.4.
	assert.InDelta(t, 200, canary, 5*13.4, "canary got %d of %d", canary, n)
}

func TestInvalidBackendShare(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	codes := map[int]int{}
	for range 200 {
		resp, _ := g.do(t, newRequest(t, "GET", "app.test", "/invalid"))
		codes[resp.StatusCode]++
	}
	// Half the weight is a missing backend: 500, never 503.
	assert.InDelta(t, 100, codes[500], 5*7.1, "%v", codes)
	assert.Equal(t, 200, codes[200]+codes[500], "%v", codes)
}

func TestMirror(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	req := newRequest(t, "POST", "app.test", "/mirror")
	req.Body = io.NopCloser(strings.NewReader("payload"))
	_, e := g.do(t, req)
	require.NotNil(t, e)
	require.Equal(t, "app", e.Backend)
	require.Equal(t, "payload", e.Body)
	select {
	case m := <-g.backends["mirror"].seen:
		assert.Equal(t, "app.test-shadow", m.Host)
		assert.Equal(t, "/mirror", m.URI)
		assert.Equal(t, "payload", m.Body)
	case <-time.After(10 * time.Second):
		t.Fatal("the mirror backend got nothing")
	}
}

func TestCORS(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	before := g.backends["app"].hits.Load()
	resp, e := g.do(t, newRequest(t, "OPTIONS", "app.test", "/cors",
		"Origin", "https://x.example.org", "Access-Control-Request-Method", "POST"))
	require.Nil(t, e, "a preflight is answered by the proxy")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "https://x.example.org", resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "GET,POST", resp.Header.Get("Access-Control-Allow-Methods"))
	assert.Equal(t, "x-token", resp.Header.Get("Access-Control-Allow-Headers"))
	assert.Equal(t, "600", resp.Header.Get("Access-Control-Max-Age"))
	assert.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Credentials"))
	assert.Equal(t, before, g.backends["app"].hits.Load())

	resp, e = g.do(t, newRequest(t, "GET", "app.test", "/cors", "Origin", "https://app.example.com"))
	require.NotNil(t, e)
	assert.Equal(t, "https://app.example.com", resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "x-request-id", resp.Header.Get("Access-Control-Expose-Headers"))

	resp, e = g.do(t, newRequest(t, "GET", "app.test", "/cors", "Origin", "https://evil.test"))
	require.NotNil(t, e)
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

func TestTimeouts(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	for _, uri := range []string{"/slow", "/slow-backend"} {
		t.Run(uri, func(t *testing.T) {
			resp, e := g.do(t, newRequest(t, "GET", "app.test", uri, "x-echo-delay", "5s"))
			require.Nil(t, e)
			require.Equal(t, 504, resp.StatusCode)
		})
	}
	resp, e := g.do(t, newRequest(t, "GET", "app.test", "/slow", "x-echo-delay", "1ms"))
	require.NotNil(t, e)
	require.Equal(t, 200, resp.StatusCode)
}

func TestRetry(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	flaky := g.backends["flaky"]
	flaky.fail.Store(2)
	resp, e := g.do(t, newRequest(t, "GET", "app.test", "/retry"))
	require.NotNil(t, e)
	require.Equal(t, 200, resp.StatusCode)
	require.EqualValues(t, 3, flaky.hits.Load())

	flaky.fail.Store(10)
	flaky.hits.Store(0)
	resp, _ = g.do(t, newRequest(t, "GET", "app.test", "/retry"))
	require.Equal(t, 503, resp.StatusCode)
	require.EqualValues(t, 4, flaky.hits.Load(), "the first try and 3 retries")
}

func TestLocalRateLimit(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	var codes []int
	for range 5 {
		resp, _ := g.do(t, newRequest(t, "GET", "app.test", "/limited"))
		codes = append(codes, resp.StatusCode)
	}
	require.Equal(t, []int{200, 200, 200, 429, 429}, codes)
	resp, _ := g.do(t, newRequest(t, "GET", "app.test", "/exact"))
	require.Equal(t, 200, resp.StatusCode, "other routes are not limited")
}

func TestAccessLog(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	_, e := g.do(t, newRequest(t, "GET", "app.test", "/exact?x=1"))
	require.NotNil(t, e)
	g.do(t, newRequest(t, "GET", "other.test", "/"))
	g.do(t, newRequest(t, "GET", "app.test", "/empty"))
	var got []proxy.AccessLogEntry
	for len(got) < 3 {
		select {
		case l := <-g.logs:
			got = append(got, l)
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d access log entries", len(got))
		}
	}
	ok := got[0]
	assert.Equal(t, 200, ok.Status)
	assert.Equal(t, "-", ok.Flags)
	assert.Equal(t, "GET", ok.Method)
	assert.Equal(t, "/exact?x=1", ok.Path)
	assert.Equal(t, "app.test", ok.Authority)
	assert.Equal(t, "httproute/default/main/rule/1/match/0", ok.Route)
	assert.Equal(t, "default/canary:80", ok.Cluster)
	assert.Equal(t, g.backends["canary"].addr, ok.Upstream)
	assert.Equal(t, "default/gw/80", ok.Listener)
	assert.True(t, ok.Downstream.Addr().IsLoopback())
	assert.Equal(t, g.addr(t, 80), ok.DownstreamLocal.String())
	assert.Positive(t, ok.BytesSent)
	assert.Equal(t, 404, got[1].Status)
	assert.Equal(t, "NR", got[1].Flags)
	assert.Equal(t, 503, got[2].Status)
	assert.Equal(t, "UH", got[2].Flags)
}

// tlsClient trusts the test certificates and offers h2.
func (g *gateway) tlsClient(sni string) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range g.certs {
		pool.AppendCertsFromPEM(c)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: sni}, ForceAttemptHTTP2: true}
	return &http.Client{Transport: tr}
}

func TestHTTPS(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	addr := g.addr(t, 443)
	for _, sni := range []string{"a.secure.test", "b.secure.test"} {
		t.Run(sni, func(t *testing.T) {
			req, err := http.NewRequest("GET", "https://"+addr+"/path", nil)
			require.NoError(t, err)
			req.Host = sni
			resp, err := g.tlsClient(sni).Do(req)
			require.NoError(t, err, "the certificate for %s is chosen by SNI", sni)
			defer resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "HTTP/2.0", resp.Proto)
			assert.Equal(t, sni, resp.TLS.PeerCertificates[0].DNSNames[0])
			var e echo
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
			assert.Equal(t, "app", e.Backend)
			assert.Equal(t, "https", e.Header.Get("X-Forwarded-Proto"))
		})
	}
	t.Run("unknown SNI", func(t *testing.T) {
		_, err := g.tlsClient("other.test").Get("https://" + addr + "/")
		require.Error(t, err)
	})
	t.Run("passthrough", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "pass.test", InsecureSkipVerify: true})
		require.NoError(t, err)
		defer conn.Close()
		require.Equal(t, "pass.test", conn.ConnectionState().PeerCertificates[0].Subject.CommonName,
			"the backend's own certificate")
		_, err = io.WriteString(conn, "GET /through HTTP/1.1\r\nHost: pass.test\r\nConnection: close\r\n\r\n")
		require.NoError(t, err)
		body, err := io.ReadAll(conn)
		require.NoError(t, err)
		require.Contains(t, string(body), `"backend":"tls-backend"`)
		require.Contains(t, string(body), `"uri":"/through"`)
	})
}

func TestH2CDownstream(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	req, err := http.NewRequest("GET", "http://"+g.addr(t, 80)+"/exact", nil)
	require.NoError(t, err)
	req.Host = "app.test"
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "HTTP/2.0", resp.Proto)
	var e echo
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	require.Equal(t, "canary", e.Backend)
}

func TestStopDrainsRequestsInFlight(t *testing.T) {
	g := startGateway(t, proxy.Options{DrainTimeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	p2, err := proxy.New(proxy.Options{Bind: func(string, netip.AddrPort) netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:0") }})
	require.NoError(t, err)
	all, err := xds.Translate(g.ir, xds.Options{})
	require.NoError(t, err)
	require.NoError(t, p2.Load(all["default/gw"]))
	go func() { done <- p2.Start(ctx) }()
	addr := p2.ListenerAddr("default/gw/80").String()
	// A request in flight when the proxy stops is answered.
	got := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = "app.test"
		req.Header.Set("x-echo-delay", "300ms")
		resp, err := client.Do(req)
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return g.backends["app"].hits.Load() == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.Equal(t, 200, <-got)
	require.NoError(t, <-done)
	_, err = net.Dial("tcp", addr)
	require.Error(t, err, "the listener is closed")
}

// TestUpstreamClosesIdleConnections: a pooled connection the backend has
// closed is not used for the next request; a bodiless POST, which is not
// retried on another connection, tells.
func TestUpstreamClosesIdleConnections(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	for _, method := range []string{"GET", "POST", "POST"} {
		resp, e := g.do(t, newRequest(t, method, "app.test", "/exact"))
		require.Equal(t, 200, resp.StatusCode)
		require.NotNil(t, e)
		time.Sleep(100 * time.Millisecond) // the backend closes the idle connection
	}
	require.EqualValues(t, 3, g.backends["canary"].hits.Load())
}

func TestUpgrade(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	conn, err := net.Dial("tcp", g.addr(t, 80))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /chat HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	_, err = io.WriteString(conn, "ping\n")
	require.NoError(t, err)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ping\n", line, "bytes flow both ways after the upgrade")
}

// TestGRPC: grpc-go through the proxy (h2c both ways), unary and
// server-streaming calls, trailers included.
func TestGRPC(t *testing.T) {
	g := startGateway(t, proxy.Options{})
	conn, err := grpc.NewClient(g.addr(t, 80), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("grpc.test"))
	require.NoError(t, err)
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "eniway"})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.Status)

	_, err = hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "unknown"})
	require.Equal(t, codes.NotFound, status.Code(err), "a gRPC status in the trailers comes through")

	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "eniway"})
	require.NoError(t, err)
	first, err := w.Recv()
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, first.Status, "a stream's first message arrives while it stays open")
}
