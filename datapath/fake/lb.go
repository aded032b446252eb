package fake

import (
	"context"
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/maglev"
)

// LoadBalancer is the in-memory datapath.LoadBalancer: the same services
// and Maglev tables, and RunPacket does to a frame what the XDP program
// does.
type LoadBalancer struct {
	mu       sync.Mutex
	st       *datapath.LBState
	counters datapath.LBCounters
	ct       map[ctKey]ctEntry
	rev      map[revKey]netip.AddrPort
	clock    func() time.Duration
	streams  map[*lbStream]bool
}

// revKey finds the frontend of a backend's reply to a client.
type revKey struct {
	client, backend netip.AddrPort
	proto           maglev.Protocol
}

type ctKey struct {
	client   netip.AddrPort
	frontend datapath.Frontend
}

type ctEntry struct {
	backend  netip.AddrPort
	id       uint32
	gen      uint32
	dsr      bool
	lastSeen time.Duration
	state    datapath.CTState
}

// start is the fake's monotonic clock's origin.
var start = time.Now()

var (
	_ datapath.LoadBalancer = (*LoadBalancer)(nil)
	_ datapath.PacketRunner = (*LoadBalancer)(nil)
	_ datapath.ReplyRunner  = (*LoadBalancer)(nil)
)

// NewLoadBalancer returns a load balancer without services.
func NewLoadBalancer(opts datapath.LBOptions) (*LoadBalancer, error) {
	st, err := datapath.NewLBState(opts)
	if err != nil {
		return nil, err
	}
	return &LoadBalancer{st: st, ct: map[ctKey]ctEntry{}, rev: map[revKey]netip.AddrPort{},
		clock: func() time.Duration { return time.Since(start) }, streams: map[*lbStream]bool{}}, nil
}

// SetClock replaces the monotonic clock flows are stamped with.
func (l *LoadBalancer) SetClock(now func() time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clock = now
}

// Now implements datapath.LoadBalancer.
func (l *LoadBalancer) Now() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clock()
}

// Conntrack implements datapath.LoadBalancer.
func (l *LoadBalancer) Conntrack() ([]datapath.CTEntry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]datapath.CTEntry, 0, len(l.ct))
	for k, e := range l.ct {
		out = append(out, datapath.CTEntry{Client: k.client, Frontend: k.frontend, Backend: e.backend, LastSeen: e.lastSeen, State: e.state})
	}
	slices.SortFunc(out, datapath.CompareCTEntry)
	return out, nil
}

// ExpireConntrack implements datapath.LoadBalancer.
func (l *LoadBalancer) ExpireConntrack(now time.Duration) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.st.Options().CTTimeouts
	n := 0
	for k, e := range l.ct {
		if e.lastSeen+t.Timeout(k.frontend.Protocol, e.state) < now {
			delete(l.ct, k)
			delete(l.rev, revKey{client: k.client, backend: e.backend, proto: k.frontend.Protocol})
			n++
		}
	}
	return n, nil
}

// Upsert implements datapath.LoadBalancer.
func (l *LoadBalancer) Upsert(services ...datapath.Service) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.st.Upsert(services)
	l.st.Release() // no packet is in flight here
	return err
}

// Delete implements datapath.LoadBalancer.
func (l *LoadBalancer) Delete(frontends ...datapath.Frontend) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch, err := l.st.Delete(frontends)
	l.st.Release()
	for _, f := range ch.Removed {
		for k, e := range l.ct {
			if k.frontend == f {
				delete(l.ct, k)
				delete(l.rev, revKey{client: k.client, backend: e.backend, proto: k.frontend.Protocol})
			}
		}
	}
	return err
}

// Services implements datapath.LoadBalancer.
func (l *LoadBalancer) Services() []datapath.Service {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st.Services()
}

// Counters implements datapath.LoadBalancer.
func (l *LoadBalancer) Counters() (datapath.LBCounters, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counters, nil
}

// Close implements datapath.LoadBalancer.
func (l *LoadBalancer) Close() error { return nil }

