package ebpf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/eniway/eniway/datapath"
)

var errClosed = errors.New("datapath/ebpf: prefilter closed")

// Prefilter is the XDP prefilter (see the package documentation).
type Prefilter struct {
	max int

	mu   sync.Mutex
	objs prefilterObjects
	// list is the deny list packets read (tries[active]); held is what
	// each trie holds.
	list   *datapath.PrefixSet
	held   [2]*datapath.PrefixSet
	active uint32
	rev    uint64
	// retired: the trie that is not active may still be read by packets
	// that looked at the index before the last switch.
	retired bool
	links   map[int]link.Link
	closed  bool
	pinPath string
	// events turns the program's drop events on while streams are open.
	events eventSwitch
}

var (
	_ datapath.Prefilter       = (*Prefilter)(nil)
	_ datapath.PacketTester    = (*Prefilter)(nil)
	_ datapath.PrefilterEvents = (*Prefilter)(nil)
)

// NewPrefilter loads the prefilter's program and maps, with an empty deny
// list at revision 0. It needs CAP_BPF (or root).
func NewPrefilter(opts datapath.PrefilterOptions) (*Prefilter, error) {
	spec, err := prefilterSpec(opts)
	if err != nil {
		return nil, err
	}
	max := opts.Max()
	p := &Prefilter{max: max, pinPath: opts.PinPath, list: datapath.NewPrefixSet(), links: map[int]link.Link{}}
	p.held = [2]*datapath.PrefixSet{datapath.NewPrefixSet(), datapath.NewPrefixSet()}
	var copts ebpf.CollectionOptions
	pinned := false
	if p.pinPath != "" {
		if err := os.MkdirAll(p.pinPath, 0o700); err != nil {
			return nil, fmt.Errorf("datapath/ebpf: prefilter: pin path: %w", err)
		}
		for name, m := range spec.Maps {
			if name != globalsSection {
				m.Pinning = ebpf.PinByName
			}
		}
		copts.Maps.PinPath = p.pinPath
		// bpffs refuses names that start with a dot: the global
		// variables' map is pinned by hand, under another name.
		globals, err := ebpf.LoadPinnedMap(p.globalsPin(), nil)
		switch {
		case err == nil:
			defer globals.Close()
			copts.MapReplacements = map[string]*ebpf.Map{globalsSection: globals}
			pinned = true
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("datapath/ebpf: prefilter: load the pinned state: %w", err)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, copts)
	if err != nil {
		return nil, fmt.Errorf("datapath/ebpf: load prefilter (pin path %q): %w", p.pinPath, err)
	}
	defer coll.Close()
	if p.pinPath != "" && !pinned {
		if err := coll.Maps[globalsSection].Pin(p.globalsPin()); err != nil {
			return nil, fmt.Errorf("datapath/ebpf: prefilter: pin the state: %w", err)
		}
	}
	if err := coll.Assign(&p.objs); err != nil {
		return nil, fmt.Errorf("datapath/ebpf: prefilter: %w", err)
	}
	p.events.on = p.objs.EventsOn
	if pinned {
		if err := p.recover(); err != nil {
			_ = p.objs.Close()
			return nil, err
		}
	}
	return p, nil
}

// globalsSection is the map of the programs' global variables.
const globalsSection = ".bss"

func (p *Prefilter) globalsPin() string { return filepath.Join(p.pinPath, "prefilter_state") }

// prefilterSpec is the prefilter's collection spec sized by opts.
func prefilterSpec(opts datapath.PrefilterOptions) (*ebpf.CollectionSpec, error) {
	spec, err := loadPrefilter()
	if err != nil {
		return nil, fmt.Errorf("datapath/ebpf: prefilter: %w", err)
	}
	for _, name := range []string{"deny_v4_0", "deny_v4_1", "deny_v6_0", "deny_v6_1"} {
		spec.Maps[name].MaxEntries = uint32(opts.Max())
	}
	spec.Maps["prefilter_events"].MaxEntries = uint32(opts.Events())
	return spec, nil
}

// recover reads the state of pinned maps: what each trie holds, which one
// packets read, and the revision.
func (p *Prefilter) recover() error {
	if err := p.objs.ActiveTrie.Get(&p.active); err != nil {
		return fmt.Errorf("datapath/ebpf: prefilter: read the pinned state: %w", err)
	}
	if err := p.objs.Revision.Get(&p.rev); err != nil {
		return fmt.Errorf("datapath/ebpf: prefilter: read the pinned state: %w", err)
	}
	if p.active > 1 {
		return fmt.Errorf("datapath/ebpf: prefilter: pinned state names trie %d", p.active)
	}
	for i := range uint32(2) {
		v4, v6 := p.tries(i)
		var k4 prefilterLpmV4Key
		var val uint8
		it := v4.Iterate()
		for it.Next(&k4, &val) {
			p.held[i].V4[netip.PrefixFrom(netip.AddrFrom4(k4.Addr), int(k4.Prefixlen))] = true
		}
		var k6 prefilterLpmV6Key
		it6 := v6.Iterate()
		for it6.Next(&k6, &val) {
			p.held[i].V6[netip.PrefixFrom(netip.AddrFrom16(k6.Addr), int(k6.Prefixlen))] = true
		}
		if err := errors.Join(it.Err(), it6.Err()); err != nil {
			return fmt.Errorf("datapath/ebpf: prefilter: read pinned trie %d: %w", i, err)
		}
	}
	p.list = p.held[p.active].Clone()
	p.retired = true // packets of the last owner may still read the other trie
	return nil
}

func (p *Prefilter) tries(i uint32) (v4, v6 *ebpf.Map) {
	if i == 0 {
		return p.objs.DenyV40, p.objs.DenyV60
	}
	return p.objs.DenyV41, p.objs.DenyV61
}

// Update implements datapath.Prefilter.
func (p *Prefilter) Update(b datapath.PrefilterBatch) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return p.rev, errClosed
	}
	next, err := p.list.Apply(b, p.rev, p.max)
	if err != nil {
		return p.rev, err
	}
	if p.retired {
		if err := graceperiod(); err != nil {
			return p.rev, fmt.Errorf("datapath/ebpf: prefilter: wait for the retired deny list's readers: %w", err)
		}
		p.retired = false
	}
	spare := 1 - p.active
	if err := p.fill(spare, next); err != nil {
		return p.rev, err
	}
	if err := p.objs.Revision.Set(p.rev + 1); err != nil {
		return p.rev, fmt.Errorf("datapath/ebpf: prefilter: record revision: %w", err)
	}
	if err := p.objs.ActiveTrie.Set(spare); err != nil {
		return p.rev, fmt.Errorf("datapath/ebpf: prefilter: switch deny lists: %w", err)
	}
	p.active, p.list, p.rev, p.retired = spare, next, p.rev+1, true
	return p.rev, nil
}

