package fake

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
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
	rng      *rand.Rand // LBAlgorithmRandom's slots
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
		clock: func() time.Duration { return time.Since(start) }, streams: map[*lbStream]bool{},
		rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}, nil
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

// Flow implements datapath.LoadBalancer.
func (l *LoadBalancer) Flow(client netip.AddrPort, f datapath.Frontend) (datapath.CTEntry, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.ct[ctKey{client: client, frontend: f}]
	if !ok {
		return datapath.CTEntry{}, false, nil
	}
	return datapath.CTEntry{Client: client, Frontend: f, Backend: e.backend, LastSeen: e.lastSeen, State: e.state}, true, nil
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
	p, skip := l.parse(out)
	if skip != nil {
		return pass(skip)
	}
	dport := binary.BigEndian.Uint16(p.l4[2:4])
	f := datapath.Frontend{Addr: netip.AddrPortFrom(p.dst(), dport), Protocol: maglev.Protocol(p.proto)}
	var flags uint8
	if f.Protocol == maglev.ProtocolTCP {
		flags = p.l4[13]
	}
	now := l.clock()
	key := ctKey{client: netip.AddrPortFrom(p.src(), binary.BigEndian.Uint16(p.l4[0:2])), frontend: f}
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
		var id uint32
		if svc.Algorithm == datapath.LBAlgorithmRandom {
			id = table[l.rng.IntN(len(table))]
		} else {
			flow := maglev.Flow{Src: key.client.Addr(), SrcPort: key.client.Port(), DstPort: dport, Proto: p.proto}
			id, _ = maglev.Lookup(table, l.st.Seed(), flow)
		}
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
		if len(out)-len(p.ip) != 14 {
			return pass(&l.counters.Passed)
		}
		*counter++
		if p.v6 {
			return datapath.VerdictPass, encapIPv6(out, l.st.Options().DSRSource6, be.Addr()), nil
		}
		return datapath.VerdictPass, encapIPIP(out, l.st.Options().DSRSource, be.Addr()), nil
	}
	p.rewrite(p.dstField(), p.l4[2:4], be)
	*counter++
	return datapath.VerdictPass, out, nil
}

// RunReplyPacket implements datapath.ReplyRunner.
func (l *LoadBalancer) RunReplyPacket(frame []byte) (datapath.Verdict, []byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(frame)
	p, skip := l.parse(out)
	if skip != nil {
		*skip++
		return datapath.VerdictPass, out, nil
	}
	k := revKey{client: netip.AddrPortFrom(p.dst(), binary.BigEndian.Uint16(p.l4[2:4])),
		backend: netip.AddrPortFrom(p.src(), binary.BigEndian.Uint16(p.l4[0:2])), proto: maglev.Protocol(p.proto)}
	fe, ok := l.rev[k]
	if !ok {
		l.counters.Passed++
		return datapath.VerdictPass, out, nil
	}
	p.rewrite(p.srcField(), p.l4[0:2], fe)
	l.counters.Replies++
	return datapath.VerdictPass, out, nil
}

// packet is an IPv4 or IPv6 TCP or UDP packet as the programs' parse
// finds it: the IP header on and the TCP or UDP header on.
type packet struct {
	ip, l4 []byte
	v6     bool
	proto  uint8
}

func (p packet) srcField() []byte {
	if p.v6 {
		return p.ip[8:24]
	}
	return p.ip[12:16]
}

func (p packet) dstField() []byte {
	if p.v6 {
		return p.ip[24:40]
	}
	return p.ip[16:20]
}

func (p packet) src() netip.Addr { return fieldAddr(p.srcField()) }
func (p packet) dst() netip.Addr { return fieldAddr(p.dstField()) }

func fieldAddr(b []byte) netip.Addr {
	if len(b) == 4 {
		return netip.AddrFrom4([4]byte(b))
	}
	return netip.AddrFrom16([16]byte(b))
}

// parse finds the IP header and the TCP or UDP header of an untagged or
// tagged frame as the programs' parse does (IPv6 extension headers are
// not walked: a fragment header counts as a fragment, any other passes),
// or the counter of a packet they pass untouched.
func (l *LoadBalancer) parse(frame []byte) (packet, *uint64) {
	etherType, l3, ok := parseL2(frame)
	var p packet
	var l4 int
	switch {
	case !ok:
		return p, &l.counters.Passed
	case etherType == etherTypeIPv4:
		if len(l3) < 20 || l3[0]&0x0f < 5 || (l3[9] != 6 && l3[9] != 17) {
			return p, &l.counters.Passed
		}
		if binary.BigEndian.Uint16(l3[6:8])&0x3fff != 0 {
			return p, &l.counters.Fragments
		}
		p.proto, l4 = l3[9], int(l3[0]&0x0f)*4
	case etherType == etherTypeIPv6:
		if len(l3) < 40 {
			return p, &l.counters.Passed
		}
		if l3[6] == 44 {
			return p, &l.counters.Fragments
		}
		if l3[6] != 6 && l3[6] != 17 {
			return p, &l.counters.Passed
		}
		p.proto, p.v6, l4 = l3[6], true, 40
	default:
		return p, &l.counters.Passed
	}
	l4len := 8 // UDP
	if p.proto == 6 {
		l4len = 20 // TCP
	}
	if len(l3) < l4+l4len {
		return p, &l.counters.Passed // the whole header before anything is rewritten
	}
	p.ip, p.l4 = l3, l3[l4:]
	return p, nil
}

