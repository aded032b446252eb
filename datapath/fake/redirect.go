package fake

import (
	"fmt"
	"sync"

	"github.com/eniway/eniway/datapath"
)

// ProxyRedirect is the in-memory datapath.ProxyRedirect: the same table
// of redirects, which Lookup reads as the program does. It moves no
// packets: a process without privileges cannot assign sockets.
type ProxyRedirect struct {
	mu        sync.Mutex
	redirects map[datapath.Frontend]datapath.Redirect
	max       int
	counters  datapath.RedirectCounters
}

var _ datapath.ProxyRedirect = (*ProxyRedirect)(nil)

// NewProxyRedirect returns an empty redirect table of at most max
// redirects (1024 when 0).
func NewProxyRedirect(max int) *ProxyRedirect {
	if max <= 0 {
		max = 1024
	}
	return &ProxyRedirect{redirects: map[datapath.Frontend]datapath.Redirect{}, max: max}
}

// Set implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Set(redirects ...datapath.Redirect) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := datapath.CheckRedirects(redirects); err != nil {
		return err
	}
	n := len(r.redirects)
	for _, rd := range redirects {
		if _, ok := r.redirects[rd.Frontend]; !ok {
			n++
		}
	}
	if n > r.max {
		return &datapath.LBError{Field: "redirects", Err: fmt.Errorf("%w: %d redirects, %d at most", datapath.ErrLBFull, n, r.max)}
	}
	for _, rd := range redirects {
		r.redirects[rd.Frontend] = rd
	}
	return nil
}

// Remove implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Remove(frontends ...datapath.Frontend) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, f := range frontends {
		if _, ok := r.redirects[f]; !ok {
			return &datapath.LBError{Field: fmt.Sprintf("frontends[%d]", i), Frontend: f, Err: datapath.ErrNoRedirect}
		}
	}
	for _, f := range frontends {
		delete(r.redirects, f)
	}
	return nil
}

// Redirects implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Redirects() []datapath.Redirect {
	r.mu.Lock()
	defer r.mu.Unlock()
	return datapath.SortedRedirects(r.redirects)
}

// Lookup returns the redirect a TCP packet to f takes, and counts it as
// the program would count a packet it hands over (or passes).
func (r *ProxyRedirect) Lookup(f datapath.Frontend) (datapath.Redirect, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rd, ok := r.redirects[f]
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
