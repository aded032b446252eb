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
	"golang.org/x/sys/unix"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/maglev"
)

// TCMode is how a TC program is attached.
type TCMode int

// TC attach modes.
const (
	// TCModeAuto: TCX where the kernel has it (6.6 and later), a clsact
	// qdisc's filter otherwise; with a PinPath, the mode an earlier
	// redirect attached the interface with.
	TCModeAuto TCMode = iota
	// TCModeTCX: a TCX link.
	TCModeTCX
	// TCModeClsact: a direct-action filter of a clsact qdisc.
	TCModeClsact
)

func (m TCMode) String() string {
	switch m {
	case TCModeAuto:
		return "auto"
	case TCModeTCX:
		return "tcx"
	case TCModeClsact:
		return "clsact"
	}
	return fmt.Sprintf("TCMode(%d)", int(m))
}

var errRedirectClosed = errors.New("datapath/ebpf: proxy redirect closed")

// ProxyRedirect is the TC proxy redirect (see datapath.ProxyRedirect).
// It is safe for concurrent use.
type ProxyRedirect struct {
	pinPath string

	mu     sync.Mutex
	objs   redirectObjects
	table  *datapath.RedirectTable
	links  map[int]*redirectAttachment
	closed bool
	// events turns the program's decisions on while streams are open.
	events eventSwitch
}

var (
	_ datapath.ProxyRedirect  = (*ProxyRedirect)(nil)
	_ datapath.RedirectEvents = (*ProxyRedirect)(nil)
	_ datapath.PacketTester   = (*ProxyRedirect)(nil)
)

// NewProxyRedirect loads the redirect program and its maps, sized by
// opts: an *datapath.OptionsError (datapath.ErrInvalidOptions) when opts
// are out of range. With a PinPath that holds the pins of an earlier
// redirect, it takes over its redirects and counters (see
// datapath.RedirectOptions.PinPath). It needs CAP_BPF (or root).
func NewProxyRedirect(opts datapath.RedirectOptions) (*ProxyRedirect, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	r := &ProxyRedirect{pinPath: opts.PinPath, table: datapath.NewRedirectTable(opts.MaxRedirects), links: map[int]*redirectAttachment{}}
	spec, err := redirectSpec(opts)
	if err != nil {
		return nil, err
	}
	var copts ebpf.CollectionOptions
	pinned := false
	if r.pinPath != "" {
		if err := os.MkdirAll(r.pinPath, 0o700); err != nil {
			return nil, fmt.Errorf("datapath/ebpf: proxy redirect: pin path: %w", err)
		}
		// The redirects and the counters. The ring buffer of decisions
		// and the global variables are not pinned: each redirect has its
		// own, and the program of an earlier one keeps its own until it
		// is replaced.
		for _, name := range []string{redirectMapRedirect4, redirectMapRedirect6, redirectMapRedirectStats} {
			spec.Maps[name].Pinning = ebpf.PinByName
		}
		copts.Maps.PinPath = r.pinPath
		switch _, err := os.Stat(filepath.Join(r.pinPath, redirectMapRedirect4)); {
		case err == nil:
			pinned = true
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("datapath/ebpf: proxy redirect: pinned state: %w", err)
		}
	}
	if err := spec.LoadAndAssign(&r.objs, &copts); err != nil {
		return nil, fmt.Errorf("datapath/ebpf: load proxy redirect (pin path %q, MaxRedirects %d): %w", r.pinPath, r.table.Max(), err)
	}
	r.events.on = r.objs.RedirectEventsOn
	if pinned {
		if err := r.recover(); err != nil {
			_ = r.objs.Close()
			return nil, err
		}
	}
	return r, nil
}

// redirectSpec is the redirect's collection spec sized by opts (defaults
// filled in).
func redirectSpec(opts datapath.RedirectOptions) (*ebpf.CollectionSpec, error) {
	spec, err := loadRedirect()
	if err != nil {
		return nil, fmt.Errorf("datapath/ebpf: proxy redirect: %w", err)
	}
	spec.Maps[redirectMapRedirect4].MaxEntries = uint32(opts.MaxRedirects)
	spec.Maps[redirectMapRedirect6].MaxEntries = uint32(opts.MaxRedirects)
	spec.Maps[redirectMapRedirectEvents].MaxEntries = uint32(opts.EventBuffer)
	return spec, nil
}

