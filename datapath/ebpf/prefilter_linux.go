package ebpf

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
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
}

var (
	_ datapath.Prefilter    = (*Prefilter)(nil)
	_ datapath.PacketTester = (*Prefilter)(nil)
)

// NewPrefilter loads the prefilter's program and maps, with an empty deny
// list at revision 0. It needs CAP_BPF (or root).
func NewPrefilter(opts datapath.PrefilterOptions) (*Prefilter, error) {
	spec, err := loadPrefilter()
	if err != nil {
		return nil, fmt.Errorf("datapath/ebpf: prefilter: %w", err)
	}
	max := opts.Max()
	for _, name := range []string{"deny_v4_0", "deny_v4_1", "deny_v6_0", "deny_v6_1"} {
		spec.Maps[name].MaxEntries = uint32(max)
	}
	p := &Prefilter{max: max, list: datapath.NewPrefixSet(), links: map[int]link.Link{}}
	p.held = [2]*datapath.PrefixSet{datapath.NewPrefixSet(), datapath.NewPrefixSet()}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, fmt.Errorf("datapath/ebpf: load prefilter: %w", err)
	}
	return p, nil
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
	for key, dst := range []*uint64{&c.Passed, &c.DroppedIPv4, &c.DroppedIPv6, &c.Malformed} {
		var perCPU []uint64
		if err := p.objs.PrefilterStats.Lookup(uint32(key), &perCPU); err != nil {
			return c, fmt.Errorf("datapath/ebpf: prefilter counters: %w", err)
		}
		for _, n := range perCPU {
			*dst += n
		}
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
	attach := func(m datapath.XDPMode) (link.Link, error) {
		flags := link.XDPDriverMode
		if m == datapath.XDPModeGeneric {
			flags = link.XDPGenericMode
		}
		return link.AttachXDP(link.XDPOptions{Program: p.objs.XdpPrefilter, Interface: ifindex, Flags: flags})
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
		return used, fmt.Errorf("datapath/ebpf: prefilter: attach to interface %d (%s): %w", ifindex, mode, err)
	}
	p.links[ifindex] = l
	return used, nil
}

// Detach detaches the prefilter from the interface ifindex.
func (p *Prefilter) Detach(ifindex int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.links[ifindex]
	if !ok {
		return fmt.Errorf("datapath/ebpf: prefilter: interface %d: not attached", ifindex)
	}
	delete(p.links, ifindex)
	if err := l.Close(); err != nil {
		return fmt.Errorf("datapath/ebpf: prefilter: detach from interface %d: %w", ifindex, err)
	}
	return nil
}

// Program is the prefilter's XDP program, for benchmarks.
func (p *Prefilter) Program() *ebpf.Program { return p.objs.XdpPrefilter }

// Close implements datapath.Prefilter: it detaches the program from every
// interface and releases its maps.
func (p *Prefilter) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	for ifindex, l := range p.links {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach from interface %d: %w", ifindex, err))
		}
	}
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}
