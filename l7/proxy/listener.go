package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	localratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"

	"github.com/eniway/eniway/l7/xds"
)

// listenerConfig is a compiled Listener.
type listenerConfig struct {
	name    string
	addr    netip.AddrPort
	inspect bool // tls_inspector: chains are chosen by SNI and transport
	chains  []*filterChain
}

// filterChain is a compiled FilterChain: an HTTP connection manager
// (possibly behind TLS) or a TCP proxy.
type filterChain struct {
	name        string
	serverNames []string // lower case; "*.example.com" wildcards
	transport   string   // "", "tls" or "raw_buffer"
	tls         *tlsContext
	http        *httpChain
	tcp         *tcpProxy
}

type tlsContext struct {
	sds    []string          // SDS secret names
	inline []tls.Certificate // inline certificates
	alpn   []string
}

// httpChain is a compiled HttpConnectionManager.
type httpChain struct {
	listener   string
	statPrefix string
	rds        string
	cors       bool     // the CORS filter is in the chain
	rateLimit  bool     // the local rate limit filter is in the chain
	limit      *limiter // its own bucket, nil when it has none
	xff        bool     // use_remote_address
	normalize  bool
	upgrades   []string // lower case
	accessLog  *jsonFormat
}

type tcpProxy struct {
	cluster  string
	weighted []weightedCluster
	total    uint64
}

// compileListener compiles a Listener; the secrets its TLS chains name are
// looked up at handshake time.
func compileListener(l *listenerv3.Listener) (*listenerConfig, error) {
	if err := checkFields(l, ""); err != nil {
		return nil, err
	}
	sa := l.GetAddress().GetSocketAddress()
	if sa == nil {
		return nil, invalid("address", errors.New("not a socket address"))
	}
	addr, err := netip.ParseAddr(sa.GetAddress())
	if err != nil {
		return nil, invalid("address.socket_address.address", err)
	}
	out := &listenerConfig{name: l.GetName(), addr: netip.AddrPortFrom(addr, uint16(sa.GetPortValue()))}
	for i, f := range l.GetListenerFilters() {
		at := fmt.Sprintf("listener_filters[%d]", i)
		if f.GetName() != wellknown.TLSInspector {
			return nil, unsupported(at, "listener filter %q", f.GetName())
		}
		if f.GetTypedConfig() != nil {
			if err := unpack(f.GetTypedConfig(), &tlsinspectorv3.TlsInspector{}, at+".typed_config"); err != nil {
				return nil, err
			}
		}
		out.inspect = true
	}
	for i, fc := range l.GetFilterChains() {
		c, err := compileChain(l.GetName(), fc, fmt.Sprintf("filter_chains[%d]", i))
		if err != nil {
			return nil, err
		}
		out.chains = append(out.chains, c)
	}
	if len(out.chains) == 0 {
		return nil, invalid("filter_chains", errors.New("no filter chain"))
	}
	return out, nil
}

func compileChain(listener string, fc *listenerv3.FilterChain, at string) (*filterChain, error) {
	c := &filterChain{name: fc.GetName(), transport: fc.GetFilterChainMatch().GetTransportProtocol()}
	for _, n := range fc.GetFilterChainMatch().GetServerNames() {
		c.serverNames = append(c.serverNames, strings.ToLower(n))
	}
	if ts := fc.GetTransportSocket(); ts != nil {
		tat := at + ".transport_socket"
		if ts.GetName() != wellknown.TransportSocketTLS {
			return nil, unsupported(tat, "transport socket %q", ts.GetName())
		}
		dt := &tlsv3.DownstreamTlsContext{}
		if err := unpack(ts.GetTypedConfig(), dt, tat+".typed_config"); err != nil {
			return nil, err
		}
		tc := &tlsContext{alpn: dt.GetCommonTlsContext().GetAlpnProtocols()}
		for _, s := range dt.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
			tc.sds = append(tc.sds, s.GetName())
		}
		for j, cert := range dt.GetCommonTlsContext().GetTlsCertificates() {
			kp, err := keyPair(cert)
			if err != nil {
				return nil, invalid(fmt.Sprintf("%s.typed_config.common_tls_context.tls_certificates[%d]", tat, j), err)
			}
			tc.inline = append(tc.inline, kp)
		}
		if len(tc.sds) == 0 && len(tc.inline) == 0 {
			return nil, invalid(tat, errors.New("TLS without a certificate"))
		}
		c.tls = tc
	}
	if len(fc.GetFilters()) != 1 {
		return nil, unsupported(at+".filters", "%d network filters (exactly one, the HTTP connection manager or the TCP proxy)", len(fc.GetFilters()))
	}
	f := fc.GetFilters()[0]
	fat := at + ".filters[0].typed_config"
	switch f.GetName() {
	case wellknown.HTTPConnectionManager:
		h := &hcmv3.HttpConnectionManager{}
		if err := unpack(f.GetTypedConfig(), h, fat); err != nil {
			return nil, err
		}
		hc, err := compileHCM(listener, h, fat)
		if err != nil {
			return nil, err
		}
		c.http = hc
	case wellknown.TCPProxy:
		if c.tls != nil {
			return nil, unsupported(at, "a TCP proxy behind TLS termination")
		}
		tp := &tcpproxyv3.TcpProxy{}
		if err := unpack(f.GetTypedConfig(), tp, fat); err != nil {
			return nil, err
		}
		t := &tcpProxy{cluster: tp.GetCluster()}
		for _, w := range tp.GetWeightedClusters().GetClusters() {
			t.weighted = append(t.weighted, weightedCluster{name: w.GetName(), weight: uint64(w.GetWeight())})
			t.total += uint64(w.GetWeight())
		}
		if t.cluster == "" && t.total == 0 {
			return nil, invalid(fat, errors.New("no cluster"))
		}
		c.tcp = t
	default:
		return nil, unsupported(at+".filters[0]", "network filter %q", f.GetName())
	}
	return c, nil
}

