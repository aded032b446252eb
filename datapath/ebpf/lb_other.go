//go:build !linux

package ebpf

import (
	"net/netip"
	"time"

	"github.com/cilium/ebpf"

	"github.com/eniway/eniway/datapath"
)

// LoadBalancer is the XDP load balancer; off Linux it cannot be created.
type LoadBalancer struct{}

// NewLoadBalancer returns datapath.ErrNotSupported off Linux.
func NewLoadBalancer(datapath.LBOptions) (*LoadBalancer, error) { return nil, datapath.ErrNotSupported }

// Upsert implements datapath.LoadBalancer.
func (*LoadBalancer) Upsert(...datapath.Service) error { return datapath.ErrNotSupported }

// Delete implements datapath.LoadBalancer.
func (*LoadBalancer) Delete(...datapath.Frontend) error { return datapath.ErrNotSupported }

// Services implements datapath.LoadBalancer.
func (*LoadBalancer) Services() []datapath.Service { return nil }

// Counters implements datapath.LoadBalancer.
func (*LoadBalancer) Counters() (datapath.LBCounters, error) {
	return datapath.LBCounters{}, datapath.ErrNotSupported
}

// RunPacket implements datapath.PacketRunner.
func (*LoadBalancer) RunPacket([]byte) (datapath.Verdict, []byte, error) {
	return 0, nil, datapath.ErrNotSupported
}

// Close implements datapath.LoadBalancer.
func (*LoadBalancer) Close() error { return nil }

// Conntrack implements datapath.LoadBalancer.
func (*LoadBalancer) Conntrack() ([]datapath.CTEntry, error) { return nil, datapath.ErrNotSupported }

// ExpireConntrack implements datapath.LoadBalancer.
func (*LoadBalancer) ExpireConntrack(time.Duration) (int, error) { return 0, datapath.ErrNotSupported }

// Now implements datapath.LoadBalancer.
func (*LoadBalancer) Now() time.Duration { return 0 }

// Attach returns datapath.ErrNotSupported off Linux.
func (*LoadBalancer) Attach(int, datapath.XDPMode) (datapath.XDPMode, error) {
	return 0, datapath.ErrNotSupported
}

// Detach returns datapath.ErrNotSupported off Linux.
func (*LoadBalancer) Detach(int) error { return datapath.ErrNotSupported }

// AttachReplies returns datapath.ErrNotSupported off Linux.
func (*LoadBalancer) AttachReplies(int, datapath.XDPMode) (datapath.XDPMode, error) {
	return 0, datapath.ErrNotSupported
}

// RunReplyPacket implements datapath.ReplyRunner.
func (*LoadBalancer) RunReplyPacket([]byte) (datapath.Verdict, []byte, error) {
	return 0, nil, datapath.ErrNotSupported
}

// AttachDSRDecap returns datapath.ErrNotSupported off Linux.
func (*LoadBalancer) AttachDSRDecap(int, datapath.XDPMode) (datapath.XDPMode, error) {
	return 0, datapath.ErrNotSupported
}

// RunDecapPacket implements datapath.DecapRunner.
func (*LoadBalancer) RunDecapPacket([]byte) (datapath.Verdict, []byte, error) {
	return 0, nil, datapath.ErrNotSupported
}

// Events returns datapath.ErrNotSupported off Linux.
func (*LoadBalancer) Events() (datapath.LBEventStream, error) { return nil, datapath.ErrNotSupported }

// Remove implements Close.
func (*LoadBalancer) Remove() error { return nil }

// Program returns nil: there is no program off Linux.
func (*LoadBalancer) Program() *ebpf.Program { return nil }

// Flow implements datapath.LoadBalancer.
func (*LoadBalancer) Flow(netip.AddrPort, datapath.Frontend) (datapath.CTEntry, bool, error) {
	return datapath.CTEntry{}, false, datapath.ErrNotSupported
}
