package fake

import (
	"sync"

	"github.com/eniway/eniway/datapath"
)

// ProxyRedirect is the in-memory datapath.ProxyRedirect: the same table
// of redirects, which Lookup reads as the program does. It moves no
// packets: a process without privileges cannot assign sockets.
type ProxyRedirect struct {
	mu       sync.Mutex
	table    *datapath.RedirectTable
	counters datapath.RedirectCounters
}

var _ datapath.ProxyRedirect = (*ProxyRedirect)(nil)

// NewProxyRedirect returns an empty redirect table of at most max
// redirects (1024 when 0).
func NewProxyRedirect(max int) *ProxyRedirect {
	return &ProxyRedirect{table: datapath.NewRedirectTable(max)}
}

// Set implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Set(redirects ...datapath.Redirect) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.table.CheckSet(redirects); err != nil {
		return err
	}
	for _, rd := range redirects {
		r.table.Set(rd)
	}
	return nil
}

// Remove implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Remove(frontends ...datapath.Frontend) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.table.CheckRemove(frontends); err != nil {
		return err
	}
	for _, f := range frontends {
		r.table.Remove(f)
	}
	return nil
}

// Redirects implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Redirects() []datapath.Redirect {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.table.Sorted()
}

// Lookup returns the redirect a TCP packet to f takes, and counts it as
// the program would count a packet it hands over (or passes).
func (r *ProxyRedirect) Lookup(f datapath.Frontend) (datapath.Redirect, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rd, ok := r.table.Get(f)
	if ok {
		r.counters.Assigned++
	} else {
		r.counters.Passed++
	}
	return rd, ok
}

// Counters implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Counters() (datapath.RedirectCounters, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counters, nil
}

// Close implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Close() error { return nil }