// fill makes trie i hold set, keeping p.held[i] true to what it holds
// even when it fails midway.
func (p *Prefilter) fill(i uint32, set *datapath.PrefixSet) error {
	v4, v6 := p.tries(i)
	held := p.held[i]
	for _, fam := range []struct {
		m          *ebpf.Map
		have, want map[netip.Prefix]bool
	}{{v4, held.V4, set.V4}, {v6, held.V6, set.V6}} {
		for pfx := range fam.have {
			if fam.want[pfx] {
				continue
			}
			if err := fam.m.Delete(lpmKey(pfx)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("datapath/ebpf: prefilter: delete %s: %w", pfx, err)
			}
			delete(fam.have, pfx)
		}
		for pfx := range fam.want {
			if fam.have[pfx] {
				continue
			}
			if err := fam.m.Update(lpmKey(pfx), uint8(1), ebpf.UpdateAny); err != nil {
				return fmt.Errorf("datapath/ebpf: prefilter: insert %s: %w", pfx, err)
			}
			fam.have[pfx] = true
		}
	}
	return nil
}

// lpmKey is the trie key of pfx: the length, then the address bytes.
func lpmKey(pfx netip.Prefix) any {
	if pfx.Addr().Is4() {
		return prefilterLpmV4Key{Prefixlen: uint32(pfx.Bits()), Addr: pfx.Addr().As4()}
	}
	return prefilterLpmV6Key{Prefixlen: uint32(pfx.Bits()), Addr: pfx.Addr().As16()}
}

// graceperiod waits until every BPF program that was running when it was
// called has finished: MEMBARRIER_CMD_GLOBAL calls synchronize_rcu, and
// XDP and TC programs run under rcu_read_lock.
func graceperiod() error {
	const membarrierCmdGlobal = 1 // MEMBARRIER_CMD_GLOBAL
	_, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0)
	if errno != 0 {
		return fmt.Errorf("membarrier: %w", errno)
	}
	return nil
}

