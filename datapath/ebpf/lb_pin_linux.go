package ebpf

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/maglev"
)

// The services' record, kept with a PinPath for the next load balancer:
// what the program's maps cannot give back, each service's mode and
// backends with their weights (backend addresses and generations are in
// lb4_backends, tables in lb_maglev). No program reads it. A service
// takes one entry for every lbMetaChunk backends (one at least).
const (
	lbMetaMap   = "lb_services_meta"
	lbMetaChunk = 14
)

type lbMetaKey struct {
	Addr   [16]byte
	Port   uint16
	Proto  uint8
	Family uint8
	Chunk  uint32
}

type lbMetaBackend struct {
	ID     uint32
	Weight uint32
}

type lbMetaValue struct {
	Mode      uint16
	Algorithm uint16
	Total     uint32 // the service's backends, over all its entries
	Backends  [lbMetaChunk]lbMetaBackend
}

// lbMetaEntries bounds the record: a service with more than lbMetaChunk
// backends takes more than one entry, and all of them share MaxBackends/4
// more entries (243,000 backend listings at the defaults). The map is not
// preallocated: it takes what its entries take.
func lbMetaEntries(opts datapath.LBOptions) int { return opts.MaxServices + opts.MaxBackends/4 }

func metaChunks(backends int) int { return max(1, (backends+lbMetaChunk-1)/lbMetaChunk) }

func metaKey(f datapath.Frontend, chunk int) lbMetaKey {
	k := lbMetaKey{Addr: f.Addr.Addr().As16(), Port: f.Addr.Port(), Proto: uint8(f.Protocol), Family: 6, Chunk: uint32(chunk)}
	if f.Addr.Addr().Is4() {
		k.Family = 4
	}
	return k
}

func (k lbMetaKey) frontend() datapath.Frontend {
	a := netip.AddrFrom16(k.Addr)
	if k.Family == 4 {
		a = a.Unmap()
	}
	return datapath.Frontend{Addr: netip.AddrPortFrom(a, k.Port), Protocol: maglev.Protocol(k.Proto)}
}

// checkChunks refuses a batch after which the record would not fit.
func (l *LoadBalancer) checkChunks(services []datapath.Service) error {
	if l.meta == nil {
		return nil
	}
	n := l.nchunks
	batch := map[datapath.Frontend]int{}
	for _, s := range services {
		batch[s.Frontend] = len(s.Backends)
	}
	for f, b := range batch {
		n += metaChunks(b) - l.chunks[f]
	}
	if limit := lbMetaEntries(l.st.Options()); n > limit {
		return &datapath.LBError{Field: "services", Err: fmt.Errorf("%w: the services' record would take %d entries, %d at most (%d backends an entry)",
			datapath.ErrLBFull, n, limit, lbMetaChunk)}
	}
	return nil
}

// record writes service f's entries of the record, and deletes those it
// no longer takes.
func (l *LoadBalancer) record(f datapath.Frontend) error {
	if l.meta == nil {
		return nil
	}
	svc, _, _ := l.st.Service(f)
	n := metaChunks(len(svc.Backends))
	for c := range n {
		v := lbMetaValue{Mode: uint16(svc.Mode), Algorithm: uint16(svc.Algorithm), Total: uint32(len(svc.Backends))}
		for i, b := range svc.Backends[c*lbMetaChunk : min(len(svc.Backends), (c+1)*lbMetaChunk)] {
			v.Backends[i] = lbMetaBackend{ID: l.st.BackendID(b.Addr), Weight: uint32(b.Weight)}
		}
		if err := l.meta.Update(metaKey(f, c), &v, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("datapath/ebpf: load balancer: service %s: record it: %w", f, err)
		}
	}
	return l.unrecord(f, n)
}

// unrecord deletes service f's entries of the record from the from-th on.
func (l *LoadBalancer) unrecord(f datapath.Frontend, from int) error {
	if l.meta == nil {
		return nil
	}
	for c := from; c < l.chunks[f]; c++ {
		if err := l.meta.Delete(metaKey(f, c)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("datapath/ebpf: load balancer: service %s: forget it: %w", f, err)
		}
	}
	l.nchunks += from - l.chunks[f]
	if from == 0 {
		delete(l.chunks, f)
	} else {
		l.chunks[f] = from
	}
	return nil
}

