package ebpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/maglev"
)

// LoadBalancer is the XDP load balancer (see the package documentation).
type LoadBalancer struct {
	mu     sync.Mutex
	objs   lbObjects
	st     *datapath.LBState
	m      int
	tables *ebpf.Memory // lb_maglev, memory-mapped: regions of m slots
	// regions: the one each service reads, those free, and those retired
	// (maybe still read by packets until a grace period has passed).
	region  map[datapath.Frontend]uint32
	free    []uint32
	retired []uint32
	// Grace periods waited for, for the tests and benchmarks.
	graces int
	links  map[int]link.Link
	events eventSwitch
	closed bool
	// With a PinPath: the services' record (lb_services_meta) and how
	// many of its entries each service takes.
	pinPath string
	meta    *ebpf.Map
	chunks  map[datapath.Frontend]int
	nchunks int
}

var (
	_ datapath.LoadBalancer = (*LoadBalancer)(nil)
	_ datapath.PacketRunner = (*LoadBalancer)(nil)
	_ datapath.ReplyRunner  = (*LoadBalancer)(nil)
	_ datapath.DecapRunner  = (*LoadBalancer)(nil)
	_ datapath.LBEvents     = (*LoadBalancer)(nil)
)

// Events implements datapath.LBEvents with the program's ring buffer.
func (l *LoadBalancer) Events() (datapath.LBEventStream, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errLBClosed
	}
	s, err := openEvents(&l.mu, &l.closed, &l.events, l.objs.LbEvents, "load balancer events", decodeLBEvent)
	if err != nil {
		return nil, err // not a nil *ringStream in an interface
	}
	return s, nil
}

func decodeLBEvent(raw []byte, boot time.Time) (datapath.LBEvent, error) {
	var e lbLbEvent
	if len(raw) < int(unsafe.Sizeof(e)) {
		return datapath.LBEvent{}, fmt.Errorf("a record of %d bytes", len(raw))
	}
	e = *(*lbLbEvent)(unsafe.Pointer(&raw[0]))
	out := datapath.LBEvent{Time: boot.Add(time.Duration(e.KtimeNs)), Ifindex: int(e.Ifindex), Kind: datapath.LBEventKind(e.Kind),
		Client:   netip.AddrPortFrom(wordsAddr(e.Client, e.Family), be16(e.Cport)),
		Frontend: datapath.Frontend{Addr: netip.AddrPortFrom(wordsAddr(e.Vip, e.Family), be16(e.Vport)), Protocol: maglev.Protocol(e.Proto)}}
	if e.Backend != [4]uint32{} {
		out.Backend = netip.AddrPortFrom(wordsAddr(e.Backend, e.Family), be16(e.Bport))
	}
	return out, nil
}

// spareRegions is how many table regions there are beyond one per
// service: that many service changes go by before one RCU grace period
// reclaims the regions they retired.
func spareRegions(maxServices int) int { return max(16, maxServices/8) }

// NewLoadBalancer loads the load balancer's program and maps. Its tables
// take (MaxServices + MaxServices/8, at least 16) x TableSize x 4 bytes.
// With a PinPath that holds the pins of an earlier load balancer, it
// takes over its services, backends and flows (see LBOptions.PinPath).
func NewLoadBalancer(opts datapath.LBOptions) (*LoadBalancer, error) {
	st, err := datapath.NewLBState(opts)
	if err != nil {
		return nil, err
	}
	opts = st.Options()
	spec, err := lbSpec(st)
	if err != nil {
		return nil, err
	}
	m := opts.Maglev.TableSize
	regions := opts.MaxServices + spareRegions(opts.MaxServices)
	l := &LoadBalancer{st: st, m: m, region: map[datapath.Frontend]uint32{}, links: map[int]link.Link{},
		pinPath: opts.PinPath, chunks: map[datapath.Frontend]int{}}
	var copts ebpf.CollectionOptions
	pinned := false
	if l.pinPath != "" {
		if err := os.MkdirAll(l.pinPath, 0o700); err != nil {
			return nil, fmt.Errorf("datapath/ebpf: load balancer: pin path: %w", err)
		}
		for name, ms := range spec.Maps {
			if !strings.HasPrefix(name, ".") {
				ms.Pinning = ebpf.PinByName
			}
		}
		copts.Maps.PinPath = l.pinPath
		for _, name := range []string{lbMetaMap, "lb4_services"} {
			if _, err := os.Stat(filepath.Join(l.pinPath, name)); err == nil {
				pinned = true
			}
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, copts)
	if err != nil {
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			err = fmt.Errorf("%w (the pins were made with other options)", err)
		}
		return nil, fmt.Errorf("datapath/ebpf: load load balancer (pin path %q): %w", l.pinPath, err)
	}
	defer coll.Close()
	if err := coll.Assign(&l.objs); err != nil {
		return nil, fmt.Errorf("datapath/ebpf: load balancer: %w", err)
	}
	if l.pinPath != "" {
		l.meta = coll.DetachMap(lbMetaMap)
	}
	l.events.on = l.objs.LbEventsOn
	mem, err := l.objs.LbMaglev.Memory()
	if err != nil {
		_ = l.closeMaps()
		return nil, fmt.Errorf("datapath/ebpf: load balancer: map the tables: %w", err)
	}
	l.tables = mem
	if pinned {
		if err := l.recover(regions); err != nil {
			_ = l.closeMaps()
			return nil, err
		}
		return l, nil
	}
	for r := regions - 1; r >= 0; r-- {
		l.free = append(l.free, uint32(r))
	}
	return l, nil
}