// List implements datapath.Prefilter.
func (p *Prefilter) List() ([]netip.Prefix, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.list.Sorted(), p.rev
}

// Counters implements datapath.Prefilter.
func (p *Prefilter) Counters() (datapath.PrefilterCounters, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var c datapath.PrefilterCounters
	if err := sumCounters(p.objs.PrefilterStats, &c.Passed, &c.DroppedIPv4, &c.DroppedIPv6, &c.Malformed, &c.EventsLost); err != nil {
		return c, fmt.Errorf("datapath/ebpf: prefilter counters: %w", err)
	}
	return c, nil
}

// TestPacket implements datapath.PacketTester with BPF_PROG_TEST_RUN.
func (p *Prefilter) TestPacket(frame []byte) (datapath.Verdict, error) {
	ret, err := p.objs.XdpPrefilter.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		return 0, fmt.Errorf("datapath/ebpf: prefilter test run: %w", err)
	}
	return datapath.Verdict(ret), nil
}

// Attach attaches the prefilter to the interface ifindex (of the calling
// thread's network namespace) through a bpf_link, and returns the mode it
// runs in: with XDPModeAuto, native when the driver takes it, generic
// otherwise.
func (p *Prefilter) Attach(ifindex int, mode datapath.XDPMode) (datapath.XDPMode, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return mode, errClosed
	}
	if _, ok := p.links[ifindex]; ok {
		return mode, fmt.Errorf("datapath/ebpf: prefilter: interface %d: already attached", ifindex)
	}
	pin := ""
	if p.pinPath != "" {
		pin = p.linkPin(ifindex)
	}
	l, used, err := attachXDPPinned(p.objs.XdpPrefilter, pin, ifindex, mode)
	if err != nil {
		return used, fmt.Errorf("datapath/ebpf: prefilter: %w", err)
	}
	p.links[ifindex] = l
	return used, nil
}

// attachXDP attaches prog to the interface ifindex through a bpf_link in
// mode (with XDPModeAuto, native if the driver takes it, generic
// otherwise) and returns the link and the mode used.
func attachXDP(prog *ebpf.Program, ifindex int, mode datapath.XDPMode) (link.Link, datapath.XDPMode, error) {
	attach := func(m datapath.XDPMode) (link.Link, error) {
		flags := link.XDPDriverMode
		if m == datapath.XDPModeGeneric {
			flags = link.XDPGenericMode
		}
		return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
	}
	used := mode
	if mode == datapath.XDPModeAuto {
		used = datapath.XDPModeNative
	}
	l, err := attach(used)
	if err != nil && mode == datapath.XDPModeAuto {
		used = datapath.XDPModeGeneric
		var gerr error
		if l, gerr = attach(used); gerr == nil {
			err = nil
		} else {
			err = fmt.Errorf("native: %w; generic: %w", err, gerr)
		}
	}
	if err != nil {
		return nil, used, fmt.Errorf("attach to interface %d (%s): %w", ifindex, mode, err)
	}
	return l, used, nil
}

func (p *Prefilter) linkPin(ifindex int) string {
	return filepath.Join(p.pinPath, fmt.Sprintf("xdp_link_%d", ifindex))
}

// attachedMode asks the kernel in which mode XDP runs on ifindex.
func attachedMode(ifindex int) (datapath.XDPMode, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return 0, fmt.Errorf("datapath/ebpf: interface %d: %w", ifindex, err)
	}
	if x := l.Attrs().Xdp; x != nil {
		switch x.AttachMode {
		case xdpAttachedDrv:
			return datapath.XDPModeNative, nil
		case xdpAttachedSkb:
			return datapath.XDPModeGeneric, nil
		}
	}
	return 0, fmt.Errorf("datapath/ebpf: interface %d: no XDP program attached", ifindex)
}

// Detach detaches the prefilter from the interface ifindex (and removes
// the link's pin).
func (p *Prefilter) Detach(ifindex int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.links[ifindex]
	if !ok {
		return fmt.Errorf("datapath/ebpf: prefilter: interface %d: not attached", ifindex)
	}
	delete(p.links, ifindex)
	if err := p.detach(l); err != nil {
		return fmt.Errorf("datapath/ebpf: prefilter: detach from interface %d: %w", ifindex, err)
	}
	return nil
}

