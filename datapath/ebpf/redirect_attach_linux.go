package ebpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// With a PinPath, an interface's TCX link is pinned as tcx_link_<ifindex>,
// and an interface with a clsact filter is recorded as a directory
// clsact_<ifindex> (a bpffs holds nothing but BPF objects and
// directories): the filter lives in the qdisc, not in a pin, and the
// next redirect must know to replace it.
const (
	redirectTCXPinPrefix    = "tcx_link_"
	redirectClsactPinPrefix = "clsact_"
)

// The redirect's clsact filter: what identifies it on an interface's
// ingress.
const (
	redirectFilterName     = "eniway-redirect"
	redirectFilterHandle   = 1
	redirectFilterPriority = 1
)

// redirectAttachment is how the redirect is attached to an interface:
// through a TCX link or a clsact filter.
type redirectAttachment struct {
	tcx    link.Link
	filter *clsactFilter
}

// release lets go of the attachment and leaves the program attached: a
// pinned link stays, and so does a filter.
func (a *redirectAttachment) release() error {
	if a.tcx != nil {
		return a.tcx.Close()
	}
	a.filter.h.Close()
	return nil
}

// Attach attaches the redirect to the ingress of the interface ifindex
// (of the calling thread's network namespace) and returns the mode used.
// With a PinPath, the TCX link or clsact filter an earlier redirect left
// on the interface takes this redirect's program in place, atomically
// (link.Update, or a filter replaced in the qdisc), and a new link is
// pinned, or a new filter recorded; an explicit mode other than the
// earlier one is refused.
func (r *ProxyRedirect) Attach(ifindex int, mode TCMode) (TCMode, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return mode, errRedirectClosed
	}
	if _, ok := r.links[ifindex]; ok {
		return mode, fmt.Errorf("datapath/ebpf: proxy redirect: interface %d: already attached", ifindex)
	}
	if mode < TCModeAuto || mode > TCModeClsact {
		return mode, fmt.Errorf("datapath/ebpf: proxy redirect: interface %d: unknown attach mode %s", ifindex, mode)
	}
	prior := TCModeAuto
	if r.pinPath != "" {
		var err error
		if prior, err = r.pinnedMode(ifindex); err != nil {
			return mode, err
		}
		if prior != TCModeAuto && mode != TCModeAuto && mode != prior {
			return mode, fmt.Errorf("datapath/ebpf: proxy redirect: interface %d: attached with %s by an earlier redirect, not %s (Remove it first)", ifindex, prior, mode)
		}
		if prior != TCModeAuto {
			mode = prior
		}
	}
	if mode == TCModeAuto || mode == TCModeTCX {
		l, err := r.attachTCX(ifindex, prior == TCModeTCX)
		if err == nil {
			r.links[ifindex] = &redirectAttachment{tcx: l}
			return TCModeTCX, nil
		}
		if mode == TCModeTCX || !errors.Is(err, ebpf.ErrNotSupported) {
			return TCModeTCX, fmt.Errorf("datapath/ebpf: proxy redirect: interface %d: %w", ifindex, err)
		}
	}
	f, err := attachClsact(ifindex, r.objs.TcRedirect)
	if err != nil {
		return TCModeClsact, fmt.Errorf("datapath/ebpf: proxy redirect: attach to interface %d's clsact: %w", ifindex, err)
	}
	if r.pinPath != "" && prior != TCModeClsact {
		if err := os.Mkdir(r.clsactRecord(ifindex), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return TCModeClsact, errors.Join(fmt.Errorf("datapath/ebpf: proxy redirect: interface %d: record the clsact filter: %w", ifindex, err), f.del())
		}
	}
	r.links[ifindex] = &redirectAttachment{filter: f}
	return TCModeClsact, nil
}

func (r *ProxyRedirect) tcxPin(ifindex int) string {
	return filepath.Join(r.pinPath, redirectTCXPinPrefix+strconv.Itoa(ifindex))
}

func (r *ProxyRedirect) clsactRecord(ifindex int) string {
	return filepath.Join(r.pinPath, redirectClsactPinPrefix+strconv.Itoa(ifindex))
}

// pinnedMode is how an earlier redirect on the PinPath attached ifindex:
// TCModeAuto when it did not.
func (r *ProxyRedirect) pinnedMode(ifindex int) (TCMode, error) {
	for _, p := range []struct {
		path string
		mode TCMode
	}{{r.tcxPin(ifindex), TCModeTCX}, {r.clsactRecord(ifindex), TCModeClsact}} {
		switch _, err := os.Stat(p.path); {
		case err == nil:
			return p.mode, nil
		case !errors.Is(err, os.ErrNotExist):
			return TCModeAuto, fmt.Errorf("datapath/ebpf: proxy redirect: interface %d: %w", ifindex, err)
		}
	}
	return TCModeAuto, nil
}

