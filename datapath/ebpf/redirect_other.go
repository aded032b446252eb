//go:build !linux

package ebpf

import "github.com/eniway/eniway/datapath"

// TCMode is how a TC program is attached.
type TCMode int

// TC attach modes.
const (
	TCModeAuto TCMode = iota
	TCModeTCX
	TCModeClsact
)

// ProxyRedirect is the TC proxy redirect; off Linux it cannot be created.
type ProxyRedirect struct{}

// NewProxyRedirect returns datapath.ErrNotSupported off Linux.
func NewProxyRedirect(int) (*ProxyRedirect, error) { return nil, datapath.ErrNotSupported }

// Set implements datapath.ProxyRedirect.
func (*ProxyRedirect) Set(...datapath.Redirect) error { return datapath.ErrNotSupported }

// Remove implements datapath.ProxyRedirect.
func (*ProxyRedirect) Remove(...datapath.Frontend) error { return datapath.ErrNotSupported }

// Redirects implements datapath.ProxyRedirect.
func (*ProxyRedirect) Redirects() []datapath.Redirect { return nil }

// Counters implements datapath.ProxyRedirect.
func (*ProxyRedirect) Counters() (datapath.RedirectCounters, error) {
	return datapath.RedirectCounters{}, datapath.ErrNotSupported
}

// Attach returns datapath.ErrNotSupported off Linux.
func (*ProxyRedirect) Attach(int, TCMode) (TCMode, error) { return 0, datapath.ErrNotSupported }

// Detach returns datapath.ErrNotSupported off Linux.
func (*ProxyRedirect) Detach(int) error { return datapath.ErrNotSupported }

// Close implements datapath.ProxyRedirect.
func (*ProxyRedirect) Close() error { return nil }