func (p *Prefilter) detach(l link.Link) error { return detachLink(l, p.pinPath != "") }

// Events implements datapath.PrefilterEvents with the program's ring
// buffer (PrefilterOptions.EventBuffer bytes).
func (p *Prefilter) Events() (datapath.PrefilterEventStream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	s, err := openEvents(&p.mu, &p.closed, &p.events, p.objs.PrefilterEvents, "prefilter events", decodePrefilterEvent)
	if err != nil {
		return nil, err // not a nil *ringStream in an interface
	}
	return s, nil
}

func decodePrefilterEvent(raw []byte, boot time.Time) (datapath.PrefilterEvent, error) {
	var e prefilterPrefilterEvent
	if len(raw) < int(unsafe.Sizeof(e)) {
		return datapath.PrefilterEvent{}, fmt.Errorf("a record of %d bytes", len(raw))
	}
	e = *(*prefilterPrefilterEvent)(unsafe.Pointer(&raw[0]))
	out := datapath.PrefilterEvent{Time: boot.Add(time.Duration(e.KtimeNs)), Ifindex: int(e.Ifindex)}
	if e.Family == 4 {
		out.Source = netip.AddrFrom4([4]byte(e.Saddr[:4]))
	} else {
		out.Source = netip.AddrFrom16(e.Saddr)
	}
	return out, nil
}

// Chain makes next, an XDP program such as the load balancer's Program,
// take every packet the prefilter passes: an interface runs one XDP
// program, so the prefilter, attached to it, tail-calls next. The switch
// is one map update: a packet goes to the old next program or the new
// one. Chain(nil) ends the chain; passed packets then go to the stack.
// With a PinPath the chain is pinned with the maps, and holds next (and
// its maps) after both programs' owners have closed; a restarted agent
// chains its new program in the same way.
func (p *Prefilter) Chain(next *ebpf.Program) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errClosed
	}
	var err error
	if next == nil {
		err = p.objs.PrefilterNext.Delete(uint32(0))
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			err = nil
		}
	} else {
		err = p.objs.PrefilterNext.Update(uint32(0), next, ebpf.UpdateAny)
	}
	if err != nil {
		return fmt.Errorf("datapath/ebpf: prefilter: chain %v: %w", next, err)
	}
	return nil
}

// Program is the prefilter's XDP program, for benchmarks.
func (p *Prefilter) Program() *ebpf.Program { return p.objs.XdpPrefilter }

// Close implements datapath.Prefilter: it detaches the program from every
// interface and releases its maps, but with a PinPath, where it leaves
// the pinned links and maps, and the program running, for the next
// prefilter to take over (Remove takes them away).
func (p *Prefilter) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.close(false)
}

// Remove is Close that also detaches pinned links and removes every pin.
func (p *Prefilter) Remove() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.close(true)
}

func (p *Prefilter) close(unpin bool) error {
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for ifindex, l := range p.links {
		var err error
		if unpin {
			err = p.detach(l)
		} else {
			err = l.Close() // a pinned link stays
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("interface %d: %w", ifindex, err))
		}
	}
	if unpin && p.pinPath != "" {
		for _, m := range []*ebpf.Map{p.objs.DenyV40, p.objs.DenyV41, p.objs.DenyV60, p.objs.DenyV61, p.objs.PrefilterStats, p.objs.PrefilterEvents,
			p.objs.PrefilterNext} {
			errs = append(errs, m.Unpin())
		}
		// Links an earlier prefilter pinned that this one did not attach.
		errs = append(errs, removeLinkPins(p.pinPath, "xdp_link_*"), unpinData(p.pinPath))
	}
	errs = append(errs, p.objs.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("datapath/ebpf: prefilter: close: %w", err)
	}
	return nil
}

// unpinData removes the pin of the global variables' map, and the pin
// directory when nothing else is in it.
func unpinData(dir string) error {
	err := os.Remove(filepath.Join(dir, "prefilter_state"))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return errors.Join(err, removePinDir(dir))
}

// XDP attach modes netlink reports (IFLA_XDP_ATTACHED).
const (
	xdpAttachedDrv = 1
	xdpAttachedSkb = 2
)