// recover reads the redirects of pinned maps into the table.
func (r *ProxyRedirect) recover() error {
	var (
		k4 redirectRedirect4Key
		v4 redirectRedirect4Val
		k6 redirectRedirect6Key
		v6 redirectRedirect6Val
	)
	it4 := r.objs.Redirect4.Iterate()
	for it4.Next(&k4, &v4) {
		r.table.Set(datapath.Redirect{
			Frontend: datapath.Frontend{Addr: netip.AddrPortFrom(addr4(k4.Vip), be16(k4.Port)), Protocol: maglev.Protocol(k4.Proto)},
			Proxy:    netip.AddrPortFrom(addr4(v4.Addr), be16(v4.Port))})
	}
	it6 := r.objs.Redirect6.Iterate()
	for it6.Next(&k6, &v6) {
		r.table.Set(datapath.Redirect{
			Frontend: datapath.Frontend{Addr: netip.AddrPortFrom(wordsAddr(k6.Vip, 6), be16(k6.Port)), Protocol: maglev.Protocol(k6.Proto)},
			Proxy:    netip.AddrPortFrom(wordsAddr(v6.Addr, 6), be16(v6.Port))})
	}
	if err := errors.Join(it4.Err(), it6.Err()); err != nil {
		return fmt.Errorf("datapath/ebpf: proxy redirect: read the pinned redirects: %w", err)
	}
	if err := datapath.CheckRedirects(r.table.Sorted()); err != nil {
		return fmt.Errorf("datapath/ebpf: proxy redirect: the pinned redirects: %w", err)
	}
	return nil
}

// write puts rd into the program's map of its family.
func (r *ProxyRedirect) write(rd datapath.Redirect) error {
	fa, proxy := rd.Frontend.Addr, rd.Proxy
	if fa.Addr().Is4() {
		k := redirectRedirect4Key{Vip: addrWords(fa.Addr())[0], Port: be16(fa.Port()), Proto: unix.IPPROTO_TCP}
		v := redirectRedirect4Val{Addr: addrWords(proxy.Addr())[0], Port: be16(proxy.Port())}
		return r.objs.Redirect4.Update(k, v, ebpf.UpdateAny)
	}
	k := redirectRedirect6Key{Vip: addrWords(fa.Addr()), Port: be16(fa.Port()), Proto: unix.IPPROTO_TCP}
	v := redirectRedirect6Val{Addr: addrWords(proxy.Addr()), Port: be16(proxy.Port())}
	return r.objs.Redirect6.Update(k, v, ebpf.UpdateAny)
}

// erase takes the redirect of f out of the program's map of its family.
func (r *ProxyRedirect) erase(f datapath.Frontend) error {
	var err error
	if f.Addr.Addr().Is4() {
		err = r.objs.Redirect4.Delete(redirectRedirect4Key{Vip: addrWords(f.Addr.Addr())[0], Port: be16(f.Addr.Port()), Proto: unix.IPPROTO_TCP})
	} else {
		err = r.objs.Redirect6.Delete(redirectRedirect6Key{Vip: addrWords(f.Addr.Addr()), Port: be16(f.Addr.Port()), Proto: unix.IPPROTO_TCP})
	}
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return err
}

// restore puts the maps' entry of f back as the table has it (or takes it
// out when the table has none), after a change that failed midway.
func (r *ProxyRedirect) restore(f datapath.Frontend) error {
	if rd, ok := r.table.Get(f); ok {
		return r.write(rd)
	}
	return r.erase(f)
}

// Set implements datapath.ProxyRedirect. When the kernel refuses an
// update midway, the entries already written are put back as they were.
func (r *ProxyRedirect) Set(redirects ...datapath.Redirect) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errRedirectClosed
	}
	if err := r.table.CheckSet(redirects); err != nil {
		return err
	}
	for i, rd := range redirects {
		if err := r.write(rd); err != nil {
			errs := []error{fmt.Errorf("datapath/ebpf: proxy redirect: redirects[%d] (%s): %w", i, rd.Frontend, err)}
			for _, done := range redirects[:i] {
				if err := r.restore(done.Frontend); err != nil {
					errs = append(errs, fmt.Errorf("restore %s: %w", done.Frontend, err))
				}
			}
			return errors.Join(errs...)
		}
	}
	for _, rd := range redirects {
		r.table.Set(rd)
	}
	return nil
}

// Delete implements datapath.ProxyRedirect. When the kernel refuses a
// deletion midway, the entries already deleted are put back.
func (r *ProxyRedirect) Delete(frontends ...datapath.Frontend) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errRedirectClosed
	}
	if err := r.table.CheckDelete(frontends); err != nil {
		return err
	}
	for i, f := range frontends {
		if err := r.erase(f); err != nil {
			errs := []error{fmt.Errorf("datapath/ebpf: proxy redirect: frontends[%d] (%s): %w", i, f, err)}
			for _, done := range frontends[:i] {
				if err := r.restore(done); err != nil {
					errs = append(errs, fmt.Errorf("restore %s: %w", done, err))
				}
			}
			return errors.Join(errs...)
		}
	}
	for _, f := range frontends {
		r.table.Delete(f)
	}
	return nil
}

// Redirects implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Redirects() []datapath.Redirect {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.table.Sorted()
}

