package ebpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/eniway/eniway/datapath"
)

// attachXDPPinned attaches prog to the interface ifindex like attachXDP.
// With a pin (a path on a bpffs), a link an earlier instance pinned there
// takes prog in place (link.Update: no moment without a program, so no
// packet goes unfiltered or unbalanced), and a new link is pinned there.
func attachXDPPinned(prog *ebpf.Program, pin string, ifindex int, mode datapath.XDPMode) (link.Link, datapath.XDPMode, error) {
	if pin != "" {
		l, err := link.LoadPinnedLink(pin, nil)
		switch {
		case err == nil:
			if err := l.Update(prog); err != nil {
				_ = l.Close()
				return nil, mode, fmt.Errorf("interface %d: replace the pinned link's program: %w", ifindex, err)
			}
			used, err := attachedMode(ifindex)
			if err != nil {
				_ = l.Close()
				return nil, mode, err
			}
			return l, used, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, mode, fmt.Errorf("interface %d: load the pinned link: %w", ifindex, err)
		}
	}
	l, used, err := attachXDP(prog, ifindex, mode)
	if err != nil {
		return nil, used, err
	}
	if pin != "" {
		if err := l.Pin(pin); err != nil {
			_ = l.Close()
			return nil, used, fmt.Errorf("interface %d: pin the link: %w", ifindex, err)
		}
	}
	return l, used, nil
}

// detachLink detaches l, unpinning it first when it is pinned.
func detachLink(l link.Link, pinned bool) error {
	var errs []error
	if pinned {
		errs = append(errs, l.Unpin())
	}
	return errors.Join(append(errs, l.Close())...)
}

// removeLinkPins detaches the links pinned in dir under names that match
// pattern (filepath.Match), such as links an earlier instance attached
// that this one did not attach again.
func removeLinkPins(dir, pattern string) error {
	pins, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return err
	}
	var errs []error
	for _, pin := range pins {
		l, err := link.LoadPinnedLink(pin, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", filepath.Base(pin), err))
			continue
		}
		errs = append(errs, detachLink(l, true))
	}
	return errors.Join(errs...)
}

// removePinDir removes dir when nothing is left in it.
func removePinDir(dir string) error {
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOTEMPTY) {
		return err
	}
	return nil
}