// lbSpec is the load balancer's collection spec sized by st's options.
func lbSpec(st *datapath.LBState) (*ebpf.CollectionSpec, error) {
	opts := st.Options()
	spec, err := loadLb()
	if err != nil {
		return nil, fmt.Errorf("datapath/ebpf: load balancer: %w", err)
	}
	m := opts.Maglev.TableSize
	regions := opts.MaxServices + spareRegions(opts.MaxServices)
	spec.Maps["lb4_services"].MaxEntries = uint32(opts.MaxServices)
	spec.Maps["lb_backends"].MaxEntries = uint32(opts.MaxBackends + 1) // id 0 unused
	spec.Maps["lb_maglev"].MaxEntries = uint32((regions*m + 1) / 2)    // two slots an element
	spec.Maps["lb4_ct"].MaxEntries = uint32(opts.CTMax)
	spec.Maps["lb4_rev"].MaxEntries = uint32(opts.CTMax)
	spec.Maps["lb_events"].MaxEntries = uint32(opts.EventBuffer)
	spec.Maps["lb6_services"].MaxEntries = uint32(opts.MaxServices)
	spec.Maps["lb6_ct"].MaxEntries = uint32(opts.CTMax)
	spec.Maps["lb6_rev"].MaxEntries = uint32(opts.CTMax)
	if opts.DisableIPv6 {
		for _, name := range []string{"lb6_services", "lb6_ct", "lb6_rev"} {
			spec.Maps[name].MaxEntries = 1
		}
	}
	var dsr, dsr6 [4]uint32
	if opts.DSRSource.Is4() {
		dsr = addrWords(opts.DSRSource)
	}
	if opts.DSRSource6.Is6() {
		dsr6 = addrWords(opts.DSRSource6)
	}
	if err := errors.Join(spec.Variables["table_size"].Set(uint32(m)), spec.Variables["flow_seed4"].Set(st.Seed().Flow4),
		spec.Variables["flow_seed6"].Set(st.Seed().Flow6), spec.Variables["dsr_source"].Set(dsr[0]),
		spec.Variables["dsr_source6"].Set(dsr6), spec.Variables["dsr_redirect"].Set(boolWord(opts.DSRRedirect))); err != nil {
		return nil, fmt.Errorf("datapath/ebpf: load balancer: %w", err)
	}
	if opts.PinPath != "" {
		spec.Maps[lbMetaMap] = &ebpf.MapSpec{Name: lbMetaMap, Type: ebpf.Hash, Flags: unix.BPF_F_NO_PREALLOC,
			KeySize: uint32(unsafe.Sizeof(lbMetaKey{})), ValueSize: uint32(unsafe.Sizeof(lbMetaValue{})),
			MaxEntries: uint32(lbMetaEntries(opts))}
	}
	return spec, nil
}