// RunPacket implements datapath.PacketRunner.
func (l *LoadBalancer) RunPacket(frame []byte) (datapath.Verdict, []byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(frame)
	pass := func(c *uint64) (datapath.Verdict, []byte, error) {
		*c++
		return datapath.VerdictPass, out, nil
	}
	ip, l4, skip := l.parse4(out)
	if skip != nil {
		return pass(skip)
	}
	dst := netip.AddrFrom4([4]byte(ip[16:20]))
	dport := binary.BigEndian.Uint16(l4[2:4])
	f := datapath.Frontend{Addr: netip.AddrPortFrom(dst, dport), Protocol: maglev.Protocol(ip[9])}
	var flags uint8
	if f.Protocol == maglev.ProtocolTCP {
		flags = l4[13]
	}
	now := l.clock()
	key := ctKey{client: netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(l4[0:2])), frontend: f}
	counter := &l.counters.Established
	var be netip.AddrPort
	dsr := false
	// A tracked flow first; the service is not looked at.
	if e, ok := l.ct[key]; ok {
		// The backend must still be the one the flow was given.
		if a, ok := l.st.BackendAddr(e.id); ok && l.st.BackendGen(e.id) == e.gen {
			be, dsr = a, e.dsr
			if now-e.lastSeen > time.Second {
				e.lastSeen = now
			}
			e.state = datapath.NextCTState(f.Protocol, true, e.state, flags)
			l.ct[key] = e
		}
	}
	if !be.IsValid() {
		svc, table, ok := l.st.Service(f)
		if !ok {
			return pass(&l.counters.Passed)
		}
		dsr = svc.Mode == datapath.LBModeDSR
		if len(table) == 0 {
			l.report(datapath.LBEventNoBackend, key, netip.AddrPort{})
			l.counters.NoBackend++
			return datapath.VerdictDrop, out, nil
		}
		flow := maglev.Flow{Src: key.client.Addr(), SrcPort: key.client.Port(), DstPort: dport, Proto: ip[9]}
		id, _ := maglev.Lookup(table, l.st.Seed(), flow)
		a, ok := l.st.BackendAddr(id)
		if !ok {
			l.report(datapath.LBEventNoBackend, key, netip.AddrPort{})
			l.counters.NoBackend++
			return datapath.VerdictDrop, out, nil
		}
		l.report(datapath.LBEventNewFlow, key, a)
		be = a
		l.track(key, ctEntry{backend: a, id: id, gen: l.st.BackendGen(id), dsr: dsr, lastSeen: now,
			state: datapath.NextCTState(f.Protocol, false, 0, flags)})
		if !dsr {
			l.rev[revKey{client: key.client, backend: a, proto: f.Protocol}] = f.Addr
		}
		counter = &l.counters.Forwarded
	}
	if dsr {
		// Only an untagged frame makes room for the outer header.
		if len(out)-len(ip) != 14 {
			return pass(&l.counters.Passed)
		}
		*counter++
		return datapath.VerdictPass, encapIPIP(out, l.st.Options().DSRSource, be.Addr()), nil
	}
	rewrite(ip, l4, ip[16:20], l4[2:4], be)
	*counter++
	return datapath.VerdictPass, out, nil
}

// RunReplyPacket implements datapath.ReplyRunner.
func (l *LoadBalancer) RunReplyPacket(frame []byte) (datapath.Verdict, []byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(frame)
	ip, l4, skip := l.parse4(out)
	if skip != nil {
		*skip++
		return datapath.VerdictPass, out, nil
	}
	k := revKey{client: netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(l4[2:4])),
		backend: netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(l4[0:2])), proto: maglev.Protocol(ip[9])}
	fe, ok := l.rev[k]
	if !ok {
		l.counters.Passed++
		return datapath.VerdictPass, out, nil
	}
	rewrite(ip, l4, ip[12:16], l4[0:2], fe)
	l.counters.Replies++
	return datapath.VerdictPass, out, nil
}

// parse4 finds the IPv4 header and the TCP or UDP header of an untagged
// or tagged frame as the programs' parse4 does, or the counter of a
// packet they pass untouched.
func (l *LoadBalancer) parse4(frame []byte) (ip, l4 []byte, skip *uint64) {
	proto, l3, ok := parseL2(frame)
	if !ok || proto != etherTypeIPv4 || len(l3) < 20 || l3[0]&0x0f < 5 {
		return nil, nil, &l.counters.Passed
	}
	if l3[9] != 6 && l3[9] != 17 {
		return nil, nil, &l.counters.Passed
	}
	if binary.BigEndian.Uint16(l3[6:8])&0x3fff != 0 {
		return nil, nil, &l.counters.Fragments
	}
	ihl := int(l3[0]&0x0f) * 4
	l4len := 8 // UDP
	if l3[9] == 6 {
		l4len = 20 // TCP
	}
	if len(l3) < ihl+l4len {
		return nil, nil, &l.counters.Passed // the whole header before anything is rewritten
	}
	return l3, l3[ihl:], nil
}

// rewrite sets the address field addr and the port field port of a
// packet to to, updating the checksums as the programs' rewrite does.
func rewrite(ip, l4, addr, port []byte, to netip.AddrPort) {
	oldAddr, oldPort := native32(addr), native16(port)
	a := to.Addr().As4()
	copy(addr, a[:])
	newAddr := native32(addr)
	putNative16(ip[10:12], csumReplace(native16(ip[10:12]), oldAddr, newAddr))
	binary.BigEndian.PutUint16(port, to.Port())
	newPort := native16(port)
	switch ip[9] {
	case 6:
		c := csumReplace(native16(l4[16:18]), oldAddr, newAddr)
		putNative16(l4[16:18], csumReplace(c, uint32(oldPort), uint32(newPort)))
	case 17:
		if old := native16(l4[6:8]); old != 0 {
			c := csumReplace(old, oldAddr, newAddr)
			c = csumReplace(c, uint32(oldPort), uint32(newPort))
			if c == 0 {
				c = 0xffff
			}
			putNative16(l4[6:8], c)
		}
	}
}