func compileHCM(listener string, h *hcmv3.HttpConnectionManager, at string) (*httpChain, error) {
	if h.GetCodecType() != hcmv3.HttpConnectionManager_AUTO {
		return nil, unsupported(at+".codec_type", "codec type %s (AUTO only)", h.GetCodecType())
	}
	hc := &httpChain{
		listener:   listener,
		statPrefix: h.GetStatPrefix(),
		rds:        h.GetRds().GetRouteConfigName(),
		xff:        h.GetUseRemoteAddress().GetValue(),
		normalize:  h.GetNormalizePath().GetValue(),
	}
	if hc.rds == "" {
		return nil, invalid(at+".rds.route_config_name", errors.New("empty"))
	}
	for _, u := range h.GetUpgradeConfigs() {
		hc.upgrades = append(hc.upgrades, strings.ToLower(u.GetUpgradeType()))
	}
	filters := h.GetHttpFilters()
	for i, f := range filters {
		fat := fmt.Sprintf("%s.http_filters[%d]", at, i)
		if f.GetName() == wellknown.Router && i != len(filters)-1 {
			return nil, invalid(fat, errors.New("the router must be the last HTTP filter"))
		}
		switch f.GetName() {
		case wellknown.Router:
			if f.GetTypedConfig() != nil {
				if err := unpack(f.GetTypedConfig(), &routerv3.Router{}, fat+".typed_config"); err != nil {
					return nil, err
				}
			}
		case wellknown.CORS:
			if f.GetTypedConfig() != nil {
				if err := unpack(f.GetTypedConfig(), &corsv3.Cors{}, fat+".typed_config"); err != nil {
					return nil, err
				}
			}
			hc.cors = true
		case xds.LocalRateLimitFilter:
			l := &localratelimitv3.LocalRateLimit{}
			if err := unpack(f.GetTypedConfig(), l, fat+".typed_config"); err != nil {
				return nil, err
			}
			lim, err := compileLimiter(l, fat+".typed_config")
			if err != nil {
				return nil, err
			}
			hc.rateLimit, hc.limit = true, lim
		default:
			return nil, unsupported(fat, "HTTP filter %q", f.GetName())
		}
	}
	if len(filters) == 0 || filters[len(filters)-1].GetName() != wellknown.Router {
		return nil, invalid(at+".http_filters", errors.New("the last HTTP filter must be the router"))
	}
	for i, al := range h.GetAccessLog() {
		aat := fmt.Sprintf("%s.access_log[%d]", at, i)
		if i > 0 {
			return nil, unsupported(aat, "more than one access log")
		}
		f, err := compileAccessLog(al, aat)
		if err != nil {
			return nil, err
		}
		hc.accessLog = f
	}
	return hc, nil
}

func compileAccessLog(al *accesslogv3.AccessLog, at string) (*jsonFormat, error) {
	if al.GetName() != xds.StdoutAccessLogger {
		return nil, unsupported(at, "access logger %q", al.GetName())
	}
	s := &streamv3.StdoutAccessLog{}
	if err := unpack(al.GetTypedConfig(), s, at+".typed_config"); err != nil {
		return nil, err
	}
	j := s.GetLogFormat().GetJsonFormat()
	if j == nil {
		return nil, unsupported(at+".typed_config.log_format", "an access log format other than json_format")
	}
	return compileJSONFormat(j, at+".typed_config.log_format.json_format")
}