// Upsert implements datapath.LoadBalancer.
func (l *LoadBalancer) Upsert(services ...datapath.Service) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errLBClosed
	}
	l.reclaimIDs()
	if err := l.checkChunks(services); err != nil {
		return err
	}
	ch, err := l.st.Upsert(services)
	if err != nil {
		return err
	}
	for _, id := range ch.NewIDs {
		if err := l.writeBackend(id); err != nil {
			return err
		}
	}
	// The record first: a load balancer that takes over after a crash
	// here finishes the batch.
	for _, f := range ch.Upserted {
		if err := l.record(f); err != nil {
			return err
		}
	}
	for _, f := range ch.Upserted {
		if err := l.writeService(f); err != nil {
			return err
		}
	}
	return l.clearBackends(ch.FreedIDs)
}

// writeBackend writes the backend entry of id.
func (l *LoadBalancer) writeBackend(id uint32) error {
	a, _ := l.st.BackendAddr(id)
	v := lbLbBackend{Addr: addrWords(a.Addr()), Port: be16(a.Port()), Family: family(a.Addr()), Gen: l.st.BackendGen(id)}
	if err := l.objs.LbBackends.Update(id, &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("datapath/ebpf: load balancer: backend %s: %w", a, err)
	}
	return nil
}

// writeService writes the table of service f into a free region and then
// points the service at it, retiring the region it read before.
func (l *LoadBalancer) writeService(f datapath.Frontend) error {
	r, err := l.takeRegion()
	if err != nil {
		return err
	}
	svc, table, _ := l.st.Service(f)
	if len(table) > 0 {
		// Backend ids as the program reads them: host-order words.
		raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(table))), 4*len(table))
		if _, err := l.tables.WriteAt(raw, int64(r)*int64(l.m)*4); err != nil {
			l.free = append(l.free, r)
			return fmt.Errorf("datapath/ebpf: load balancer: service %s: write its table: %w", f, err)
		}
	}
	v := lbService(svc, table, r)
	if err := l.updateService(f, &v); err != nil {
		l.free = append(l.free, r)
		return fmt.Errorf("datapath/ebpf: load balancer: service %s: %w", f, err)
	}
	if old, ok := l.region[f]; ok {
		l.retired = append(l.retired, old)
	}
	l.region[f] = r
	return nil
}

// lbService is the program's entry of a service whose table is in region r.
func lbService(svc datapath.Service, table []uint32, r uint32) lbLbService {
	v := lbLbService{Region: r, Backends: uint32(min(len(table), 1))}
	if svc.Mode == datapath.LBModeDSR {
		v.Flags |= 1 // LB_SVC_DSR
	}
	if svc.Algorithm == datapath.LBAlgorithmRandom {
		v.Flags |= 2 // LB_SVC_RANDOM
	}
	return v
}

// clearBackends empties the backend entries of removed backends, so that
// their tracked flows are given new ones.
func (l *LoadBalancer) clearBackends(ids []uint32) error {
	for _, id := range ids {
		if err := l.objs.LbBackends.Update(id, &lbLbBackend{}, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("datapath/ebpf: load balancer: clear backend %d: %w", id, err)
		}
	}
	return nil
}

// Delete implements datapath.LoadBalancer.
func (l *LoadBalancer) Delete(frontends ...datapath.Frontend) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errLBClosed
	}
	ch, err := l.st.Delete(frontends)
	if err != nil {
		return err
	}
	for _, f := range ch.Removed {
		if err := l.unrecord(f, 0); err != nil {
			return err
		}
	}
	for _, f := range ch.Removed {
		if err := l.deleteService(f); err != nil {
			return fmt.Errorf("datapath/ebpf: load balancer: service %s: %w", f, err)
		}
		l.retired = append(l.retired, l.region[f])
		delete(l.region, f)
	}
	if err := l.purgeFlows(ch.Removed); err != nil {
		return err
	}
	return l.clearBackends(ch.FreedIDs)
}

// purgeFlows removes the tracked flows of deleted services: the program
// looks at a tracked flow's service no more.
func (l *LoadBalancer) purgeFlows(frontends []datapath.Frontend) error {
	gone := map[datapath.Frontend]bool{}
	for _, f := range frontends {
		gone[f] = true
	}
	if _, err := l.removeFlows(func(e datapath.CTEntry) bool { return gone[e.Frontend] }); err != nil {
		return fmt.Errorf("datapath/ebpf: load balancer: remove the flows of deleted services: %w", err)
	}
	return nil
}

