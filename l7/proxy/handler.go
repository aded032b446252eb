package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// retryBodyLimit is the largest request body buffered so that it can be
// sent again (Envoy's default per-request buffer limit is 1 MiB too);
// longer bodies are sent once.
const retryBodyLimit = 1 << 20

// decision is what the router decided for a request, carried in its
// context to the reverse proxy and its transport.
type decision struct {
	chain   *httpChain
	vhost   string
	route   *route
	cluster *cluster
	wc      *weightedCluster
	path    string // escaped upstream path when rewritten
	host    string
	xff     string // X-Forwarded-For to send
	proto   string // X-Forwarded-Proto
	reqID   string
	mirror  bool // a shadow request: no access log, no mirrors

	body      []byte // the buffered body, for retries and mirrors
	buffered  bool
	upstream  netip.AddrPort
	flags     string
	timedOut  atomic.Bool // the route timeout fired
	corsAllow string      // the Origin to allow in the response
}

type decisionKey struct{}

// statusWriter counts the response and remembers its status.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts the request body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

var writerPool = sync.Pool{New: func() any { return &statusWriter{} }}

// serveHTTP is the HTTP connection manager and its filters: route
// selection, CORS, local rate limiting and the router.
func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	var fc *filterChain
	if cc, _ := r.Context().Value(chainKey{}).(*chainConn); cc != nil {
		fc = cc.current()
	}
	if fc == nil || fc.http == nil {
		http.Error(w, "no filter chain", http.StatusInternalServerError)
		return
	}
	hc := fc.http
	sw := writerPool.Get().(*statusWriter)
	*sw = statusWriter{ResponseWriter: w}
	d := &decision{chain: hc}
	logged := p.opts.AccessLog != nil || hc.accessLog != nil
	var start time.Time
	var body *countingBody
	if logged {
		start = time.Now()
		if r.Body != nil && r.Body != http.NoBody {
			body = &countingBody{ReadCloser: r.Body}
			r.Body = body
		}
	}
	defer func() {
		rec := recover()
		if rec != nil {
			d.flags = cmp2(d.flags, "DC")
		}
		if logged {
			p.logAccess(hc, r, d, sw, body, start)
		}
		*sw = statusWriter{}
		writerPool.Put(sw)
		if rec != nil {
			panic(rec)
		}
	}()
	p.route(sw, r, d)
}

func cmp2(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (p *Proxy) logAccess(hc *httpChain, r *http.Request, d *decision, sw *statusWriter, body *countingBody, start time.Time) {
	e := AccessLogEntry{Start: start, Duration: time.Since(start), Listener: hc.listener, RouteConfig: hc.rds,
		VirtualHost: d.vhost, Method: r.Method, Authority: r.Host, Path: r.RequestURI, Protocol: r.Proto,
		Status: sw.status, Flags: cmp2(d.flags, "-"), BytesSent: sw.bytes, Upstream: d.upstream, RequestID: d.reqID}
	if d.route != nil {
		e.Route = d.route.name
	}
	if body != nil {
		e.BytesReceived = body.n
	}
	if d.cluster != nil {
		e.Cluster = d.cluster.name
	}
	e.Downstream, _ = netip.ParseAddrPort(r.RemoteAddr)
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		e.DownstreamLocal = a.AddrPort()
	}
	if p.opts.AccessLog != nil {
		p.opts.AccessLog(&e)
	}
	if hc.accessLog != nil {
		line := hc.accessLog.format(&e)
		p.logMu.Lock()
		_, _ = p.opts.AccessLogOutput.Write(line)
		p.logMu.Unlock()
	}
}

// hostOf is the request's host in lower case without a port, for virtual
// host selection (ignore_port_in_host_matching).
func hostOf(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.ToLower(h)
}