// choose picks the filter chain of a connection the way Envoy orders the
// match criteria it implements: server name (exact, then the longest
// wildcard, then chains without server names), then transport protocol.
func (l *listenerConfig) choose(sni string, isTLS bool) *filterChain {
	sni = strings.ToLower(sni)
	transportOK := func(c *filterChain) bool {
		switch c.transport {
		case "tls":
			return isTLS
		case "raw_buffer":
			return !isTLS
		}
		return true
	}
	var best *filterChain
	bestRank := -1
	for _, c := range l.chains {
		if !transportOK(c) {
			continue
		}
		rank := -1
		if len(c.serverNames) == 0 {
			rank = 0
		}
		for _, n := range c.serverNames {
			switch {
			case n == sni:
				rank = max(rank, 1<<20)
			case strings.HasPrefix(n, "*.") && len(sni) > len(n)-1 && strings.HasSuffix(sni, n[1:]):
				rank = max(rank, len(n))
			}
		}
		if rank > bestRank {
			best, bestRank = c, rank
		}
	}
	return best
}

// listenerRuntime is a bound listener: its socket, the configuration it
// serves (swapped atomically by updates, so a changed Listener keeps its
// socket) and the HTTP server its HTTP chains share.
type listenerRuntime struct {
	p    *Proxy
	name string
	bind netip.AddrPort
	ln   net.Listener
	cfg  atomic.Pointer[listenerConfig]
	srv  *http.Server
	http *connQueue

	serving   sync.Once
	done      chan struct{}
	closeOnce sync.Once
	tcpConns  sync.WaitGroup
}

func (p *Proxy) bindListener(cfg *listenerConfig, bind netip.AddrPort) (*listenerRuntime, error) {
	ln, err := net.Listen("tcp", bind.String())
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBind, bind, err)
	}
	lr := &listenerRuntime{p: p, name: cfg.name, bind: bind, ln: ln, http: newConnQueue(ln.Addr()), done: make(chan struct{})}
	lr.cfg.Store(cfg)
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	lr.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serveHTTP),
		Protocols:         protos,
		ReadHeaderTimeout: time.Minute,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    60 << 10,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				c = tc.NetConn()
			}
			if cc, ok := c.(*chainConn); ok {
				return context.WithValue(ctx, chainKey{}, cc)
			}
			return ctx
		},
	}
	return lr, nil
}

// Addr is the address the listener is bound to.
func (lr *listenerRuntime) Addr() net.Addr { return lr.ln.Addr() }

// serve starts the accept loop and the HTTP server, once.
func (lr *listenerRuntime) serve() {
	lr.serving.Do(func() {
		go func() { _ = lr.srv.Serve(lr.http) }()
		go lr.accept()
	})
}

func (lr *listenerRuntime) accept() {
	for {
		c, err := lr.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			lr.p.log.Warn("accept failed", "listener", lr.name, "error", err)
			select {
			case <-lr.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		cfg := lr.cfg.Load()
		if !cfg.inspect {
			lr.dispatch(cfg.chains[0], c, nil, "", false)
			continue
		}
		go lr.inspect(cfg, c)
	}
}

// inspect reads the TLS ClientHello (if any) of a connection, chooses its
// chain and replays what it read.
func (lr *listenerRuntime) inspect(cfg *listenerConfig, c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	sni, isTLS, prefix, err := sniff(c)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		lr.p.log.Debug("listener filter failed", "listener", lr.name, "error", err)
		_ = c.Close()
		return
	}
	chain := cfg.choose(sni, isTLS)
	if chain == nil {
		lr.p.log.Debug("no filter chain matches", "listener", lr.name, "sni", sni, "tls", isTLS)
		_ = c.Close()
		return
	}
	lr.dispatch(chain, c, prefix, sni, isTLS)
}

func (lr *listenerRuntime) dispatch(chain *filterChain, c net.Conn, prefix []byte, sni string, isTLS bool) {
	cc := &chainConn{Conn: c, prefix: prefix, chain: chain, lr: lr, cfg: lr.cfg.Load(), sni: sni, isTLS: isTLS}
	switch {
	case chain.tcp != nil:
		lr.tcpConns.Add(1)
		go func() {
			defer lr.tcpConns.Done()
			lr.p.proxyTCP(chain, cc)
		}()
	case chain.tls != nil:
		lr.http.push(tls.Server(cc, lr.p.tlsConfig(chain.tls)))
	default:
		lr.http.push(cc)
	}
}