// takeRegion returns a free table region, waiting for a grace period to
// reclaim the retired ones when none is free.
func (l *LoadBalancer) takeRegion() (uint32, error) {
	if len(l.free) == 0 {
		if err := l.grace(); err != nil {
			return 0, err
		}
	}
	if len(l.free) == 0 {
		return 0, fmt.Errorf("datapath/ebpf: load balancer: no free table region")
	}
	r := l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	return r, nil
}

// reclaimIDs makes removed backends' ids reusable, after a grace period,
// before a batch may take new ones.
func (l *LoadBalancer) reclaimIDs() {
	if l.st.Released() {
		if err := l.grace(); err == nil {
			l.st.Release()
		}
	}
}

// grace waits for an RCU grace period and frees what it retired.
func (l *LoadBalancer) grace() error {
	if err := graceperiod(); err != nil {
		return fmt.Errorf("datapath/ebpf: load balancer: %w", err)
	}
	l.graces++
	l.free = append(l.free, l.retired...)
	l.retired = nil
	l.st.Release()
	return nil
}

// GracePeriods is how many RCU grace periods the load balancer has waited
// for so far.
func (l *LoadBalancer) GracePeriods() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.graces
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
	var c datapath.LBCounters
	if err := sumCounters(l.objs.LbStats, &c.Passed, &c.Forwarded, &c.NoBackend, &c.Fragments, &c.Established, &c.Replies, &c.Decapsulated, &c.EventsLost,
		&c.Redirected); err != nil {
		return c, fmt.Errorf("datapath/ebpf: load balancer counters: %w", err)
	}
	return c, nil
}

// Now implements datapath.LoadBalancer: CLOCK_MONOTONIC, the clock of
// bpf_ktime_get_ns.
func (l *LoadBalancer) Now() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// Conntrack implements datapath.LoadBalancer.
func (l *LoadBalancer) Conntrack() ([]datapath.CTEntry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []datapath.CTEntry
	err := l.eachFlow(func(e datapath.CTEntry) { out = append(out, e) })
	slices.SortFunc(out, datapath.CompareCTEntry)
	return out, err
}

// Flow implements datapath.LoadBalancer.
func (l *LoadBalancer) Flow(client netip.AddrPort, f datapath.Frontend) (datapath.CTEntry, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return datapath.CTEntry{}, false, errLBClosed
	}
	proto := uint8(f.Protocol)
	cl, vip := addrWords(client.Addr()), addrWords(f.Addr.Addr())
	cport, vport := be16(client.Port()), be16(f.Addr.Port())
	var v lbCtEntry
	var err error
	if client.Addr().Is4() {
		err = l.objs.Lb4Ct.Lookup(lbCt4Key{Saddr: cl[0], Vip: vip[0], Sport: cport, Dport: vport, Proto: proto}, &v)
	} else {
		err = l.objs.Lb6Ct.Lookup(lbCt6Key{Saddr: cl, Vip: vip, Sport: cport, Dport: vport, Proto: proto}, &v)
	}
	switch {
	case errors.Is(err, ebpf.ErrKeyNotExist):
		return datapath.CTEntry{}, false, nil
	case err != nil:
		return datapath.CTEntry{}, false, fmt.Errorf("datapath/ebpf: load balancer conntrack: flow %s to %s: %w", client, f, err)
	}
	return datapath.CTEntry{Client: client, Frontend: f, Backend: netip.AddrPortFrom(wordsAddr(v.BackendAddr, family(client.Addr())), be16(v.BackendPort)),
		LastSeen: time.Duration(v.LastSeenNs), State: datapath.CTState(v.State)}, true, nil
}

// ExpireConntrack implements datapath.LoadBalancer.
func (l *LoadBalancer) ExpireConntrack(now time.Duration) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.st.Options().CTTimeouts
	n, err := l.removeFlows(func(e datapath.CTEntry) bool {
		return e.LastSeen+t.Timeout(e.Frontend.Protocol, e.State) < now
	})
	if err != nil {
		return n, fmt.Errorf("datapath/ebpf: load balancer conntrack: %w", err)
	}
	return n, nil
}