func (p *Proxy) route(w *statusWriter, r *http.Request, d *decision) {
	hc := d.chain
	st := p.state.Load()
	rc := st.routes[hc.rds]
	path := r.URL.EscapedPath()
	if hc.normalize {
		path = removeDotSegments(path)
	}
	var rt *route
	if rc != nil {
		if vh := rc.virtualHost(hostOf(r.Host)); vh != nil {
			d.vhost = vh.name
			rt = vh.route(r, path)
		}
	}
	if rt == nil {
		d.flags = "NR"
		w.WriteHeader(http.StatusNotFound)
		return
	}
	d.route = rt
	// CORS.
	if hc.cors && rt.cors != nil {
		if origin := r.Header.Get("Origin"); origin != "" && rt.cors.allows(origin) {
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				rt.cors.preflight(w.Header(), origin)
				w.WriteHeader(http.StatusOK)
				return
			}
			d.corsAllow = origin
		}
	}
	// Local rate limiting: the route's bucket, else the filter's.
	if hc.rateLimit {
		lim := rt.limit
		if lim == nil {
			lim = hc.limit
		}
		if !lim.allow(time.Now()) {
			d.flags = "RL"
			rt.respHeaders.apply(w.Header())
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(lim.status)
			_, _ = io.WriteString(w, "local_rate_limited")
			return
		}
	}
	switch {
	case rt.direct != nil:
		p.respond(w, d, rt.direct.status, rt.direct.body)
	case rt.redirect != nil:
		rt.respHeaders.apply(w.Header())
		d.cors(w.Header(), rt)
		w.Header().Set("Location", rt.redirect.location(r, path, &rt.match))
		w.WriteHeader(rt.redirect.code)
	default:
		p.forward(w, r, d, st, path)
	}
}

// respond sends a local reply with the route's response headers.
func (p *Proxy) respond(w *statusWriter, d *decision, status int, body string) {
	if d.route != nil {
		d.route.respHeaders.apply(w.Header())
		d.cors(w.Header(), d.route)
	}
	if body != "" {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	if body != "" {
		_, _ = io.WriteString(w, body)
	}
}

func (d *decision) cors(h http.Header, rt *route) {
	if d.corsAllow == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", d.corsAllow)
	if rt.cors.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if rt.cors.expose != "" {
		h.Set("Access-Control-Expose-Headers", rt.cors.expose)
	}
}

func (c *corsPolicy) allows(origin string) bool {
	for _, o := range c.origins {
		if o.match(origin) {
			return true
		}
	}
	return false
}

func (c *corsPolicy) preflight(h http.Header, origin string) {
	h.Set("Access-Control-Allow-Origin", origin)
	if c.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if c.methods != "" {
		h.Set("Access-Control-Allow-Methods", c.methods)
	}
	if c.headers != "" {
		h.Set("Access-Control-Allow-Headers", c.headers)
	}
	if c.maxAge != "" {
		h.Set("Access-Control-Max-Age", c.maxAge)
	}
}

// location builds a redirect's Location.
func (a *redirectAction) location(r *http.Request, path string, m *routeMatch) string {
	scheme := scheme(r)
	if a.scheme != "" {
		scheme = a.scheme
	}
	host := r.Host
	port := ""
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		host, port = h, p
	}
	if a.host != "" {
		host = a.host
	}
	if a.port != 0 {
		port = strconv.Itoa(int(a.port))
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	query := r.URL.RawQuery
	switch {
	case a.path != "":
		path = a.path
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path, query = path[:i], path[i+1:]
		}
	case a.prefix != nil:
		path = *a.prefix + strings.TrimPrefix(path, m.prefixOf(path))
	case a.rewrite != nil:
		path = a.rewrite.apply(path)
	}
	if a.stripQuery {
		query = ""
	}
	u := scheme + "://" + host
	if port != "" {
		u = scheme + "://" + net.JoinHostPort(host, port)
	}
	u += path
	if query != "" {
		u += "?" + query
	}
	return u
}

// prefixOf is the part of path a prefix_rewrite replaces: the matched
// prefix, or the whole path for an exact match.
func (m *routeMatch) prefixOf(path string) string {
	switch m.kind {
	case pathPrefix, pathSeparated:
		return path[:len(m.path)]
	case pathExact:
		return path
	}
	return ""
}

