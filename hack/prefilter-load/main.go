// Command prefilter-load attaches eniway's XDP prefilter to an interface
// of the network namespace it runs in, with the deny list read from a
// file (one CIDR per line), pinned under -pin so that it stays attached
// after the command exits; -remove detaches it and removes the pins. It
// serves hack/prefilter-compare.sh.
//
//	prefilter-load -pin /mnt/bpffs/pf -iface veth-s -cidrs deny.txt
//	prefilter-load -pin /mnt/bpffs/pf -remove
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/ebpf"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "prefilter-load:", err)
		os.Exit(1)
	}
}

func run() error {
	pin := flag.String("pin", "", "pin directory on a bpffs (required)")
	iface := flag.String("iface", "", "interface to attach to")
	cidrs := flag.String("cidrs", "", "file of CIDRs to deny, one per line")
	mode := flag.String("mode", "native", "XDP mode: native, generic or auto")
	remove := flag.Bool("remove", false, "detach and remove the pins")
	flag.Parse()
	if *pin == "" {
		return errors.New("-pin is required")
	}
	if *remove {
		// Unlinking the pins releases the link (which detaches the
		// program) and the maps.
		return os.RemoveAll(*pin)
	}
	var list []netip.Prefix
	if *cidrs != "" {
		f, err := os.Open(*cidrs)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			p, err := netip.ParsePrefix(line)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", *cidrs, n, err)
			}
			list = append(list, p)
		}
		if err := sc.Err(); err != nil {
			return err
		}
	}
	p, err := ebpf.NewPrefilter(datapath.PrefilterOptions{PinPath: *pin, MaxEntries: max(len(list), 1)})
	if err != nil {
		return err
	}
	if _, err := p.Update(datapath.PrefilterBatch{Insert: list}); err != nil {
		return errors.Join(err, p.Remove())
	}
	if *iface != "" {
		ifc, err := net.InterfaceByName(*iface)
		if err != nil {
			return errors.Join(err, p.Remove())
		}
		m := map[string]datapath.XDPMode{"native": datapath.XDPModeNative, "generic": datapath.XDPModeGeneric, "auto": datapath.XDPModeAuto}[*mode]
		used, err := p.Attach(ifc.Index, m)
		if err != nil {
			return errors.Join(err, p.Remove())
		}
		fmt.Printf("attached to %s (%s XDP), %d CIDRs\n", *iface, used, len(list))
	}
	return p.Close() // the pins keep it attached
}
