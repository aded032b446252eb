package datapath

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/eniway/eniway/maglev"
)

// ProxyRedirect hands TCP connections for frontends to local proxies,
// the way TPROXY does: the proxy's listener, bound to its own address,
// accepts connections addressed to a frontend it does not own, and each
// accepted socket has the frontend as its local address. IPv4 frontends
// go to IPv4 listeners and IPv6 frontends to IPv6 listeners. The kernel
// backend does it at TC ingress with bpf_sk_assign (XDP cannot: it runs
// before a socket buffer exists). The frontend's address must be
// delivered locally (a local route for it, such as "local 10.96.0.0/16
// dev lo" or "local fd00:96::/64 dev lo"), which the caller sets up.
// Implementations are safe for concurrent use.
type ProxyRedirect interface {
	// Set adds or replaces redirects, as a whole or not at all (an
	// *LBError says which redirect was refused: ErrInvalidService,
	// ErrLBFull).
	Set(redirects ...Redirect) error
	// Delete removes the redirects of frontends, as a whole or not at
	// all (an *LBError wrapping ErrNoRedirect names a frontend without
	// one).
	Delete(frontends ...Frontend) error
	// Redirects returns the redirects, sorted by frontend.
	Redirects() []Redirect
	// Counters returns the packet counters, summed over CPUs.
	Counters() (RedirectCounters, error)
	// Close releases the redirect (see the backend for what stays
	// attached).
	Close() error
}

// Redirect sends a frontend's TCP connections to a local proxy.
type Redirect struct {
	// Frontend is an IPv4 or IPv6 address (IPv4 not mapped into IPv6,
	// no zone) and a port; the protocol is TCP.
	Frontend Frontend
	// Proxy is the address and port the proxy listens on, of the
	// frontend's family: 0.0.0.0 or :: for a listener bound to every
	// address of the family.
	Proxy netip.AddrPort
}

// RedirectCounters count the packets the redirect saw.
type RedirectCounters struct {
	// Passed: not TCP over IPv4 or IPv6 (found past at most four IPv6
	// hop-by-hop, routing and destination options headers), or not for a
	// redirected frontend.
	Passed uint64
	// Assigned: handed to the proxy's socket.
	Assigned uint64
	// NoProxy: for a redirected frontend, but no proxy listens; passed.
	NoProxy uint64
	// Failed: the kernel refused the assignment; dropped.
	Failed uint64
	// EventsLost: decisions not reported to an open event stream because
	// it was full.
	EventsLost uint64
}

// ErrNoRedirect: a deletion of a frontend that has no redirect.
var ErrNoRedirect = errors.New("no such redirect")

// ErrInvalidOptions: an option out of its range.
var ErrInvalidOptions = errors.New("invalid options")

// OptionsError says which option was refused and why; it wraps
// ErrInvalidOptions.
type OptionsError struct {
	// Options is the options' type ("RedirectOptions"), Field the option.
	Options, Field string
	Err            error
}

func (e *OptionsError) Error() string { return fmt.Sprintf("%s.%s: %v", e.Options, e.Field, e.Err) }

func (e *OptionsError) Unwrap() error { return e.Err }

// RedirectOptions configure a proxy redirect. The zero value is valid.
type RedirectOptions struct {
	// MaxRedirects bounds the redirects, both families together
	// (DefaultMaxRedirects when 0).
	MaxRedirects int
	// EventBuffer is the size in bytes of the ring buffer of decisions,
	// a power of two of at least a page (DefaultEventBuffer when 0); each
	// takes RedirectEventRecordSize bytes of it.
	EventBuffer int
	// PinPath, for the kernel backend, is a directory on a bpffs (one per
	// network namespace) where the redirect tables, the counters and the
	// interfaces' TCX links are pinned, and where the interfaces with a
	// clsact filter are recorded. A redirect opened on a PinPath that
	// holds pins takes over the redirects and the counters, and its
	// Attach calls replace the program of a pinned link (link.Update) or
	// of the recorded filter atomically, so a restart or an upgrade of
	// the agent drops no connection. MaxRedirects must be the one the pins
	// were made with. Close then leaves the pins, the links and the
	// filters (and the program) in place. The fake ignores it.
	PinPath string
}