// removeFlows removes the tracked flows that match, with their reverse
// NAT entries, and returns how many.
func (l *LoadBalancer) removeFlows(match func(datapath.CTEntry) bool) (int, error) {
	var gone []datapath.CTEntry
	err := l.eachFlow(func(e datapath.CTEntry) {
		if match(e) {
			gone = append(gone, e)
		}
	})
	n := 0
	for _, e := range gone {
		ok, derr := l.deleteFlow(e)
		if ok {
			n++
		}
		err = errors.Join(err, derr)
	}
	return n, err
}

// deleteFlow deletes the tracked flow e (client and frontend) and its
// reverse NAT entry (client and backend), and says whether the flow was
// there.
func (l *LoadBalancer) deleteFlow(e datapath.CTEntry) (bool, error) {
	var derr, rerr error
	proto := uint8(e.Frontend.Protocol)
	cl, vip, be := addrWords(e.Client.Addr()), addrWords(e.Frontend.Addr.Addr()), addrWords(e.Backend.Addr())
	cport, vport, bport := be16(e.Client.Port()), be16(e.Frontend.Addr.Port()), be16(e.Backend.Port())
	if e.Client.Addr().Is4() {
		derr = l.objs.Lb4Ct.Delete(lbCt4Key{Saddr: cl[0], Vip: vip[0], Sport: cport, Dport: vport, Proto: proto})
		rerr = l.objs.Lb4Rev.Delete(lbRev4Key{Client: cl[0], Backend: be[0], Cport: cport, Bport: bport, Proto: proto})
	} else {
		derr = l.objs.Lb6Ct.Delete(lbCt6Key{Saddr: cl, Vip: vip, Sport: cport, Dport: vport, Proto: proto})
		rerr = l.objs.Lb6Rev.Delete(lbRev6Key{Client: cl, Backend: be, Cport: cport, Bport: bport, Proto: proto})
	}
	if errors.Is(derr, ebpf.ErrKeyNotExist) {
		return false, nil
	}
	if errors.Is(rerr, ebpf.ErrKeyNotExist) {
		rerr = nil
	}
	return derr == nil, errors.Join(derr, rerr)
}

// eachFlow calls f with every tracked flow, IPv4's first.
func (l *LoadBalancer) eachFlow(f func(datapath.CTEntry)) error {
	entry := func(family uint8, saddr, vip [4]uint32, sport, dport uint16, proto uint8, v *lbCtEntry) datapath.CTEntry {
		return datapath.CTEntry{
			Client: netip.AddrPortFrom(wordsAddr(saddr, family), be16(sport)),
			Frontend: datapath.Frontend{Addr: netip.AddrPortFrom(wordsAddr(vip, family), be16(dport)),
				Protocol: maglev.Protocol(proto)},
			Backend:  netip.AddrPortFrom(wordsAddr(v.BackendAddr, family), be16(v.BackendPort)),
			LastSeen: time.Duration(v.LastSeenNs),
			State:    datapath.CTState(v.State),
		}
	}
	var k4 lbCt4Key
	var v lbCtEntry
	it := l.objs.Lb4Ct.Iterate()
	for it.Next(&k4, &v) {
		f(entry(4, [4]uint32{k4.Saddr}, [4]uint32{k4.Vip}, k4.Sport, k4.Dport, k4.Proto, &v))
	}
	var k6 lbCt6Key
	it6 := l.objs.Lb6Ct.Iterate()
	for it6.Next(&k6, &v) {
		f(entry(6, k6.Saddr, k6.Vip, k6.Sport, k6.Dport, k6.Proto, &v))
	}
	return errors.Join(it.Err(), it6.Err())
}