// forward is the router: cluster choice, mirrors, rewrites, then the
// reverse proxy with retries and timeouts.
func (p *Proxy) forward(w *statusWriter, r *http.Request, d *decision, st *state, path string) {
	rt := d.route
	fa := rt.forward
	name := fa.cluster
	if fa.weighted != nil {
		n := rand.Uint64N(fa.total)
		for i := range fa.weighted {
			if n < fa.weighted[i].weight {
				d.wc = &fa.weighted[i]
				break
			}
			n -= fa.weighted[i].weight
		}
		name = d.wc.name
	}
	d.cluster = st.clusters[name]
	if d.cluster == nil {
		d.flags = "NC"
		p.respond(w, d, fa.notFound, "")
		return
	}
	// Upstream path and host.
	switch {
	case fa.prefixRewrite != "" && rt.match.kind != pathRegex:
		d.path = fa.prefixRewrite + strings.TrimPrefix(path, rt.match.prefixOf(path))
		if d.path == "" {
			d.path = "/"
		}
	case fa.rewrite != nil:
		d.path = fa.rewrite.apply(path)
	case path != r.URL.EscapedPath():
		d.path = path // normalized
	}
	d.host = r.Host
	if fa.host != "" {
		d.host = fa.host
	}
	d.proto = scheme(r)
	if d.chain.xff {
		ip := r.RemoteAddr
		if h, _, err := net.SplitHostPort(ip); err == nil {
			ip = h
		}
		if prior := r.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			d.xff = strings.Join(prior, ", ") + ", " + ip
		} else {
			d.xff = ip
		}
	} else {
		d.xff = strings.Join(r.Header.Values("X-Forwarded-For"), ", ")
	}
	d.reqID = r.Header.Get("X-Request-Id")
	if d.reqID == "" {
		d.reqID = newRequestID()
	}
	// Bodies are buffered for retries and mirrors.
	mirrors := p.sampleMirrors(fa, st)
	if r.Body != nil && r.Body != http.NoBody && (len(mirrors) > 0 || (fa.retry != nil && fa.retry.attempts > 0)) &&
		r.ContentLength <= retryBodyLimit {
		buf, err := io.ReadAll(io.LimitReader(r.Body, retryBodyLimit+1))
		if err != nil {
			d.flags = "DC"
			return
		}
		if len(buf) <= retryBodyLimit {
			d.body, d.buffered = buf, true
			r.Body = io.NopCloser(bytes.NewReader(buf))
		} else {
			r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		}
	} else if r.Body == nil || r.Body == http.NoBody {
		d.buffered = true
	}
	for _, m := range mirrors {
		p.mirror(r, d, m)
	}
	// Upgrades other than the configured ones are not passed on.
	if up := r.Header.Get("Upgrade"); up != "" && !containsFold(d.chain.upgrades, up) {
		r.Header.Del("Upgrade")
	}
	ctx := r.Context()
	if fa.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		t := time.AfterFunc(fa.timeout, func() { d.timedOut.Store(true); cancel() })
		defer func() { t.Stop(); cancel() }()
	}
	if r.Header.Get("Upgrade") != "" {
		// Protocol upgrades take the reverse proxy, which hijacks the
		// connection and copies both ways.
		p.rp.ServeHTTP(w, r.WithContext(context.WithValue(ctx, decisionKey{}, d)))
		return
	}
	p.send(w, r, d, ctx)
}

type readCloser struct {
	io.Reader
	io.Closer
}

func containsFold(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

// newRequestID is a random (version 4) UUID, as Envoy generates for
// x-request-id; it needs to be unique, not secret.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

func (p *Proxy) sampleMirrors(fa *forwardAction, st *state) []*cluster {
	var out []*cluster
	for _, m := range fa.mirrors {
		if c := st.clusters[m.cluster]; c != nil && sampled(m.millionths) {
			out = append(out, c)
		}
	}
	return out
}

// mirror sends a shadow copy of the request to a cluster, with "-shadow"
// appended to its host as Envoy does, and ignores the answer.
func (p *Proxy) mirror(r *http.Request, d *decision, c *cluster) {
	if !d.buffered {
		return // the body is too long to copy
	}
	md := &decision{chain: d.chain, route: d.route, cluster: c, path: d.path, host: d.host, xff: d.xff, proto: d.proto,
		reqID: d.reqID, mirror: true, body: d.body, buffered: true}
	if h, port, err := net.SplitHostPort(md.host); err == nil {
		md.host = net.JoinHostPort(h+"-shadow", port)
	} else {
		md.host += "-shadow"
	}
	timeout := d.route.forward.timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	mr := r.Clone(ctx)
	mr.Body = io.NopCloser(bytes.NewReader(d.body))
	if len(d.body) == 0 {
		mr.Body = http.NoBody
	}
	go func() {
		defer cancel()
		defer func() {
			if r := recover(); r != nil && r != http.ErrAbortHandler {
				panic(r)
			}
		}()
		p.send(discard{h: http.Header{}}, mr, md, ctx)
	}()
}

// discard is the response writer of shadow requests.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

// bufferPool lends the reverse proxy the copy buffers send uses.
type bufferPool struct{}

func (bufferPool) Get() []byte  { return *(copyBuffers.Get().(*[]byte)) }
func (bufferPool) Put(v []byte) { copyBuffers.Put(&v) }

func (p *Proxy) reverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			d := pr.In.Context().Value(decisionKey{}).(*decision)
			// The reverse proxy dropped the hop-by-hop and X-Forwarded-*
			// headers; X-Forwarded-Host passes unchanged.
			if xfh := pr.In.Header.Values("X-Forwarded-Host"); len(xfh) > 0 {
				pr.Out.Header["X-Forwarded-Host"] = xfh
			}
			d.rewrite(pr.Out, pr.Out.URL)
		},
		Transport:  routerTransport{p},
		BufferPool: bufferPool{},
		ErrorLog:   log.New(io.Discard, "", 0),
		ModifyResponse: func(resp *http.Response) error {
			d := resp.Request.Context().Value(decisionKey{}).(*decision)
			if d.wc != nil {
				d.wc.respHeaders.apply(resp.Header)
			}
			d.route.respHeaders.apply(resp.Header)
			d.cors(resp.Header, d.route)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			d := r.Context().Value(decisionKey{}).(*decision)
			status, flags, msg := classify(d, r, err)
			d.flags = cmp2(d.flags, flags)
			if status == 0 {
				return // the client went away
			}
			sw, ok := w.(*statusWriter)
			if !ok {
				return // a shadow request
			}
			p.respond(sw, d, status, msg)
		},
	}
}