// attachTCX attaches the program to ifindex's ingress through a new TCX
// link, pinned with a PinPath, or when pinned, through the link an
// earlier redirect pinned, whose program it replaces.
func (r *ProxyRedirect) attachTCX(ifindex int, pinned bool) (link.Link, error) {
	if pinned {
		l, err := link.LoadPinnedLink(r.tcxPin(ifindex), nil)
		if err != nil {
			return nil, fmt.Errorf("load the pinned TCX link: %w", err)
		}
		if err := l.Update(r.objs.TcRedirect); err != nil {
			_ = l.Close()
			return nil, fmt.Errorf("replace the pinned TCX link's program: %w", err)
		}
		return l, nil
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: r.objs.TcRedirect, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return nil, fmt.Errorf("attach TCX: %w", err)
	}
	if r.pinPath != "" {
		if err := l.Pin(r.tcxPin(ifindex)); err != nil {
			return nil, errors.Join(fmt.Errorf("pin the TCX link: %w", err), l.Close())
		}
	}
	return l, nil
}

// Detach detaches the redirect from the interface ifindex (and removes
// the link's pin, or the filter's record).
func (r *ProxyRedirect) Detach(ifindex int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.links[ifindex]
	if !ok {
		return fmt.Errorf("datapath/ebpf: proxy redirect: interface %d: not attached", ifindex)
	}
	delete(r.links, ifindex)
	if err := r.detach(ifindex, a); err != nil {
		return fmt.Errorf("datapath/ebpf: proxy redirect: detach from interface %d: %w", ifindex, err)
	}
	return nil
}

func (r *ProxyRedirect) detach(ifindex int, a *redirectAttachment) error {
	if a.tcx != nil {
		return detachLink(a.tcx, r.pinPath != "")
	}
	err := a.filter.del()
	if r.pinPath != "" {
		if rerr := os.Remove(r.clsactRecord(ifindex)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// clsactFilter is the redirect's filter on an interface's clsact qdisc,
// and a netlink handle in the interface's network namespace.
type clsactFilter struct {
	h      *netlink.Handle
	filter *netlink.BpfFilter
}

// del deletes the filter and closes the handle.
func (f *clsactFilter) del() error {
	defer f.h.Close()
	return f.h.FilterDel(f.filter)
}

// attachClsact adds a clsact qdisc to ifindex (if it has none; it stays
// when the filter goes, as others may share it) and a direct-action
// ingress filter running prog, or replaces the program of the filter
// that is there (atomically: packets see the old program or the new).
// The filter's netlink handle stays in the network namespace of the
// attach, so the filter can be deleted from whatever thread.
func attachClsact(ifindex int, prog *ebpf.Program) (*clsactFilter, error) {
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
		Handle: redirectFilterHandle, Protocol: unix.ETH_P_ALL, Priority: redirectFilterPriority}, Fd: prog.FD(), Name: redirectFilterName, DirectAction: true}
	if err := h.FilterReplace(filter); err != nil {
		h.Close()
		return nil, fmt.Errorf("ingress filter: %w", err)
	}
	return &clsactFilter{h: h, filter: filter}, nil
}

// removeClsactRecords deletes the filters recorded in dir, in the calling
// thread's network namespace, and their records.
func removeClsactRecords(dir string) error {
	records, err := filepath.Glob(filepath.Join(dir, redirectClsactPinPrefix+"*"))
	if err != nil || len(records) == 0 {
		return err
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	var errs []error
	for _, rec := range records {
		ifindex, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(rec), redirectClsactPinPrefix))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: not a record", filepath.Base(rec)))
			continue
		}
		if err := deleteRedirectFilter(h, ifindex); err != nil {
			errs = append(errs, fmt.Errorf("interface %d: %w", ifindex, err))
			continue
		}
		errs = append(errs, os.Remove(rec))
	}
	return errors.Join(errs...)
}

// deleteRedirectFilter deletes the redirect's filter from ifindex's
// ingress, if it is there (and the interface too).
func deleteRedirectFilter(h *netlink.Handle, ifindex int) error {
	l, err := h.LinkByIndex(ifindex)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil // gone, with its filters
		}
		return err
	}
	filters, err := h.FilterList(l, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			return nil // no clsact qdisc
		}
		return err
	}
	for _, f := range filters {
		if bf, ok := f.(*netlink.BpfFilter); ok && bf.Name == redirectFilterName && bf.Handle == redirectFilterHandle && bf.Priority == redirectFilterPriority {
			return h.FilterDel(bf)
		}
	}
	return nil
}