// addrWords is an address as the program reads it from a packet: four
// words in network order (an IPv4 address in the first).
func addrWords(a netip.Addr) [4]uint32 {
	var w [4]uint32
	if a.Is4() {
		w[0] = ne32(a.As4())
		return w
	}
	b := a.As16()
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

// wordsAddr is the address of family (4 or 6) addrWords gave w.
func wordsAddr(w [4]uint32, family uint8) netip.Addr {
	if family == 4 {
		return addr4(w[0])
	}
	var b [16]byte
	for i, x := range w {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return netip.AddrFrom16(b)
}

// boolWord is b as a program's 32-bit flag.
func boolWord(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// family is the program's family number of a.
func family(a netip.Addr) uint8 {
	if a.Is4() {
		return 4
	}
	return 6
}

func addr4(v uint32) netip.Addr {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// updateService writes the program's entry of service f.
func (l *LoadBalancer) updateService(f datapath.Frontend, v *lbLbService) error {
	if f.Addr.Addr().Is4() {
		return l.objs.Lb4Services.Update(lbKey(f), v, ebpf.UpdateAny)
	}
	return l.objs.Lb6Services.Update(lbKey6(f), v, ebpf.UpdateAny)
}

// deleteService deletes the program's entry of service f.
func (l *LoadBalancer) deleteService(f datapath.Frontend) error {
	if f.Addr.Addr().Is4() {
		return l.objs.Lb4Services.Delete(lbKey(f))
	}
	return l.objs.Lb6Services.Delete(lbKey6(f))
}

// RunPacket implements datapath.PacketRunner with BPF_PROG_TEST_RUN.
func (l *LoadBalancer) RunPacket(frame []byte) (datapath.Verdict, []byte, error) {
	return runXDP(l.objs.XdpLb, "load balancer", frame)
}

// Attach attaches the load balancer to the interface ifindex (of the
// calling thread's network namespace) through a bpf_link, and returns the
// XDP mode it runs in.
func (l *LoadBalancer) Attach(ifindex int, mode datapath.XDPMode) (datapath.XDPMode, error) {
	return l.attach(l.objs.XdpLb, "xdp_lb", "load balancer", ifindex, mode)
}

// attach attaches one of the load balancer's programs, name, to ifindex
// (its link pinned as name_ifindex with a PinPath).
func (l *LoadBalancer) attach(prog *ebpf.Program, name, what string, ifindex int, mode datapath.XDPMode) (datapath.XDPMode, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return mode, errLBClosed
	}
	if _, ok := l.links[ifindex]; ok {
		return mode, fmt.Errorf("datapath/ebpf: load balancer: interface %d: already attached", ifindex)
	}
	pin := ""
	if l.pinPath != "" {
		pin = filepath.Join(l.pinPath, fmt.Sprintf("%s_%d", name, ifindex))
	}
	lk, used, err := attachXDPPinned(prog, pin, ifindex, mode)
	if err != nil {
		return used, fmt.Errorf("datapath/ebpf: %s: %w", what, err)
	}
	l.links[ifindex] = lk
	return used, nil
}

// Detach detaches the load balancer from the interface ifindex.
func (l *LoadBalancer) Detach(ifindex int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	lk, ok := l.links[ifindex]
	if !ok {
		return fmt.Errorf("datapath/ebpf: load balancer: interface %d: not attached", ifindex)
	}
	delete(l.links, ifindex)
	if err := detachLink(lk, l.pinPath != ""); err != nil {
		return fmt.Errorf("datapath/ebpf: load balancer: detach from interface %d: %w", ifindex, err)
	}
	return nil
}

// AttachReplies attaches the reply program (reverse NAT) to the
// interface ifindex, where backends' replies come in.
func (l *LoadBalancer) AttachReplies(ifindex int, mode datapath.XDPMode) (datapath.XDPMode, error) {
	return l.attach(l.objs.XdpLbReply, "xdp_lb_reply", "load balancer replies", ifindex, mode)
}

// AttachDSRDecap attaches, on a DSR backend, the program that unwraps
// the IPIP packets the load balancer sends (for kernels without an IPIP
// device) to the interface ifindex.
func (l *LoadBalancer) AttachDSRDecap(ifindex int, mode datapath.XDPMode) (datapath.XDPMode, error) {
	return l.attach(l.objs.XdpDsrDecap, "xdp_dsr_decap", "DSR decapsulation", ifindex, mode)
}

// RunDecapPacket implements datapath.DecapRunner with BPF_PROG_TEST_RUN.
func (l *LoadBalancer) RunDecapPacket(frame []byte) (datapath.Verdict, []byte, error) {
	return runXDP(l.objs.XdpDsrDecap, "DSR decapsulation", frame)
}

// RunReplyPacket implements datapath.ReplyRunner with BPF_PROG_TEST_RUN.
func (l *LoadBalancer) RunReplyPacket(frame []byte) (datapath.Verdict, []byte, error) {
	return runXDP(l.objs.XdpLbReply, "load balancer reply", frame)
}

// Program is the load balancer's XDP program, for benchmarks.
func (l *LoadBalancer) Program() *ebpf.Program { return l.objs.XdpLb }

// Close implements datapath.LoadBalancer: it detaches the programs from
// every interface and releases the maps, but with a PinPath, where it
// leaves the pinned links and maps, and the programs running, for the
// next load balancer to take over (Remove takes them away).
func (l *LoadBalancer) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.close(false)
}

// Remove is Close that also detaches pinned links (those an earlier load
// balancer attached included) and removes every pin.
func (l *LoadBalancer) Remove() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.close(true)
}

func (l *LoadBalancer) close(unpin bool) error {
	if l.closed {
		return nil
	}
	l.closed = true
	l.tables = nil
	unpin = unpin && l.pinPath != ""
	var errs []error
	for ifindex, lk := range l.links {
		var err error
		if unpin || l.pinPath == "" {
			err = detachLink(lk, unpin)
		} else {
			err = lk.Close() // a pinned link stays
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("interface %d: %w", ifindex, err))
		}
	}
	if unpin {
		errs = append(errs, removeLinkPins(l.pinPath, "xdp_lb_*"), removeLinkPins(l.pinPath, "xdp_dsr_decap_*"))
		for _, m := range l.maps() {
			errs = append(errs, m.Unpin())
		}
	}
	errs = append(errs, l.closeMaps())
	if unpin {
		errs = append(errs, removePinDir(l.pinPath))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("datapath/ebpf: load balancer: close: %w", err)
	}
	return nil
}