// rewrite sets the address field addr and the port field port of the
// packet to to, updating the checksums as the programs' rewrite4 and
// rewrite6 do.
func (p packet) rewrite(addr, port []byte, to netip.AddrPort) {
	// The TCP checksum, or UDP's unless 0 (none).
	var check []byte
	switch {
	case p.proto == 6:
		check = p.l4[16:18]
	case native16(p.l4[6:8]) != 0:
		check = p.l4[6:8]
	}
	var c uint16
	if check != nil {
		c = native16(check)
	}
	var newAddr []byte
	if p.v6 {
		a := to.Addr().As16()
		newAddr = a[:]
	} else {
		a := to.Addr().As4()
		newAddr = a[:]
	}
	for i := 0; i < len(addr); i += 4 {
		from, into := native32(addr[i:i+4]), native32(newAddr[i:i+4])
		c = csumReplace(c, from, into)
		if !p.v6 {
			putNative16(p.ip[10:12], csumReplace(native16(p.ip[10:12]), from, into))
		}
	}
	copy(addr, newAddr)
	oldPort := native16(port)
	binary.BigEndian.PutUint16(port, to.Port())
	c = csumReplace(c, uint32(oldPort), uint32(native16(port)))
	if check != nil {
		if p.proto == 17 && c == 0 {
			c = 0xffff
		}
		putNative16(check, c)
	}
}

// track records a flow, making room by dropping the least recently seen
// of its family when the family's table is full (the kernel keeps one LRU
// map a family, which approximates this).
func (l *LoadBalancer) track(k ctKey, e ctEntry) {
	if _, ok := l.ct[k]; !ok && len(l.ct) >= l.st.Options().CTMax {
		v6 := k.client.Addr().Is6()
		var oldest ctKey
		n := 0
		for ok, oe := range l.ct {
			if ok.client.Addr().Is6() != v6 {
				continue
			}
			if n == 0 || oe.lastSeen < l.ct[oldest].lastSeen {
				oldest = ok
			}
			n++
		}
		if n >= l.st.Options().CTMax {
			delete(l.ct, oldest)
		}
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

// encapIPv6 puts an outer IPv6 header (src to dst, next header IPv6)
// between the Ethernet header and the packet of an untagged frame, as the
// program's encap6 does.
func encapIPv6(frame []byte, src, dst netip.Addr) []byte {
	inner := frame[14:]
	out := make([]byte, 0, len(frame)+40)
	out = append(out, frame[:14]...)
	outer := make([]byte, 40)
	// Version and traffic class, no flow label.
	binary.BigEndian.PutUint32(outer[0:4], binary.BigEndian.Uint32(inner[0:4])&0xfff00000)
	binary.BigEndian.PutUint16(outer[4:6], binary.BigEndian.Uint16(inner[4:6])+40)
	outer[6] = 41 // IPv6
	outer[7] = 64
	s, d := src.As16(), dst.As16()
	copy(outer[8:24], s[:])
	copy(outer[24:40], d[:])
	out = append(out, outer...)
	return append(out, inner...)
}

// RunDecapPacket implements datapath.DecapRunner, as the program does.
func (l *LoadBalancer) RunDecapPacket(frame []byte) (datapath.Verdict, []byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(frame)
	outer := 0
	switch {
	case len(out) < 14:
	case binary.BigEndian.Uint16(out[12:14]) == etherTypeIPv4:
		if len(out) >= 34 && out[14+9] == 4 && out[14]&0x0f == 5 && binary.BigEndian.Uint16(out[14+6:14+8])&0x3fff == 0 {
			outer = 20
		}
	case binary.BigEndian.Uint16(out[12:14]) == etherTypeIPv6:
		if len(out) >= 54 && out[14+6] == 41 {
			outer = 40
		}
	}
	if outer == 0 {
		l.counters.Passed++
		return datapath.VerdictPass, out, nil
	}
	l.counters.Decapsulated++
	return datapath.VerdictPass, append(out[:14:14], out[14+outer:]...), nil
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
	s := &lbStream{l: l, ch: make(chan datapath.LBEvent, l.st.Options().EventBuffer/datapath.LBEventRecordSize), done: make(chan struct{})}
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