// Counters implements datapath.ProxyRedirect. With a PinPath the counters
// carry on from the redirect whose pins were taken over.
func (r *ProxyRedirect) Counters() (datapath.RedirectCounters, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var c datapath.RedirectCounters
	if r.closed {
		return c, errRedirectClosed
	}
	if err := sumCounters(r.objs.RedirectStats, &c.Passed, &c.Assigned, &c.NoProxy, &c.Failed, &c.EventsLost); err != nil {
		return c, fmt.Errorf("datapath/ebpf: proxy redirect counters: %w", err)
	}
	return c, nil
}

// Events implements datapath.RedirectEvents with the program's ring
// buffer (RedirectOptions.EventBuffer bytes).
func (r *ProxyRedirect) Events() (datapath.RedirectEventStream, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errRedirectClosed
	}
	s, err := openEvents(&r.mu, &r.closed, &r.events, r.objs.RedirectEvents, "proxy redirect events", decodeRedirectEvent)
	if err != nil {
		return nil, err // not a nil *ringStream in an interface
	}
	return s, nil
}

func decodeRedirectEvent(raw []byte, boot time.Time) (datapath.RedirectEvent, error) {
	var e redirectRedirectEvent
	if len(raw) < int(unsafe.Sizeof(e)) {
		return datapath.RedirectEvent{}, fmt.Errorf("a record of %d bytes", len(raw))
	}
	e = *(*redirectRedirectEvent)(unsafe.Pointer(&raw[0]))
	addr := func(w [4]uint32) netip.Addr {
		if e.Family == 4 {
			return addr4(w[0])
		}
		return wordsAddr(w, 6)
	}
	return datapath.RedirectEvent{Time: boot.Add(time.Duration(e.KtimeNs)), Ifindex: int(e.Ifindex), Kind: datapath.RedirectEventKind(e.Kind),
		Client:   netip.AddrPortFrom(addr(e.Client), be16(e.Cport)),
		Frontend: datapath.Frontend{Addr: netip.AddrPortFrom(addr(e.Vip), be16(e.Vport)), Protocol: maglev.ProtocolTCP},
		Proxy:    netip.AddrPortFrom(addr(e.Proxy), be16(e.Pport))}, nil
}

// TC verdicts the program returns.
const (
	tcActOK   = 0
	tcActShot = 2
)

// TestPacket implements datapath.PacketTester with BPF_PROG_TEST_RUN, in
// the calling thread's network namespace (whose sockets the program
// looks up). A test run is not TC ingress, where alone the kernel assigns
// packets to sockets: a packet that finds a socket, its connection's or
// the proxy's listener, is refused (Failed, VerdictDrop, a
// RedirectEventFailed), while the others are decided on as at ingress.
func (r *ProxyRedirect) TestPacket(frame []byte) (datapath.Verdict, error) {
	ret, err := r.objs.TcRedirect.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		return 0, fmt.Errorf("datapath/ebpf: proxy redirect test run: %w", err)
	}
	switch ret {
	case tcActOK:
		return datapath.VerdictPass, nil
	case tcActShot:
		return datapath.VerdictDrop, nil
	}
	return 0, fmt.Errorf("datapath/ebpf: proxy redirect test run: TC verdict %d", ret)
}

// Program is the redirect's TC program, for tests and benchmarks.
func (r *ProxyRedirect) Program() *ebpf.Program { return r.objs.TcRedirect }

// Close implements datapath.ProxyRedirect: it detaches the program from
// every interface and releases its maps; but with a PinPath it leaves the
// pinned links and maps, the clsact filters, and the program running, for
// the next redirect to take over (Remove takes them away).
func (r *ProxyRedirect) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.close(false)
}

// Remove is Close that also detaches pinned links, deletes recorded
// clsact filters and removes every pin. Filters an earlier redirect
// attached that this one did not attach again are deleted in the calling
// thread's network namespace, the one the PinPath belongs to.
func (r *ProxyRedirect) Remove() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.close(true)
}

func (r *ProxyRedirect) close(unpin bool) error {
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	if r.events.streams > 0 {
		// A program left running reports to no one.
		errs = append(errs, r.events.on.Set(uint32(0)))
	}
	for ifindex, a := range r.links {
		var err error
		if unpin || r.pinPath == "" {
			err = r.detach(ifindex, a)
		} else {
			err = a.release()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("interface %d: %w", ifindex, err))
		}
	}
	if unpin && r.pinPath != "" {
		for _, m := range []*ebpf.Map{r.objs.Redirect4, r.objs.Redirect6, r.objs.RedirectStats} {
			errs = append(errs, m.Unpin())
		}
		// What an earlier redirect attached that this one did not.
		errs = append(errs, removeLinkPins(r.pinPath, redirectTCXPinPrefix+"*"), removeClsactRecords(r.pinPath), removePinDir(r.pinPath))
	}
	errs = append(errs, r.objs.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("datapath/ebpf: proxy redirect: close: %w", err)
	}
	return nil
}