// DefaultMaxRedirects is how many redirects a proxy redirect holds unless
// the options say otherwise.
const DefaultMaxRedirects = 1024

// RedirectEventRecordSize is what one decision takes of
// RedirectOptions.EventBuffer: the kernel backend's record (72 bytes) and
// the ring buffer's header.
const RedirectEventRecordSize = 80

// WithDefaults returns o with its defaults filled in.
func (o RedirectOptions) WithDefaults() RedirectOptions {
	if o.MaxRedirects == 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	if o.EventBuffer == 0 {
		o.EventBuffer = DefaultEventBuffer
	}
	return o
}

// Validate returns an *OptionsError unless MaxRedirects is 0 or positive
// (and fits a map's 32-bit size) and EventBuffer is 0 or a power of two
// of at least a page.
func (o RedirectOptions) Validate() error {
	fail := func(field, format string, args ...any) error {
		return &OptionsError{Options: "RedirectOptions", Field: field, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)}
	}
	if o.MaxRedirects < 0 || o.MaxRedirects > math.MaxInt32 {
		return fail("MaxRedirects", "%d: 0 (the default) or a positive count", o.MaxRedirects)
	}
	page := os.Getpagesize()
	if b := o.EventBuffer; b != 0 && (b < page || b&(b-1) != 0 || b > math.MaxInt32) {
		return fail("EventBuffer", "%d bytes: a power of two of at least a page (%d bytes)", b, page)
	}
	return nil
}

// CheckRedirects returns an *LBError (wrapping ErrInvalidService) unless
// every redirect is a TCP frontend with an address of either family and a
// port to a proxy address of the same family and a port, each frontend
// once. IPv4-mapped IPv6 addresses and zones are refused: give IPv4 as
// IPv4.
func CheckRedirects(rs []Redirect) error {
	seen := map[Frontend]bool{}
	for i, r := range rs {
		field := fmt.Sprintf("redirects[%d]", i)
		fail := func(f, format string, args ...any) error {
			return &LBError{Field: field + f, Frontend: r.Frontend, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidService}, args...)...)}
		}
		fa, pa := r.Frontend.Addr.Addr(), r.Proxy.Addr()
		switch {
		case !fa.IsValid() || fa.IsUnspecified():
			return fail(".Frontend", "frontend %s: an IPv4 or IPv6 address is required", r.Frontend.Addr)
		case fa.Is4In6():
			return fail(".Frontend", "frontend %s: an IPv4-mapped IPv6 address; give it as IPv4", r.Frontend.Addr)
		case fa.Zone() != "":
			return fail(".Frontend", "frontend %s: an address with a zone", r.Frontend.Addr)
		case r.Frontend.Addr.Port() == 0:
			return fail(".Frontend", "frontend %s: port 0", r.Frontend.Addr)
		case r.Frontend.Protocol != maglev.ProtocolTCP:
			return fail(".Frontend", "frontend %s: protocol %s: only TCP is redirected", r.Frontend.Addr, r.Frontend.Protocol)
		case !pa.IsValid() || r.Proxy.Port() == 0:
			return fail(".Proxy", "proxy %s: an address and a port are required", r.Proxy)
		case pa.Is4In6():
			return fail(".Proxy", "proxy %s: an IPv4-mapped IPv6 address; give it as IPv4", r.Proxy)
		case pa.Zone() != "":
			return fail(".Proxy", "proxy %s: an address with a zone", r.Proxy)
		case pa.Is4() != fa.Is4():
			return fail(".Proxy", "proxy %s: not of the frontend's family (an IPv4 frontend needs an IPv4 proxy, an IPv6 one an IPv6 proxy)", r.Proxy)
		case seen[r.Frontend]:
			return fail(".Frontend", "twice in the batch")
		}
		seen[r.Frontend] = true
	}
	return nil
}

// RedirectTable is a proxy redirect's table as both backends keep it:
// it checks changes before they are applied. Not safe for concurrent use.
type RedirectTable struct {
	max int
	m   map[Frontend]Redirect
}

// NewRedirectTable returns an empty table of at most max redirects
// (DefaultMaxRedirects when 0).
func NewRedirectTable(max int) *RedirectTable {
	if max <= 0 {
		max = DefaultMaxRedirects
	}
	return &RedirectTable{max: max, m: map[Frontend]Redirect{}}
}

