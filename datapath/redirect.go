package datapath

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/eniway/eniway/maglev"
)

// ProxyRedirect hands TCP connections for frontends to local proxies,
// the way TPROXY does: the proxy's listener, bound to its own address,
// accepts connections addressed to a frontend it does not own, and each
// accepted socket has the frontend as its local address. The kernel
// backend does it at TC ingress with bpf_sk_assign (XDP cannot: it runs
// before a socket buffer exists). The frontend's address must be
// delivered locally (a local route for it, such as "local
// 10.96.0.0/16 dev lo"), which the caller sets up.
type ProxyRedirect interface {
	// Set adds or replaces redirects, as a whole or not at all.
	Set(redirects ...Redirect) error
	// Remove removes the redirects of frontends.
	Remove(frontends ...Frontend) error
	// Redirects returns the redirects, sorted by frontend.
	Redirects() []Redirect
	// Counters returns the packet counters, summed over CPUs.
	Counters() (RedirectCounters, error)
	Close() error
}

// Redirect sends a frontend's TCP connections to a local proxy.
type Redirect struct {
	// Frontend is an IPv4 address and port; the protocol is TCP.
	Frontend Frontend
	// Proxy is the address and port the proxy listens on (an IPv4
	// address, 0.0.0.0 for a listener bound to every address).
	Proxy netip.AddrPort
}

// RedirectCounters count the packets the redirect saw.
type RedirectCounters struct {
	// Passed: not for a redirected frontend.
	Passed uint64
	// Assigned: handed to the proxy's socket.
	Assigned uint64
	// NoProxy: for a redirected frontend, but no proxy listens; passed.
	NoProxy uint64
	// Failed: the kernel refused the assignment; dropped.
	Failed uint64
}

// ErrNoRedirect: a removal of a frontend that has no redirect.
var ErrNoRedirect = errors.New("no such redirect")

// CheckRedirects returns an *LBError unless every redirect is an IPv4
// TCP frontend with a port to an IPv4 proxy port, each frontend once.
func CheckRedirects(rs []Redirect) error {
	seen := map[Frontend]bool{}
	for i, r := range rs {
		field := fmt.Sprintf("redirects[%d]", i)
		fail := func(f, format string, args ...any) error {
			return &LBError{Field: field + f, Frontend: r.Frontend, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidService}, args...)...)}
		}
		if err := checkFrontend(r.Frontend); err != nil {
			return fail(".Frontend", "%v", err)
		}
		if r.Frontend.Protocol != maglev.ProtocolTCP {
			return fail(".Frontend", "only TCP is redirected")
		}
		if !r.Proxy.Addr().Is4() || r.Proxy.Port() == 0 {
			return fail(".Proxy", "proxy %s: an IPv4 address and a port are required", r.Proxy)
		}
		if seen[r.Frontend] {
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

// NewRedirectTable returns an empty table of at most max redirects (1024
// when 0).
func NewRedirectTable(max int) *RedirectTable {
	if max <= 0 {
		max = 1024
	}
	return &RedirectTable{max: max, m: map[Frontend]Redirect{}}
}

// Max is the table's capacity.
func (t *RedirectTable) Max() int { return t.max }

// CheckSet returns the error Set of rs would give, changing nothing.
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

// Set records rs, checked by CheckSet.
func (t *RedirectTable) Set(r Redirect) { t.m[r.Frontend] = r }

// CheckRemove returns the error a removal of fs would give.
func (t *RedirectTable) CheckRemove(fs []Frontend) error {
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

// Remove forgets the redirect of f.
func (t *RedirectTable) Remove(f Frontend) { delete(t.m, f) }

// Sorted returns the redirects sorted by frontend.
func (t *RedirectTable) Sorted() []Redirect {
	out := make([]Redirect, 0, len(t.m))
	for _, r := range t.m {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Redirect) int { return CompareFrontend(a.Frontend, b.Frontend) })
	return out
}