// track records a flow, making room by dropping the least recently seen
// when the table is full (the kernel's LRU map approximates this).
func (l *LoadBalancer) track(k ctKey, e ctEntry) {
	if _, ok := l.ct[k]; !ok && len(l.ct) >= l.st.Options().CTMax {
		var oldest ctKey
		first := true
		for ok, oe := range l.ct {
			if first || oe.lastSeen < l.ct[oldest].lastSeen {
				oldest, first = ok, false
			}
		}
		delete(l.ct, oldest)
	}
	l.ct[k] = e
}

// native32 and native16 read memory as the BPF program does on a
// little-endian CPU; the checksum arithmetic works on those values.
func native32(b []byte) uint32       { return binary.LittleEndian.Uint32(b) }
func native16(b []byte) uint16       { return binary.LittleEndian.Uint16(b) }
func putNative16(b []byte, v uint16) { binary.LittleEndian.PutUint16(b, v) }

// csumReplace updates a ones' complement checksum for a 32-bit field
// changing from `from` to `to` (RFC 1624, equation 3), as the program's
// csum_replace.
func csumReplace(check uint16, from, to uint32) uint16 {
	sum := uint32(^check)
	sum += uint32(^uint16(from&0xffff)) + uint32(^uint16(from>>16))
	sum += (to & 0xffff) + (to >> 16)
	sum = (sum & 0xffff) + (sum >> 16)
	sum = (sum & 0xffff) + (sum >> 16)
	return ^uint16(sum)
}

// encapIPIP puts an outer IPv4 header (src to dst, protocol IPIP) between
// the Ethernet header and the packet of an untagged frame, as the
// program's encap_ipip does.
func encapIPIP(frame []byte, src, dst netip.Addr) []byte {
	inner := frame[14:]
	out := make([]byte, 0, len(frame)+20)
	out = append(out, frame[:14]...)
	outer := make([]byte, 20)
	outer[0] = 0x45
	outer[1] = inner[1]
	binary.BigEndian.PutUint16(outer[2:4], binary.BigEndian.Uint16(inner[2:4])+20)
	binary.BigEndian.PutUint16(outer[6:8], 0x4000) // DF
	outer[8] = 64
	outer[9] = 4 // IPIP
	s, d := src.As4(), dst.As4()
	copy(outer[12:16], s[:])
	copy(outer[16:20], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(native16(outer[i : i+2]))
	}
	sum = sum&0xffff + sum>>16
	sum = sum&0xffff + sum>>16
	putNative16(outer[10:12], ^uint16(sum))
	out = append(out, outer...)
	return append(out, inner...)
}

// RunDecapPacket implements datapath.DecapRunner, as the program does.
func (l *LoadBalancer) RunDecapPacket(frame []byte) (datapath.Verdict, []byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(frame)
	if len(out) < 34 || binary.BigEndian.Uint16(out[12:14]) != etherTypeIPv4 || out[14+9] != 4 || out[14]&0x0f != 5 ||
		binary.BigEndian.Uint16(out[14+6:14+8])&0x3fff != 0 {
		l.counters.Passed++
		return datapath.VerdictPass, out, nil
	}
	l.counters.Decapsulated++
	return datapath.VerdictPass, append(out[:14:14], out[34:]...), nil
}

// report hands a decision to every open stream; l.mu is held.
func (l *LoadBalancer) report(kind datapath.LBEventKind, k ctKey, backend netip.AddrPort) {
	e := datapath.LBEvent{Time: time.Now(), Ifindex: TestIfindex, Kind: kind, Client: k.client, Frontend: k.frontend, Backend: backend}
	for s := range l.streams {
		select {
		case s.ch <- e:
		default:
			l.counters.EventsLost++
		}
	}
}

// Events implements datapath.LBEvents.
func (l *LoadBalancer) Events() (datapath.LBEventStream, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &lbStream{l: l, ch: make(chan datapath.LBEvent, l.st.Options().EventBuffer/datapath.EventRecordSize), done: make(chan struct{})}
	l.streams[s] = true
	return s, nil
}

type lbStream struct {
	l    *LoadBalancer
	ch   chan datapath.LBEvent
	once sync.Once
	done chan struct{}
}

func (s *lbStream) Next(ctx context.Context) (datapath.LBEvent, error) {
	select {
	case e := <-s.ch:
		return e, nil
	case <-s.done:
		return datapath.LBEvent{}, datapath.ErrStreamClosed
	case <-ctx.Done():
		return datapath.LBEvent{}, ctx.Err()
	}
}

func (s *lbStream) Close() error {
	s.once.Do(func() {
		s.l.mu.Lock()
		delete(s.l.streams, s)
		s.l.mu.Unlock()
		close(s.done)
	})
	return nil
}