// Max is the table's capacity.
func (t *RedirectTable) Max() int { return t.max }

// Len is how many redirects the table holds.
func (t *RedirectTable) Len() int { return len(t.m) }

// CheckSet returns the error Set of rs would give, changing nothing: an
// *LBError wrapping ErrInvalidService (see CheckRedirects) or ErrLBFull.
func (t *RedirectTable) CheckSet(rs []Redirect) error {
	if err := CheckRedirects(rs); err != nil {
		return err
	}
	n := len(t.m)
	for _, r := range rs {
		if _, ok := t.m[r.Frontend]; !ok {
			n++
		}
	}
	if n > t.max {
		return &LBError{Field: "redirects", Err: fmt.Errorf("%w: %d redirects, %d at most", ErrLBFull, n, t.max)}
	}
	return nil
}

// Set records r, checked by CheckSet.
func (t *RedirectTable) Set(r Redirect) { t.m[r.Frontend] = r }

// CheckDelete returns the error a deletion of fs would give: an *LBError
// wrapping ErrNoRedirect.
func (t *RedirectTable) CheckDelete(fs []Frontend) error {
	for i, f := range fs {
		if _, ok := t.m[f]; !ok {
			return &LBError{Field: fmt.Sprintf("frontends[%d]", i), Frontend: f, Err: ErrNoRedirect}
		}
	}
	return nil
}

// Get returns the redirect of f.
func (t *RedirectTable) Get(f Frontend) (Redirect, bool) {
	r, ok := t.m[f]
	return r, ok
}

// Delete forgets the redirect of f.
func (t *RedirectTable) Delete(f Frontend) { delete(t.m, f) }

// Sorted returns the redirects sorted by frontend.
func (t *RedirectTable) Sorted() []Redirect {
	out := make([]Redirect, 0, len(t.m))
	for _, r := range t.m {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Redirect) int { return CompareFrontend(a.Frontend, b.Frontend) })
	return out
}

// RedirectEventKind is what a RedirectEvent reports.
type RedirectEventKind int

// Proxy redirect decisions.
const (
	// RedirectEventNewConnection: a new connection (a packet that found
	// no socket of its own, a SYN) was handed to the proxy's listener.
	// The later packets of the connection, which go to its own socket,
	// are not reported.
	RedirectEventNewConnection RedirectEventKind = 1
	// RedirectEventNoProxy: a packet for a redirected frontend found no
	// socket of its own and no proxy listening; it was passed (the
	// stack answers it as it would without the redirect).
	RedirectEventNoProxy RedirectEventKind = 2
	// RedirectEventFailed: the kernel refused to assign a packet to the
	// socket found for it (bpf_sk_assign failed: the socket went away
	// under the packet, or the program runs outside TC ingress, as under
	// BPF_PROG_TEST_RUN); the packet was dropped.
	RedirectEventFailed RedirectEventKind = 3
)

func (k RedirectEventKind) String() string {
	switch k {
	case RedirectEventNewConnection:
		return "new-connection"
	case RedirectEventNoProxy:
		return "no-proxy"
	case RedirectEventFailed:
		return "failed"
	}
	return fmt.Sprintf("RedirectEventKind(%d)", int(k))
}

// RedirectEvent is one decision of the proxy redirect, for package
// observe.
type RedirectEvent struct {
	// Time is when the packet was decided on.
	Time time.Time
	// Ifindex is the interface the packet arrived on.
	Ifindex int
	Kind    RedirectEventKind
	// Client is the packet's source, Frontend its destination.
	Client   netip.AddrPort
	Frontend Frontend
	// Proxy is the frontend's redirect's proxy address.
	Proxy netip.AddrPort
}

// RedirectEvents is implemented by proxy redirects that report their
// decisions. Reporting costs nothing while no stream is open.
type RedirectEvents interface {
	// Events opens a stream of the decisions from now on.
	Events() (RedirectEventStream, error)
}

// RedirectEventStream is an open stream of decisions; those that come
// faster than they are read are lost, and counted in
// RedirectCounters.EventsLost. Next and Close may be called from
// different goroutines.
type RedirectEventStream interface {
	// Next blocks until the next decision, ctx is done, or the stream is
	// closed (ErrStreamClosed).
	Next(ctx context.Context) (RedirectEvent, error)
	Close() error
}
