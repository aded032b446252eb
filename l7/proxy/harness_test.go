package proxy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/manifest"
	"github.com/eniway/eniway/internal/testutils"
	"github.com/eniway/eniway/l7/proxy"
	"github.com/eniway/eniway/l7/xds"
)

// echo is what a test backend answers: the request as it arrived.
type echo struct {
	Backend string      `json:"backend"`
	Method  string      `json:"method"`
	URI     string      `json:"uri"`
	Host    string      `json:"host"`
	Proto   string      `json:"proto"`
	Header  http.Header `json:"header"`
	Body    string      `json:"body"`
}

// backend is a local test backend. It answers with an echo; the request
// headers x-echo-status and x-echo-delay set its status and delay it.
type backend struct {
	name string
	addr netip.AddrPort
	hits atomic.Int64
	// fail answers 503 to this many requests first.
	fail atomic.Int64
	// seen receives every request (buffered; extra ones dropped).
	seen chan echo
}

func startBackend(t testing.TB, name string, h2c bool, tweak ...func(*http.Server)) *backend {
	t.Helper()
	b := &backend{name: name, seen: make(chan echo, 1024)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b.addr = ln.Addr().(*net.TCPAddr).AddrPort()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			upgrade(w)
			return
		}
		body, _ := io.ReadAll(r.Body)
		e := echo{Backend: name, Method: r.Method, URI: r.RequestURI, Host: r.Host, Proto: r.Proto, Header: r.Header, Body: string(body)}
		select {
		case b.seen <- e:
		default:
		}
		if d, err := time.ParseDuration(r.Header.Get("x-echo-delay")); err == nil {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("x-echo-secret", "1")
		w.Header().Set("Content-Type", "application/json")
		if b.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if s, err := strconv.Atoi(r.Header.Get("x-echo-status")); err == nil {
			w.WriteHeader(s)
		}
		_ = json.NewEncoder(w).Encode(e)
	})}
	if h2c {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	for _, f := range tweak {
		f(srv)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return b
}

// certificate is a self-signed certificate for names.
func certificate(t testing.TB, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// gateway is the semantics Gateway served by a proxy on loopback.
type gateway struct {
	p        *proxy.Proxy
	backends map[string]*backend // by Service name
	ir       *gatewayapi.IR
	certs    map[string][]byte // certificate PEM by secret name
	logs     chan proxy.AccessLogEntry
}

// semanticsIR translates testdata/semantics.yaml with the test's
// certificates and backends.
func semanticsIR(t testing.TB, g *gateway) {
	t.Helper()
	in, err := manifest.Load("testdata/semantics.yaml")
	require.NoError(t, err)
	g.certs = map[string][]byte{}
	for secret, names := range map[string][]string{"secure-a": {"a.secure.test"}, "secure-b": {"b.secure.test"}} {
		c, k := certificate(t, names...)
		g.certs[secret] = c
		in.Secrets = append(in.Secrets, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: "default"},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{corev1.TLSCertKey: c, corev1.TLSPrivateKeyKey: k},
		})
	}
	res, err := gatewayapi.Translate(in, gatewayapi.Options{})
	// The two references to the Service "missing" are the only errors.
	var oe *gatewayapi.ObjectError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		require.ErrorAs(t, e, &oe)
		require.ErrorIs(t, e, gatewayapi.ErrNotFound)
	}
	g.ir = res.IR
	for _, b := range g.ir.Backends {
		if be := g.backends[b.Service]; be != nil {
			b.Endpoints = []gatewayapi.Endpoint{{Addr: be.addr}}
		}
	}
}

func startGateway(t testing.TB, opts proxy.Options) *gateway {
	t.Helper()
	g := &gateway{backends: map[string]*backend{}, logs: make(chan proxy.AccessLogEntry, 4096)}
	for _, name := range []string{"app", "mirror", "flaky"} {
		g.backends[name] = startBackend(t, name, false)
	}
	// canary also closes connections idle for 20 ms.
	g.backends["canary"] = startBackend(t, "canary", false, func(s *http.Server) { s.IdleTimeout = 20 * time.Millisecond })
	g.backends["grpc"] = startBackend(t, "grpc", true)
	g.backends["tls-backend"] = startTLSBackend(t)
	g.backends["health"] = startHealthBackend(t)
	semanticsIR(t, g)
	opts.Bind = func(string, netip.AddrPort) netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:0") }
	opts.AccessLog = func(e *proxy.AccessLogEntry) {
		select {
		case g.logs <- *e:
		default:
		}
	}
	p, err := proxy.New(opts)
	require.NoError(t, err)
	g.p = p
	if opts.Server == "" {
		all, err := xds.Translate(g.ir, xds.Options{})
		require.NoError(t, err)
		require.NoError(t, p.Load(all["default/gw"]))
	}
	testutils.Run(t, p.Start)
	return g
}

// addr is the bound address of the Gateway's listener on port.
func (g *gateway) addr(t *testing.T, port int) string {
	t.Helper()
	a := g.p.ListenerAddr("default/gw/" + strconv.Itoa(port))
	require.NotNil(t, a, "listener of port %d", port)
	return a.String()
}

// client is an HTTP/1.1 client that never follows redirects.
var client = &http.Client{
	Transport:     &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// do sends a request to the HTTP port and returns the response and, when
// a backend answered, its echo.
func (g *gateway) do(t *testing.T, req *http.Request) (*http.Response, *echo) {
	t.Helper()
	req.URL.Scheme = "http"
	req.URL.Host = g.addr(t, 80)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var e echo
	if json.Unmarshal(body, &e) == nil && e.Backend != "" {
		return resp, &e
	}
	return resp, nil
}

func newRequest(t *testing.T, method, host, uri string, hdr ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "http://placeholder"+uri, nil)
	require.NoError(t, err)
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return req
}

// startTLSBackend is a TCP backend speaking TLS as pass.test, answering
// every connection with its name over HTTP/1.1.
func startTLSBackend(t testing.TB) *backend {
	t.Helper()
	c, k := certificate(t, "pass.test")
	kp, err := tls.X509KeyPair(c, k)
	require.NoError(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{kp}})
	require.NoError(t, err)
	b := &backend{name: "tls-backend", addr: ln.Addr().(*net.TCPAddr).AddrPort(), seen: make(chan echo, 16)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		_ = json.NewEncoder(w).Encode(echo{Backend: "tls-backend", URI: r.RequestURI, Host: r.Host, Proto: r.Proto})
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return b
}

// upgrade switches to an echo of whatever the client sends.
func upgrade(w http.ResponseWriter) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	_ = rw.Flush()
	_, _ = io.Copy(conn, rw)
}

// startHealthBackend is a gRPC server with the standard health service,
// over h2c.
func startHealthBackend(t testing.TB) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("eniway", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return &backend{name: "health", addr: ln.Addr().(*net.TCPAddr).AddrPort(), seen: make(chan echo, 1)}
}
