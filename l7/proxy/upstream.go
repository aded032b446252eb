package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// h1Pool is the HTTP/1.1 connection pool of a cluster for requests
// without a body: each request is written and its response read on the
// request's own goroutine, with no per-connection reader and writer
// goroutines and no hand-off between them, which is what makes the data
// plane's common case cheap. Requests with a body (whose response may come
// before the body is sent), upgrades and HTTP/2 clusters use the cluster's
// net/http Transport instead.
type h1Pool struct {
	dialer  *net.Dialer
	maxIdle int

	mu     sync.Mutex
	idle   map[netip.AddrPort][]*h1Conn
	closed bool
}

// idleTimeout is how long an idle connection is kept.
const idleTimeout = 90 * time.Second

type h1Conn struct {
	nc       net.Conn
	raw      syscall.RawConn // nil when nc has no file descriptor
	br       *bufio.Reader
	bw       *bufio.Writer
	ep       netip.AddrPort
	idleAt   time.Time
	peekLive bool
}

func newH1Pool(d *net.Dialer, maxIdle int) *h1Pool {
	return &h1Pool{dialer: d, maxIdle: maxIdle, idle: map[netip.AddrPort][]*h1Conn{}}
}

// get returns an idle connection to ep that the peer has not closed, or
// nil.
func (p *h1Pool) get(ep netip.AddrPort) *h1Conn {
	for {
		p.mu.Lock()
		list := p.idle[ep]
		if len(list) == 0 {
			p.mu.Unlock()
			return nil
		}
		c := list[len(list)-1]
		p.idle[ep] = list[:len(list)-1]
		p.mu.Unlock()
		if time.Since(c.idleAt) < idleTimeout && c.alive() {
			return c
		}
		_ = c.nc.Close()
	}
}

// alive peeks at an idle connection without blocking: a peer that closed
// it (EOF) or sent something unasked makes it unusable.
func (c *h1Conn) alive() bool {
	if c.raw == nil {
		return true
	}
	c.peekLive = false
	_ = c.raw.Read(c.peek)
	return c.peekLive
}

// peek is the raw read of alive.
func (c *h1Conn) peek(fd uintptr) bool {
	c.peekLive = peekLive(fd)
	return true
}

func (p *h1Pool) put(c *h1Conn) {
	c.idleAt = time.Now()
	p.mu.Lock()
	if !p.closed && len(p.idle[c.ep]) < p.maxIdle {
		p.idle[c.ep] = append(p.idle[c.ep], c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		_ = c.nc.Close()
	}
}

func (p *h1Pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = map[netip.AddrPort][]*h1Conn{}
	p.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			_ = c.nc.Close()
		}
	}
}

// errStale is a reused connection that failed before any response byte.
var errStale = errors.New("idle connection closed by the upstream")

// roundTrip sends a request without a body to ep. A reused connection
// that turns out closed is replaced by a new one when the request is
// idempotent, as net/http's Transport does.
func (p *h1Pool) roundTrip(req *http.Request, ep netip.AddrPort) (*http.Response, error) {
	for {
		c := p.get(ep)
		reused := c != nil
		if c == nil {
			nc, err := p.dialer.DialContext(req.Context(), "tcp", ep.String())
			if err != nil {
				return nil, err
			}
			c = &h1Conn{nc: nc, br: bufio.NewReaderSize(nc, 4<<10), bw: bufio.NewWriterSize(nc, 4<<10), ep: ep}
			if sc, ok := nc.(syscall.Conn); ok {
				c.raw, _ = sc.SyscallConn()
			}
		}
		resp, err := p.exchange(c, req)
		if err == nil {
			return resp, nil
		}
		_ = c.nc.Close()
		if !reused || !errors.Is(err, errStale) || !idempotent(req) {
			return nil, err
		}
	}
}

func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, ok := r.Header["Idempotency-Key"]
	return ok
}

func (p *h1Pool) exchange(c *h1Conn, req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Cancellation (the client left, a timeout) unblocks the connection.
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	if err := req.Write(c.bw); err != nil {
		stop()
		return nil, p.failure(ctx, err, false)
	}
	if err := c.bw.Flush(); err != nil {
		stop()
		return nil, p.failure(ctx, err, c.br.Buffered() == 0)
	}
	var resp *http.Response
	for {
		var err error
		if _, err = c.br.Peek(1); err != nil {
			stop()
			return nil, p.failure(ctx, err, true)
		}
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			stop()
			return nil, p.failure(ctx, err, false)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		_ = resp.Body.Close() // 1xx: the final response follows
	}
	reusable := !resp.Close && !req.Close && resp.ProtoAtLeast(1, 1)
	if resp.Body == http.NoBody || resp.ContentLength == 0 {
		if !stop() {
			_ = c.nc.Close() // the deadline may be set
			return resp, nil
		}
		if reusable {
			p.put(c)
		} else {
			_ = c.nc.Close()
		}
		return resp, nil
	}
	resp.Body = &h1Body{rc: resp.Body, c: c, pool: p, stop: stop, reusable: reusable}
	return resp, nil
}

// failure reports an exchange error: the context's error when it ended,
// errStale when nothing came back on the connection.
func (p *h1Pool) failure(ctx context.Context, err error, nothingRead bool) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if nothingRead && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		return errors.Join(errStale, err)
	}
	return err
}

// h1Body is a response body that gives its connection back to the pool
// once read to the end.
type h1Body struct {
	rc       io.ReadCloser
	c        *h1Conn
	pool     *h1Pool
	stop     func() bool
	reusable bool
	done     bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err != nil {
		b.finish(err == io.EOF)
	}
	return n, err
}

func (b *h1Body) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

func (b *h1Body) finish(eof bool) {
	b.done = true
	_ = b.rc.Close()
	if b.stop() && eof && b.reusable {
		b.pool.put(b.c)
		return
	}
	_ = b.c.nc.Close()
}