// recover takes over the services of the pinned maps. The record says
// what the services are; the program's maps are then made to agree with
// it, which finishes a batch an earlier load balancer was applying when
// it stopped: services it names get their tables written where the
// region holds another, services it does not name are removed (with
// their flows), and backends no service names are cleared. Tracked flows
// keep their backends, whose ids and generations are kept.
func (l *LoadBalancer) recover(regions int) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("datapath/ebpf: load balancer: take over the pinned maps: "+format, args...)
	}
	// Backends: id to address and generation.
	type backend struct {
		addr netip.AddrPort
		gen  uint32
	}
	byID := map[uint32]backend{}
	var id uint32
	var b lbLbBackend
	it := l.objs.LbBackends.Iterate()
	for it.Next(&id, &b) {
		if b.Family != 0 {
			byID[id] = backend{netip.AddrPortFrom(wordsAddr(b.Addr, b.Family), be16(b.Port)), b.Gen}
		}
	}
	if err := it.Err(); err != nil {
		return fail("backends: %w", err)
	}
	// The record.
	type rec struct {
		mode, algorithm uint16
		total           uint32
		chunks          map[uint32][]lbMetaBackend
	}
	recs := map[datapath.Frontend]*rec{}
	if l.meta != nil {
		var k lbMetaKey
		var v lbMetaValue
		mit := l.meta.Iterate()
		for mit.Next(&k, &v) {
			f := k.frontend()
			r := recs[f]
			if r == nil {
				r = &rec{mode: v.Mode, algorithm: v.Algorithm, total: v.Total, chunks: map[uint32][]lbMetaBackend{}}
				recs[f] = r
			}
			n := min(int(v.Total)-int(k.Chunk)*lbMetaChunk, lbMetaChunk)
			if v.Total != r.total || v.Mode != r.mode || v.Algorithm != r.algorithm || n < 0 || (n == 0 && k.Chunk > 0) {
				return fail("record of service %s: entry %d does not fit the others", f, k.Chunk)
			}
			r.chunks[k.Chunk] = slices.Clone(v.Backends[:n])
		}
		if err := mit.Err(); err != nil {
			return fail("record: %w", err)
		}
	}
	var services []datapath.Service
	ids := map[netip.AddrPort]uint32{}
	gens := map[uint32]uint32{}
	for f, r := range recs {
		s := datapath.Service{Frontend: f, Mode: datapath.LBMode(r.mode), Algorithm: datapath.LBAlgorithm(r.algorithm)}
		n := metaChunks(int(r.total))
		if len(r.chunks) != n {
			return fail("record of service %s: %d entries of %d", f, len(r.chunks), n)
		}
		for c := range uint32(n) {
			for _, mb := range r.chunks[c] {
				be, ok := byID[mb.ID]
				if !ok {
					return fail("record of service %s: backend id %d is not in the backends map", f, mb.ID)
				}
				s.Backends = append(s.Backends, datapath.LBBackend{Addr: be.addr, Weight: uint16(mb.Weight)})
				ids[be.addr], gens[mb.ID] = mb.ID, be.gen
			}
		}
		services = append(services, s)
		l.chunks[f] = n
		l.nchunks += n
	}
	st, err := datapath.RestoreLBState(l.st.Options(), services, ids, gens)
	if err != nil {
		return fail("%w", err)
	}
	l.st = st
	// Regions and backend ids the earlier load balancer retired may still
	// be read by packets it let in.
	if err := l.grace(); err != nil {
		return err
	}
	// Services as the program sees them.
	seen := map[datapath.Frontend]lbLbService{}
	var sk lbLb4Key
	var sk6 lbLb6Key
	var sv lbLbService
	sit := l.objs.Lb4Services.Iterate()
	for sit.Next(&sk, &sv) {
		seen[datapath.Frontend{Addr: netip.AddrPortFrom(addr4(sk.Vip), be16(sk.Port)), Protocol: maglev.Protocol(sk.Proto)}] = sv
	}
	sit6 := l.objs.Lb6Services.Iterate()
	for sit6.Next(&sk6, &sv) {
		seen[datapath.Frontend{Addr: netip.AddrPortFrom(wordsAddr(sk6.Vip, 6), be16(sk6.Port)), Protocol: maglev.Protocol(sk6.Proto)}] = sv
	}
	if err := errors.Join(sit.Err(), sit6.Err()); err != nil {
		return fail("services: %w", err)
	}
	used := map[uint32]bool{}
	var stale []datapath.Frontend
	for _, s := range st.Services() {
		v, ok := seen[s.Frontend]
		_, table, _ := st.Service(s.Frontend)
		if ok && int(v.Region) < regions && !used[v.Region] && v == lbService(s, table, v.Region) && l.regionHolds(v.Region, table) {
			used[v.Region] = true
			l.region[s.Frontend] = v.Region
			continue
		}
		stale = append(stale, s.Frontend)
	}
	l.free = l.free[:0]
	for r := regions - 1; r >= 0; r-- {
		if !used[uint32(r)] {
			l.free = append(l.free, uint32(r))
		}
	}
	for _, f := range stale {
		if err := l.writeService(f); err != nil {
			return err
		}
	}
	var removed []datapath.Frontend
	for f := range seen {
		if _, _, ok := st.Service(f); !ok {
			if err := l.deleteService(f); err != nil {
				return fail("service %s: %w", f, err)
			}
			removed = append(removed, f)
		}
	}
	if err := l.purgeFlows(removed); err != nil {
		return err
	}
	var unused []uint32
	for id := range byID {
		if _, ok := st.BackendAddr(id); !ok {
			unused = append(unused, id)
		}
	}
	return l.clearBackends(unused)
}

// regionHolds says whether region r holds table.
func (l *LoadBalancer) regionHolds(r uint32, table []uint32) bool {
	if len(table) == 0 {
		return true
	}
	want := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(table))), 4*len(table))
	got := make([]byte, len(want))
	if _, err := l.tables.ReadAt(got, int64(r)*int64(l.m)*4); err != nil {
		return false
	}
	return bytes.Equal(got, want)
}
