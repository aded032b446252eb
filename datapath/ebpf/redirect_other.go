//go:build !linux

package ebpf

import (
	"fmt"

	"github.com/eniway/eniway/datapath"
)

// TCMode is how a TC program is attached.
type TCMode int

// TC attach modes.
const (
	// TCModeAuto: TCX where the kernel has it, a clsact qdisc's filter
	// otherwise.
	TCModeAuto TCMode = iota
	// TCModeTCX: a TCX link.
	TCModeTCX
	// TCModeClsact: a direct-action filter of a clsact qdisc.
	TCModeClsact
)

func (m TCMode) String() string {
	switch m {
	case TCModeAuto:
		return "auto"
	case TCModeTCX:
		return "tcx"
	case TCModeClsact:
		return "clsact"
	}
	return fmt.Sprintf("TCMode(%d)", int(m))
}

// ProxyRedirect is the TC proxy redirect; off Linux it cannot be created.
type ProxyRedirect struct{}

var (
	_ datapath.ProxyRedirect  = (*ProxyRedirect)(nil)
	_ datapath.RedirectEvents = (*ProxyRedirect)(nil)
	_ datapath.PacketTester   = (*ProxyRedirect)(nil)
)

// NewProxyRedirect returns the *datapath.OptionsError of invalid opts, or
// datapath.ErrNotSupported off Linux.
func NewProxyRedirect(opts datapath.RedirectOptions) (*ProxyRedirect, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return nil, datapath.ErrNotSupported
}

// Set implements datapath.ProxyRedirect.
func (*ProxyRedirect) Set(...datapath.Redirect) error { return datapath.ErrNotSupported }

// Delete implements datapath.ProxyRedirect.
func (*ProxyRedirect) Delete(...datapath.Frontend) error { return datapath.ErrNotSupported }

// Redirects implements datapath.ProxyRedirect.
func (*ProxyRedirect) Redirects() []datapath.Redirect { return nil }

// Counters implements datapath.ProxyRedirect.
func (*ProxyRedirect) Counters() (datapath.RedirectCounters, error) {
	return datapath.RedirectCounters{}, datapath.ErrNotSupported
}

// Events implements datapath.RedirectEvents.
func (*ProxyRedirect) Events() (datapath.RedirectEventStream, error) {
	return nil, datapath.ErrNotSupported
}

// TestPacket implements datapath.PacketTester.
func (*ProxyRedirect) TestPacket([]byte) (datapath.Verdict, error) {
	return 0, datapath.ErrNotSupported
}

// Attach returns datapath.ErrNotSupported off Linux.
func (*ProxyRedirect) Attach(int, TCMode) (TCMode, error) { return 0, datapath.ErrNotSupported }

// Detach returns datapath.ErrNotSupported off Linux.
func (*ProxyRedirect) Detach(int) error { return datapath.ErrNotSupported }

// Close implements datapath.ProxyRedirect.
func (*ProxyRedirect) Close() error { return nil }

// Remove is Close.
func (*ProxyRedirect) Remove() error { return nil }
