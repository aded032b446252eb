package fake

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/maglev"
)

// ProxyRedirect is the in-memory datapath.ProxyRedirect: the same table
// of redirects, and RunPacket decides on a frame as the TC program does.
//
// A fake has no packets and no sockets of its own, and the program's
// decisions depend on sockets: whether the packet's connection has one
// already, and whether the proxy listens. So the fake keeps a model of
// them: Listen stands for a proxy's listening socket, and a connection
// RunPacket hands to a listener is remembered, as the kernel remembers
// it (a request socket, then the accepted socket), so that its later
// packets go to it without another decision (a flag saying whether a
// proxy listens would not do: a connection's later packets go to its own
// socket, listener or not, and are not reported). With both, the conformance
// suite (datapathtest.RunRedirect) sends the same frames to the fake and
// to the kernel backend, whose packets arrive on a real interface with a
// real listener, and requires the same counters and events of each. The
// fake never reports RedirectEventFailed: the kernel refuses an
// assignment only when the socket goes away under the packet, or outside
// TC ingress (BPF_PROG_TEST_RUN), and neither happens here.
type ProxyRedirect struct {
	opts datapath.RedirectOptions

	mu        sync.Mutex
	table     *datapath.RedirectTable
	counters  datapath.RedirectCounters
	listeners map[netip.AddrPort]int
	// conns are the connections handed to a listener: client, frontend.
	conns   map[[2]netip.AddrPort]bool
	streams map[*redirectStream]bool
	closed  bool
}

var (
	_ datapath.ProxyRedirect  = (*ProxyRedirect)(nil)
	_ datapath.RedirectEvents = (*ProxyRedirect)(nil)
)

var errRedirectClosed = errors.New("fake: proxy redirect closed")

// NewProxyRedirect returns an empty redirect table sized by opts, or the
// *datapath.OptionsError of opts.Validate. The fake ignores PinPath.
func NewProxyRedirect(opts datapath.RedirectOptions) (*ProxyRedirect, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	return &ProxyRedirect{opts: opts, table: datapath.NewRedirectTable(opts.MaxRedirects),
		listeners: map[netip.AddrPort]int{}, conns: map[[2]netip.AddrPort]bool{}, streams: map[*redirectStream]bool{}}, nil
}

// Set implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Set(redirects ...datapath.Redirect) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errRedirectClosed
	}
	if err := r.table.CheckSet(redirects); err != nil {
		return err
	}
	for _, rd := range redirects {
		r.table.Set(rd)
	}
	return nil
}

// Delete implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Delete(frontends ...datapath.Frontend) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errRedirectClosed
	}
	if err := r.table.CheckDelete(frontends); err != nil {
		return err
	}
	for _, f := range frontends {
		r.table.Delete(f)
	}
	return nil
}

// Redirects implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Redirects() []datapath.Redirect {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.table.Sorted()
}

// Lookup returns the redirect of f; it counts nothing (RunPacket is the
// packet path).
func (r *ProxyRedirect) Lookup(f datapath.Frontend) (datapath.Redirect, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.table.Get(f)
}

// Listen makes the fake behave as though a proxy's listener were bound to
// addr (0.0.0.0 or :: for every address of the family) until stop is
// called: RunPacket hands new connections for a redirect whose proxy is
// addr to it, as the kernel finds a listener bound to the proxy's address
// or to the family's any address on its port. Listeners on one address
// add up. Connections handed over stay after stop, as accepted sockets
// outlive their listener.
func (r *ProxyRedirect) Listen(addr netip.AddrPort) (stop func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.listeners[addr]++
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.listeners[addr]--; r.listeners[addr] == 0 {
				delete(r.listeners, addr)
			}
		})
	}
}

func (r *ProxyRedirect) listening(proxy netip.AddrPort) bool {
	if r.listeners[proxy] > 0 {
		return true
	}
	anyAddr := netip.IPv6Unspecified()
	if proxy.Addr().Is4() {
		anyAddr = netip.IPv4Unspecified()
	}
	return r.listeners[netip.AddrPortFrom(anyAddr, proxy.Port())] > 0
}

// Header sizes and IPv6 next headers RunPacket reads.
const (
	rdIPv4HdrMinLen  = 20
	rdIPv6HdrLen     = 40
	rdTcpHdrLen      = 20
	rdIPv6OptHdrLen  = 2
	rdNextHdrHop     = 0
	rdNextHdrRouting = 43
	rdNextHdrDest    = 60
	rdMaxIPv6ExtHdrs = 4
	rdIPv4OffsetMask = 0x1fff
)