// maps are the load balancer's maps by name.
func (l *LoadBalancer) maps() map[string]*ebpf.Map {
	m := map[string]*ebpf.Map{"lb4_services": l.objs.Lb4Services, "lb6_services": l.objs.Lb6Services,
		"lb_backends": l.objs.LbBackends, "lb_maglev": l.objs.LbMaglev, "lb4_ct": l.objs.Lb4Ct, "lb6_ct": l.objs.Lb6Ct,
		"lb4_rev": l.objs.Lb4Rev, "lb6_rev": l.objs.Lb6Rev, "lb_stats": l.objs.LbStats,
		"lb_events": l.objs.LbEvents}
	if l.meta != nil {
		m[lbMetaMap] = l.meta
	}
	return m
}

func (l *LoadBalancer) closeMaps() error {
	err := l.objs.Close()
	if l.meta != nil {
		err = errors.Join(err, l.meta.Close())
	}
	return err
}

var errLBClosed = errors.New("datapath/ebpf: load balancer closed")

func lbKey(f datapath.Frontend) lbLb4Key {
	return lbLb4Key{Vip: ne32(f.Addr.Addr().As4()), Port: be16(f.Addr.Port()), Proto: uint8(f.Protocol)}
}

func lbKey6(f datapath.Frontend) lbLb6Key {
	return lbLb6Key{Vip: addrWords(f.Addr.Addr()), Port: be16(f.Addr.Port()), Proto: uint8(f.Protocol)}
}

// ne32 is an IPv4 address as the program reads it from a packet.
func ne32(a [4]byte) uint32 { return binary.LittleEndian.Uint32(a[:]) }

// be16 is v as the program reads a network-order 16-bit field.
func be16(v uint16) uint16 { return v>>8 | v<<8 }

// MapMemlock returns what the kernel says each map of the load balancer
// allocated, by map name.
func (l *LoadBalancer) MapMemlock() (map[string]uint64, error) {
	out := map[string]uint64{}
	for name, m := range l.maps() {
		info, err := m.Info()
		if err != nil {
			return nil, fmt.Errorf("datapath/ebpf: load balancer: %s: %w", name, err)
		}
		if n, ok := info.Memlock(); ok {
			out[name] = n
		}
	}
	return out, nil
}

// runXDP runs an XDP program on frame with BPF_PROG_TEST_RUN and returns
// its verdict and the frame it left (with room to grow by 256 bytes).
func runXDP(prog *ebpf.Program, what string, frame []byte) (datapath.Verdict, []byte, error) {
	out := make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out}
	ret, err := prog.Run(opts)
	if err != nil {
		return 0, nil, fmt.Errorf("datapath/ebpf: %s test run: %w", what, err)
	}
	return datapath.Verdict(ret), opts.DataOut, nil
}