// close stops accepting and drains the HTTP server for up to timeout.
func (lr *listenerRuntime) close(timeout time.Duration) {
	lr.closeOnce.Do(func() {
		close(lr.done)
		_ = lr.ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := lr.srv.Shutdown(ctx); err != nil {
			_ = lr.srv.Close()
		}
		lr.http.close()
	})
}

type chainKey struct{}

// chainConn is a downstream connection with the bytes a listener filter
// already read from it and the chain it was given to.
type chainConn struct {
	net.Conn
	prefix []byte
	lr     *listenerRuntime
	sni    string
	isTLS  bool

	mu    sync.Mutex
	cfg   *listenerConfig // the configuration chain was chosen from
	chain *filterChain
}

// current is the connection's chain in the listener's configuration in
// force: a Listener update applies to the next request of an open
// connection, chosen again by the same server name and transport. Nil
// means the new configuration has no chain for it (and the connection
// gets an error).
func (c *chainConn) current() *filterChain {
	cfg := c.lr.cfg.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg != c.cfg {
		c.cfg = cfg
		if cfg.inspect {
			c.chain = cfg.choose(c.sni, c.isTLS)
		} else {
			c.chain = cfg.chains[0]
		}
	}
	return c.chain
}

func (c *chainConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// connQueue is the net.Listener the HTTP server of a listener serves: the
// accept loop pushes the connections its chains terminate.
type connQueue struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) {
	select {
	case q.ch <- c:
	case <-q.closed:
		_ = c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.closed:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) close()         { q.once.Do(func() { close(q.closed) }) }
func (q *connQueue) Close() error   { q.close(); return nil }
func (q *connQueue) Addr() net.Addr { return q.addr }

// errSniffed ends the handshake sniff once the ClientHello is parsed.
var errSniffed = errors.New("client hello read")

// sniff reads a connection's TLS ClientHello with crypto/tls, without
// answering it: it returns the server name, whether the connection speaks
// TLS, and the bytes read, to be replayed to the chain.
func sniff(c net.Conn) (sni string, isTLS bool, read []byte, err error) {
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		return "", false, nil, err
	}
	if first[0] != 0x16 { // not a TLS handshake record
		return "", false, first[:], nil
	}
	rec := &recordingConn{Conn: c}
	rec.buf.Write(first[:])
	rec.replay = 1
	hs := tls.Server(rec, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni = h.ServerName
		return nil, errSniffed
	}})
	err = hs.Handshake()
	if !errors.Is(err, errSniffed) {
		return "", true, nil, fmt.Errorf("read client hello: %w", err)
	}
	return sni, true, rec.buf.Bytes(), nil
}

// recordingConn records what is read and discards what is written (the
// sniffing handshake's alert).
type recordingConn struct {
	net.Conn
	buf    bytes.Buffer
	replay int // bytes of buf to return before reading the connection
	off    int
}

func (r *recordingConn) Read(b []byte) (int, error) {
	if r.off < r.replay {
		n := copy(b, r.buf.Bytes()[r.off:r.replay])
		r.off += n
		return n, nil
	}
	n, err := r.Conn.Read(b)
	r.buf.Write(b[:n])
	r.off += n
	r.replay = r.off
	return n, err
}

func (r *recordingConn) Write(b []byte) (int, error) { return len(b), nil }

// tlsConfig is the server TLS configuration of a chain: the certificates
// come from the secrets in force at handshake time.
func (p *Proxy) tlsConfig(tc *tlsContext) *tls.Config {
	alpn := tc.alpn
	if len(alpn) == 0 {
		alpn = []string{"h2", "http/1.1"}
	}
	return &tls.Config{
		NextProtos: alpn,
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			st := p.state.Load()
			var certs []*tls.Certificate
			for _, name := range tc.sds {
				if c := st.secrets[name]; c != nil {
					certs = append(certs, c)
				}
			}
			for i := range tc.inline {
				certs = append(certs, &tc.inline[i])
			}
			if len(certs) == 0 {
				return nil, fmt.Errorf("no certificate: secrets %v not received", tc.sds)
			}
			for _, c := range certs {
				if h.SupportsCertificate(c) == nil {
					return c, nil
				}
			}
			return certs[0], nil
		},
	}
}

var _ = slices.Contains[[]string]
