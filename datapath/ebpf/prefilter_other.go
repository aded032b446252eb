//go:build !linux

package ebpf

import (
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/eniway/eniway/datapath"
)

// Prefilter is the XDP prefilter; off Linux it cannot be created.
type Prefilter struct{}

// NewPrefilter returns datapath.ErrNotSupported off Linux.
func NewPrefilter(datapath.PrefilterOptions) (*Prefilter, error) {
	return nil, datapath.ErrNotSupported
}

// Update implements datapath.Prefilter.
func (*Prefilter) Update(datapath.PrefilterBatch) (uint64, error) { return 0, datapath.ErrNotSupported }

// List implements datapath.Prefilter.
func (*Prefilter) List() ([]netip.Prefix, uint64) { return nil, 0 }

// Counters implements datapath.Prefilter.
func (*Prefilter) Counters() (datapath.PrefilterCounters, error) {
	return datapath.PrefilterCounters{}, datapath.ErrNotSupported
}

// Close implements datapath.Prefilter.
func (*Prefilter) Close() error { return nil }

// TestPacket implements datapath.PacketTester.
func (*Prefilter) TestPacket([]byte) (datapath.Verdict, error) {
	return 0, datapath.ErrNotSupported
}

// Attach returns datapath.ErrNotSupported off Linux.
func (*Prefilter) Attach(int, datapath.XDPMode) (datapath.XDPMode, error) {
	return 0, datapath.ErrNotSupported
}

// Detach returns datapath.ErrNotSupported off Linux.
func (*Prefilter) Detach(int) error { return datapath.ErrNotSupported }

// Events returns datapath.ErrNotSupported off Linux.
func (*Prefilter) Events() (datapath.PrefilterEventStream, error) {
	return nil, datapath.ErrNotSupported
}

// Remove implements nothing off Linux.
func (*Prefilter) Remove() error { return nil }

// Chain returns datapath.ErrNotSupported.
func (*Prefilter) Chain(*ebpf.Program) error { return datapath.ErrNotSupported }
