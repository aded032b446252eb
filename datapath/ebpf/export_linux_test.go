package ebpf

import "github.com/eniway/eniway/datapath"

// DeleteFlow deletes the tracked flow of e's client to e's frontend (and
// the reverse NAT entry for e's backend), for the benchmarks: one map
// deletion, where ExpireConntrack walks both families' maps.
func (l *LoadBalancer) DeleteFlow(e datapath.CTEntry) error {
	_, err := l.deleteFlow(e)
	return err
}
