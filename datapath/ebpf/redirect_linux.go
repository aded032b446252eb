package ebpf

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/eniway/eniway/datapath"
)

// TCMode is how a TC program is attached.
type TCMode int

// TC attach modes.
const (
	// TCModeAuto: TCX where the kernel has it (6.6 and later), a clsact
	// qdisc's filter otherwise.
	TCModeAuto TCMode = iota
	// TCModeTCX: a TCX link.
	TCModeTCX
	// TCModeClsact: a direct-action filter of a clsact qdisc.
	TCModeClsact
)

func (m TCMode) String() string {
	return [...]string{"auto", "tcx", "clsact"}[m]
}

// ProxyRedirect is the TC proxy redirect (see datapath.ProxyRedirect).
type ProxyRedirect struct {
	mu     sync.Mutex
	objs   redirectObjects
	table  *datapath.RedirectTable
	links  map[int]func() error // detach, by interface
	closed bool
}

var _ datapath.ProxyRedirect = (*ProxyRedirect)(nil)

// NewProxyRedirect loads the redirect program, for at most max
// redirects (1024 when 0).
func NewProxyRedirect(max int) (*ProxyRedirect, error) {
	r := &ProxyRedirect{table: datapath.NewRedirectTable(max), links: map[int]func() error{}}
	spec, err := loadRedirect()
	if err != nil {
		return nil, fmt.Errorf("datapath/ebpf: proxy redirect: %w", err)
	}
	spec.Maps["redirect4"].MaxEntries = uint32(r.table.Max())
	if err := spec.LoadAndAssign(&r.objs, nil); err != nil {
		return nil, fmt.Errorf("datapath/ebpf: load proxy redirect: %w", err)
	}
	return r, nil
}

// Set implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Set(redirects ...datapath.Redirect) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.table.CheckSet(redirects); err != nil {
		return err
	}
	for _, rd := range redirects {
		k := redirectRedirect4Key{Vip: ne32(rd.Frontend.Addr.Addr().As4()), Port: be16(rd.Frontend.Addr.Port()), Proto: unix.IPPROTO_TCP}
		v := redirectRedirect4Val{Addr: ne32(rd.Proxy.Addr().As4()), Port: be16(rd.Proxy.Port())}
		if err := r.objs.Redirect4.Update(k, v, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("datapath/ebpf: proxy redirect %s: %w", rd.Frontend, err)
		}
		r.table.Set(rd)
	}
	return nil
}

// Remove implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Remove(frontends ...datapath.Frontend) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.table.CheckRemove(frontends); err != nil {
		return err
	}
	for _, f := range frontends {
		k := redirectRedirect4Key{Vip: ne32(f.Addr.Addr().As4()), Port: be16(f.Addr.Port()), Proto: unix.IPPROTO_TCP}
		if err := r.objs.Redirect4.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("datapath/ebpf: proxy redirect %s: %w", f, err)
		}
		r.table.Remove(f)
	}
	return nil
}

// Redirects implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Redirects() []datapath.Redirect {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.table.Sorted()
}

// Counters implements datapath.ProxyRedirect.
func (r *ProxyRedirect) Counters() (datapath.RedirectCounters, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var c datapath.RedirectCounters
	if err := sumCounters(r.objs.RedirectStats, &c.Passed, &c.Assigned, &c.NoProxy, &c.Failed); err != nil {
		return c, fmt.Errorf("datapath/ebpf: proxy redirect counters: %w", err)
	}
	return c, nil
}

// Attach attaches the redirect to the ingress of the interface ifindex
// (of the calling thread's network namespace) and returns the mode used.
func (r *ProxyRedirect) Attach(ifindex int, mode TCMode) (TCMode, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return mode, errors.New("datapath/ebpf: proxy redirect closed")
	}
	if _, ok := r.links[ifindex]; ok {
		return mode, fmt.Errorf("datapath/ebpf: proxy redirect: interface %d: already attached", ifindex)
	}
	if mode == TCModeAuto || mode == TCModeTCX {
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: r.objs.TcRedirect, Attach: ebpf.AttachTCXIngress})
		if err == nil {
			r.links[ifindex] = l.Close
			return TCModeTCX, nil
		}
		if mode == TCModeTCX || !errors.Is(err, ebpf.ErrNotSupported) {
			return TCModeTCX, fmt.Errorf("datapath/ebpf: proxy redirect: attach TCX to interface %d: %w", ifindex, err)
		}
	}
	detach, err := attachClsact(ifindex, r.objs.TcRedirect)
	if err != nil {
		return TCModeClsact, fmt.Errorf("datapath/ebpf: proxy redirect: attach to interface %d's clsact: %w", ifindex, err)
	}
	r.links[ifindex] = detach
	return TCModeClsact, nil
}

// attachClsact adds a clsact qdisc to ifindex (if it has none) and a
// direct-action ingress filter running prog; the function it returns
// removes the filter, from whatever thread (its netlink sockets stay in
// the network namespace of the attach).
func attachClsact(ifindex int, prog *ebpf.Program) (func() error, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, err
	}
	qdisc := &netlink.GenericQdisc{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0),
		Parent: netlink.HANDLE_CLSACT}, QdiscType: "clsact"}
	if err := h.QdiscReplace(qdisc); err != nil {
		h.Close()
		return nil, fmt.Errorf("clsact qdisc: %w", err)
	}
	filter := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: netlink.HANDLE_MIN_INGRESS,
		Handle: 1, Protocol: unix.ETH_P_ALL, Priority: 1}, Fd: prog.FD(), Name: "eniway-redirect", DirectAction: true}
	if err := h.FilterReplace(filter); err != nil {
		h.Close()
		return nil, fmt.Errorf("ingress filter: %w", err)
	}
	return func() error {
		defer h.Close()
		return h.FilterDel(filter)
	}, nil
}

// Detach detaches the redirect from the interface ifindex.
func (r *ProxyRedirect) Detach(ifindex int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	detach, ok := r.links[ifindex]
	if !ok {
		return fmt.Errorf("datapath/ebpf: proxy redirect: interface %d: not attached", ifindex)
	}
	delete(r.links, ifindex)
	return detach()
}

// Close implements datapath.ProxyRedirect: it detaches the program from
// every interface and releases its maps.
func (r *ProxyRedirect) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	for ifindex, detach := range r.links {
		if err := detach(); err != nil {
			errs = append(errs, fmt.Errorf("detach from interface %d: %w", ifindex, err))
		}
	}
	return errors.Join(append(errs, r.objs.Close())...)
}