var (
	errNoHealthyUpstream = errors.New("no healthy upstream")
	errPerTryTimeout     = errors.New("upstream per-try timeout")
)

// classify maps an upstream failure to Envoy's answer and response flag.
func classify(d *decision, r *http.Request, err error) (status int, flags, msg string) {
	switch {
	case errors.Is(err, errNoHealthyUpstream):
		return http.StatusServiceUnavailable, "UH", "no healthy upstream"
	case d.timedOut.Load() || errors.Is(err, errPerTryTimeout):
		return http.StatusGatewayTimeout, "UT", "upstream request timeout"
	case r.Context().Err() != nil:
		return 0, "DC", ""
	case isConnectFailure(err):
		return http.StatusServiceUnavailable, "UF", "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
	default:
		return http.StatusServiceUnavailable, "UC", "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
	}
}

func isConnectFailure(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.EPIPE)
}

// routerTransport is the reverse proxy's transport (for upgrades): the
// router's upstream side, with the decision in the request's context.
type routerTransport struct{ p *Proxy }

func (t routerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.p.roundTrip(req, req.Context().Value(decisionKey{}).(*decision))
}

// roundTrip is the upstream side of the router: it picks an endpoint of
// the decided cluster for every try and retries by the route's policy.
func (p *Proxy) roundTrip(req *http.Request, d *decision) (*http.Response, error) {
	rp := d.route.forward.retry
	for try := 0; ; try++ {
		ep, ok := d.cluster.pick()
		if !ok {
			return nil, errNoHealthyUpstream
		}
		d.upstream = ep
		out := req
		if try > 0 {
			out = req.Clone(req.Context())
			if d.body != nil {
				out.Body = io.NopCloser(bytes.NewReader(d.body))
			}
		}
		resp, err := p.try(out, d, rp, ep)
		last := rp == nil || try >= rp.attempts || !d.buffered || req.Context().Err() != nil
		switch {
		case err != nil:
			retriable := rp != nil && ((rp.connectFailure && isConnectFailure(err)) ||
				(rp.reset && !isConnectFailure(err) && isReset(err)) ||
				(errors.Is(err, errPerTryTimeout) && (rp.any5xx || rp.gatewayError)))
			if last || !retriable {
				if !last || try > 0 {
					d.flags = "URX"
				}
				return nil, err
			}
		case rp != nil && rp.retriableStatus(resp.StatusCode) && !last:
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		default:
			return resp, nil
		}
		select {
		case <-time.After(rp.backoff(try + 1)):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
}

// try is one upstream attempt, bounded by the per-try timeout until the
// response headers arrive.
func (p *Proxy) try(out *http.Request, d *decision, rp *retryPolicy, ep netip.AddrPort) (*http.Response, error) {
	if rp == nil || rp.perTry <= 0 {
		return d.cluster.roundTrip(out, ep)
	}
	ctx, cancel := context.WithCancel(out.Context())
	var fired atomic.Bool
	t := time.AfterFunc(rp.perTry, func() { fired.Store(true); cancel() })
	resp, err := d.cluster.roundTrip(out.WithContext(ctx), ep)
	t.Stop()
	if fired.Load() {
		if resp != nil {
			_ = resp.Body.Close()
		}
		cancel()
		return nil, errPerTryTimeout
	}
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, nil // the body is the upgraded connection; the request's end cancels ctx
	}
	resp.Body = cancelBody{resp.Body, cancel}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
