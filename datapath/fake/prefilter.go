package fake

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync"
	"time"

	"github.com/eniway/eniway/datapath"
)

// Prefilter is the in-memory datapath.Prefilter: the same deny list
// semantics, and TestPacket gives the verdict the XDP program gives.
type Prefilter struct {
	max int

	mu       sync.Mutex
	set      *datapath.PrefixSet
	rev      uint64
	counters datapath.PrefilterCounters
	streams  map[*eventStream]bool
	// events is how many drop events a stream holds unread before it
	// loses them, as the kernel's ring buffer of the same size.
	events int
}

var (
	_ datapath.Prefilter       = (*Prefilter)(nil)
	_ datapath.PacketTester    = (*Prefilter)(nil)
	_ datapath.PrefilterEvents = (*Prefilter)(nil)
)

// NewPrefilter returns an empty prefilter at revision 0.
func NewPrefilter(opts datapath.PrefilterOptions) *Prefilter {
	return &Prefilter{max: opts.Max(), set: datapath.NewPrefixSet(), streams: map[*eventStream]bool{},
		events: opts.Events() / datapath.EventRecordSize}
}

// Update implements datapath.Prefilter.
func (p *Prefilter) Update(b datapath.PrefilterBatch) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next, err := p.set.Apply(b, p.rev, p.max)
	if err != nil {
		return p.rev, err
	}
	p.set = next
	p.rev++
	return p.rev, nil
}

// List implements datapath.Prefilter.
func (p *Prefilter) List() ([]netip.Prefix, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.set.Sorted(), p.rev
}

// Counters implements datapath.Prefilter.
func (p *Prefilter) Counters() (datapath.PrefilterCounters, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counters, nil
}

// Close implements datapath.Prefilter.
func (p *Prefilter) Close() error { return nil }

// TestPacket implements datapath.PacketTester: it parses the frame as the
// XDP program does (Ethernet, up to two VLAN tags, the IPv4 or IPv6
// source address) and counts it.
func (p *Prefilter) TestPacket(frame []byte) (datapath.Verdict, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	proto, l3, ok := parseL2(frame)
	if !ok {
		p.counters.Passed++
		return datapath.VerdictPass, nil
	}
	var src netip.Addr
	switch proto {
	case etherTypeIPv4:
		if len(l3) < 20 {
			p.counters.Malformed++
			return datapath.VerdictPass, nil
		}
		src = netip.AddrFrom4([4]byte(l3[12:16]))
	case etherTypeIPv6:
		if len(l3) < 40 {
			p.counters.Malformed++
			return datapath.VerdictPass, nil
		}
		src = netip.AddrFrom16([16]byte(l3[8:24]))
	default:
		p.counters.Passed++
		return datapath.VerdictPass, nil
	}
	if denied(p.set, src) {
		if src.Is4() {
			p.counters.DroppedIPv4++
		} else {
			p.counters.DroppedIPv6++
		}
		p.report(datapath.PrefilterEvent{Time: time.Now(), Ifindex: TestIfindex, Source: src})
		return datapath.VerdictDrop, nil
	}
	p.counters.Passed++
	return datapath.VerdictPass, nil
}

// TestIfindex is the interface TestPacket's packets arrive on, as for
// BPF_PROG_TEST_RUN: the loopback device.
const TestIfindex = 1

// report hands e to every open stream; p.mu is held.
func (p *Prefilter) report(e datapath.PrefilterEvent) {
	for s := range p.streams {
		select {
		case s.ch <- e:
		default:
			p.counters.EventsLost++
		}
	}
}

// Events implements datapath.PrefilterEvents.
func (p *Prefilter) Events() (datapath.PrefilterEventStream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &eventStream{p: p, ch: make(chan datapath.PrefilterEvent, p.events), done: make(chan struct{})}
	p.streams[s] = true
	return s, nil
}

type eventStream struct {
	p    *Prefilter
	ch   chan datapath.PrefilterEvent
	once sync.Once
	done chan struct{}
}

func (s *eventStream) Next(ctx context.Context) (datapath.PrefilterEvent, error) {
	select {
	case e := <-s.ch:
		return e, nil
	case <-s.done:
		return datapath.PrefilterEvent{}, datapath.ErrStreamClosed
	case <-ctx.Done():
		return datapath.PrefilterEvent{}, ctx.Err()
	}
}

func (s *eventStream) Close() error {
	s.once.Do(func() {
		s.p.mu.Lock()
		delete(s.p.streams, s)
		s.p.mu.Unlock()
		close(s.done)
	})
	return nil
}

// denied is the longest-prefix match: whether any CIDR of the set holds
// addr.
func denied(s *datapath.PrefixSet, addr netip.Addr) bool {
	fam := s.V4
	if addr.Is6() {
		fam = s.V6
	}
	if len(fam) == 0 {
		return false
	}
	for bits := addr.BitLen(); bits >= 0; bits-- {
		if fam[netip.PrefixFrom(addr, bits).Masked()] {
			return true
		}
	}
	return false
}

// EtherTypes.
const (
	etherTypeIPv4   = 0x0800
	etherTypeIPv6   = 0x86DD
	etherTypeVLAN   = 0x8100
	etherTypeQinQ   = 0x88A8
	ethernetHdrLen  = 14
	vlanHdrLen      = 4
	maxVLANTagsRead = 2
)

// parseL2 reads the Ethernet header and up to two VLAN tags, as the BPF
// programs' parse_l2 does: the EtherType and what follows, or false when
// the frame is cut short.
func parseL2(frame []byte) (uint16, []byte, bool) {
	if len(frame) < ethernetHdrLen {
		return 0, nil, false
	}
	proto := binary.BigEndian.Uint16(frame[12:14])
	rest := frame[ethernetHdrLen:]
	for range maxVLANTagsRead {
		if proto != etherTypeVLAN && proto != etherTypeQinQ {
			break
		}
		if len(rest) < vlanHdrLen {
			return 0, nil, false
		}
		proto = binary.BigEndian.Uint16(rest[2:4])
		rest = rest[vlanHdrLen:]
	}
	return proto, rest, true
}