// RunPacket decides on frame as the program does when it arrives at TC
// ingress, and counts it and reports the decision: a packet to a
// redirected frontend (TCP over IPv4, or over IPv6 past at most four
// hop-by-hop, routing and destination options headers) goes to its
// connection if the fake handed the connection to a listener before
// (VerdictPass, Assigned), else to a listener (see Listen) of the
// redirect's proxy (VerdictPass, Assigned, a RedirectEventNewConnection),
// else it passes (NoProxy, a RedirectEventNoProxy). Anything else passes
// untouched (Passed), as do frames cut short.
func (r *ProxyRedirect) RunPacket(frame []byte) datapath.Verdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	client, frontend, ok := parseRedirectConn(frame)
	if !ok {
		r.counters.Passed++
		return datapath.VerdictPass
	}
	rd, ok := r.table.Get(datapath.Frontend{Addr: frontend, Protocol: maglev.ProtocolTCP})
	if !ok {
		r.counters.Passed++
		return datapath.VerdictPass
	}
	conn := [2]netip.AddrPort{client, frontend}
	switch {
	case r.conns[conn]:
		r.counters.Assigned++
	case r.listening(rd.Proxy):
		r.conns[conn] = true
		r.counters.Assigned++
		r.report(datapath.RedirectEventNewConnection, client, rd)
	default:
		r.counters.NoProxy++
		r.report(datapath.RedirectEventNoProxy, client, rd)
	}
	return datapath.VerdictPass
}

// parseRedirectConn reads the source and destination of a TCP segment over
// IPv4 or IPv6 the way the program does.
func parseRedirectConn(frame []byte) (src, dst netip.AddrPort, ok bool) {
	proto, l3, ok := parseL2(frame)
	if !ok {
		return src, dst, false
	}
	var l4 []byte
	var sa, da netip.Addr
	switch proto {
	case etherTypeIPv4:
		if len(l3) < rdIPv4HdrMinLen {
			return src, dst, false
		}
		ihl := int(l3[0]&0x0f) * 4
		if ihl < rdIPv4HdrMinLen || l3[9] != uint8(maglev.ProtocolTCP) || binary.BigEndian.Uint16(l3[6:8])&rdIPv4OffsetMask != 0 || len(l3) < ihl {
			return src, dst, false
		}
		sa, da = netip.AddrFrom4([4]byte(l3[12:16])), netip.AddrFrom4([4]byte(l3[16:20]))
		l4 = l3[ihl:]
	case etherTypeIPv6:
		if len(l3) < rdIPv6HdrLen {
			return src, dst, false
		}
		next, off := l3[6], rdIPv6HdrLen
		for range rdMaxIPv6ExtHdrs {
			if next != rdNextHdrHop && next != rdNextHdrRouting && next != rdNextHdrDest {
				break
			}
			if len(l3) < off+rdIPv6OptHdrLen {
				return src, dst, false
			}
			next, off = l3[off], off+(int(l3[off+1])+1)*8
		}
		if next != uint8(maglev.ProtocolTCP) || len(l3) < off {
			return src, dst, false
		}
		sa, da = netip.AddrFrom16([16]byte(l3[8:24])), netip.AddrFrom16([16]byte(l3[24:40]))
		l4 = l3[off:]
	default:
		return src, dst, false
	}
	if len(l4) < rdTcpHdrLen {
		return src, dst, false
	}
	return netip.AddrPortFrom(sa, binary.BigEndian.Uint16(l4[0:2])), netip.AddrPortFrom(da, binary.BigEndian.Uint16(l4[2:4])), true
}

// report hands a decision to every open stream; r.mu is held.
func (r *ProxyRedirect) report(kind datapath.RedirectEventKind, client netip.AddrPort, rd datapath.Redirect) {
	e := datapath.RedirectEvent{Time: time.Now(), Ifindex: TestIfindex, Kind: kind, Client: client, Frontend: rd.Frontend, Proxy: rd.Proxy}
	for s := range r.streams {
		select {
		case s.ch <- e:
		default:
			r.counters.EventsLost++
		}
	}
}

// Counters implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Counters() (datapath.RedirectCounters, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counters, nil
}

// Events implements datapath.RedirectEvents: a stream holds
// EventBuffer/RedirectEventRecordSize decisions not read yet.
func (r *ProxyRedirect) Events() (datapath.RedirectEventStream, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errRedirectClosed
	}
	s := &redirectStream{r: r, ch: make(chan datapath.RedirectEvent, r.opts.EventBuffer/datapath.RedirectEventRecordSize), done: make(chan struct{})}
	r.streams[s] = true
	return s, nil
}

type redirectStream struct {
	r    *ProxyRedirect
	ch   chan datapath.RedirectEvent
	once sync.Once
	done chan struct{}
}

func (s *redirectStream) Next(ctx context.Context) (datapath.RedirectEvent, error) {
	// After Close, decisions not read yet are not returned.
	select {
	case <-s.done:
		return datapath.RedirectEvent{}, datapath.ErrStreamClosed
	default:
	}
	select {
	case e := <-s.ch:
		return e, nil
	case <-s.done:
		return datapath.RedirectEvent{}, datapath.ErrStreamClosed
	case <-ctx.Done():
		return datapath.RedirectEvent{}, ctx.Err()
	}
}

func (s *redirectStream) Close() error {
	s.once.Do(func() {
		s.r.mu.Lock()
		delete(s.r.streams, s)
		s.r.mu.Unlock()
		close(s.done)
	})
	return nil
}

// Close implements datapath.ProxyRedirect: the fake refuses changes and
// new streams afterwards.
func (r *ProxyRedirect) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}
