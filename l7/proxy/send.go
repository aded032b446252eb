package proxy

import (
	"context"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// hopHeaders are the hop-by-hop headers of RFC 9110 section 7.6.1, which
// a proxy does not forward.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// rewrite makes out the upstream request the router decided: URL (with
// u's path and query, the path rewritten), host, forwarding headers and
// header mutations, the cluster's before the route's.
func (d *decision) rewrite(out *http.Request, u *url.URL) {
	u.Scheme, u.Host = "http", d.cluster.name
	if d.path != "" {
		u.RawPath = d.path
		if p, err := unescapePath(d.path); err == nil {
			u.Path = p
		}
	}
	out.URL, out.Host = u, d.host
	h := out.Header
	if d.xff != "" {
		h.Set("X-Forwarded-For", d.xff)
	}
	h.Set("X-Forwarded-Proto", d.proto)
	h.Set("X-Request-Id", d.reqID)
	if d.wc != nil {
		d.wc.reqHeaders.apply(h)
	}
	d.route.reqHeaders.apply(h)
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = nil // do not let the transport add Go's
	}
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// send forwards a request (not an upgrade) upstream and copies the
// response back: the request's own header map is rewritten in place and
// sent, so nothing is cloned. Trailers pass both ways; a response of
// unknown length (streaming, gRPC) is flushed as it arrives.
func (p *Proxy) send(w http.ResponseWriter, r *http.Request, d *decision, ctx context.Context) {
	h := r.Header
	te := h.Get("Te")
	removeHopHeaders(h)
	if strings.Contains(strings.ToLower(te), "trailers") {
		h.Set("Te", "trailers") // gRPC needs it end to end
	}
	out := r.WithContext(ctx)
	d.rewrite(out, &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery})
	out.RequestURI, out.Close = "", false
	if r.ContentLength == 0 {
		out.Body = nil
	}
	resp, err := p.roundTrip(out, d)
	if err != nil {
		status, flags, msg := classify(d, out, err)
		d.flags = cmp2(d.flags, flags)
		if sw, ok := w.(*statusWriter); ok && status != 0 {
			p.respond(sw, d, status, msg)
		}
		return
	}
	defer resp.Body.Close()
	removeHopHeaders(resp.Header)
	if d.wc != nil {
		d.wc.respHeaders.apply(resp.Header)
	}
	d.route.respHeaders.apply(resp.Header)
	d.cors(resp.Header, d.route)
	dst := w.Header()
	for k, v := range resp.Header {
		dst[k] = v
	}
	var announced []string
	if len(resp.Trailer) > 0 {
		for k := range resp.Trailer {
			announced = append(announced, k)
		}
		dst["Trailer"] = []string{strings.Join(announced, ", ")}
	}
	w.WriteHeader(resp.StatusCode)
	stream := resp.ContentLength == -1
	rc := http.NewResponseController(w)
	if stream {
		_ = rc.Flush()
	}
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				d.flags = cmp2(d.flags, "DC")
				return
			}
			if stream {
				_ = rc.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// The upstream failed mid-response: the client's response is
			// cut short too.
			d.flags = cmp2(d.flags, "UC")
			if d.timedOut.Load() {
				d.flags = "UT"
			}
			panic(http.ErrAbortHandler)
		}
	}
	// Trailers the response announced go under their names; those it did
	// not (gRPC's grpc-status) with http.TrailerPrefix.
	for k, v := range resp.Trailer {
		if !slices.Contains(announced, k) {
			k = http.TrailerPrefix + k
		}
		dst[k] = v
	}
}
