// Command datapath-agent runs a node's datapath (package datapath) from a
// file: the XDP prefilter with the load balancer chained behind it on one
// interface, the load balancer's reply program where backends' replies
// come in, and the proxy redirect at TC ingress.
//
//	sudo go run ./examples/datapath-agent -f node.yaml
//	go run ./examples/datapath-agent -fake -f node.yaml
//
// With the kernel backend (datapath/ebpf, as root) the maps and links are
// pinned under -pin-path, so a restarted agent takes over without dropping
// a packet. With -fake the in-memory backends (datapath/fake) take the
// same file, which shows what would be applied. The agent re-reads the
// file on SIGHUP and applies what changed (datapath.SyncPrefilter,
// SyncServices, SyncRedirects), expires idle flows every -gc-interval,
// logs the counters every -stats-interval, and stops on SIGINT or SIGTERM,
// leaving the pins for the next agent.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/eniway/eniway/datapath"
	"github.com/eniway/eniway/datapath/ebpf"
	"github.com/eniway/eniway/datapath/fake"
	"github.com/eniway/eniway/maglev"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	if err := run(ctx, os.Args[1:], reload, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "datapath-agent:", err)
		os.Exit(1)
	}
}

// config is the file's content.
type config struct {
	// Interface takes the prefilter and the load balancer (XDP);
	// ReplyInterface, where backends' replies come in, the reply program
	// (another interface: an interface runs one XDP program);
	// RedirectInterface the proxy redirect (TC). Empty: not attached.
	Interface         string `json:"interface"`
	ReplyInterface    string `json:"replyInterface"`
	RedirectInterface string `json:"redirectInterface"`
	// XDPMode is auto, native or generic.
	XDPMode     string           `json:"xdpMode"`
	Deny        []netip.Prefix   `json:"deny"`
	DSRSource   netip.Addr       `json:"dsrSource"`
	DSRSource6  netip.Addr       `json:"dsrSource6"`
	DSRRedirect bool             `json:"dsrRedirect"`
	Services    []serviceConfig  `json:"services"`
	Redirects   []redirectConfig `json:"redirects"`
}

type serviceConfig struct {
	Frontend  netip.AddrPort  `json:"frontend"`
	Protocol  string          `json:"protocol"`  // TCP (default) or UDP
	Mode      string          `json:"mode"`      // DNAT (default) or DSR
	Algorithm string          `json:"algorithm"` // maglev (default) or random
	Backends  []backendConfig `json:"backends"`
}

type backendConfig struct {
	Addr   netip.AddrPort `json:"addr"`
	Weight *uint16        `json:"weight"` // 1 when not given
}

type redirectConfig struct {
	Frontend netip.AddrPort `json:"frontend"`
	Proxy    netip.AddrPort `json:"proxy"`
}

// load reads the file and turns it into the datapath's types; an error
// names the field.
func load(path string) (config, []datapath.Service, []datapath.Redirect, error) {
	var c config
	raw, err := os.ReadFile(path)
	if err != nil {
		return c, nil, nil, err
	}
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		return c, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var services []datapath.Service
	for i, sc := range c.Services {
		field := fmt.Sprintf("%s: services[%d]", path, i)
		s := datapath.Service{Frontend: datapath.Frontend{Addr: sc.Frontend, Protocol: maglev.ProtocolTCP}}
		switch strings.ToUpper(sc.Protocol) {
		case "", "TCP":
		case "UDP":
			s.Frontend.Protocol = maglev.ProtocolUDP
		default:
			return c, nil, nil, fmt.Errorf("%s.protocol: %q: TCP or UDP", field, sc.Protocol)
		}
		switch strings.ToUpper(sc.Mode) {
		case "", "DNAT":
		case "DSR":
			s.Mode = datapath.LBModeDSR
		default:
			return c, nil, nil, fmt.Errorf("%s.mode: %q: DNAT or DSR", field, sc.Mode)
		}
		switch strings.ToLower(sc.Algorithm) {
		case "", "maglev":
		case "random":
			s.Algorithm = datapath.LBAlgorithmRandom
		default:
			return c, nil, nil, fmt.Errorf("%s.algorithm: %q: maglev or random", field, sc.Algorithm)
		}
		for _, b := range sc.Backends {
			w := uint16(1)
			if b.Weight != nil {
				w = *b.Weight
			}
			s.Backends = append(s.Backends, datapath.LBBackend{Addr: b.Addr, Weight: w})
		}
		services = append(services, s)
	}
	var redirects []datapath.Redirect
	for _, rc := range c.Redirects {
		redirects = append(redirects, datapath.Redirect{Frontend: datapath.Frontend{Addr: rc.Frontend, Protocol: maglev.ProtocolTCP}, Proxy: rc.Proxy})
	}
	return c, services, redirects, nil
}

// node is the datapath's three parts, of either backend.
type node struct {
	prefilter datapath.Prefilter
	lb        datapath.LoadBalancer
	redirect  datapath.ProxyRedirect
	// With the kernel backend: the same, for attaching; and what to
	// detach when the agent stops without pins.
	kernel *kernelNode
}

type kernelNode struct {
	prefilter *ebpf.Prefilter
	lb        *ebpf.LoadBalancer
	redirect  *ebpf.ProxyRedirect
}

func run(ctx context.Context, args []string, reload <-chan os.Signal, errOut io.Writer) error {
	fs := flag.NewFlagSet("datapath-agent", flag.ContinueOnError)
	file := fs.String("f", "", "the node's datapath file (YAML)")
	useFake := fs.Bool("fake", false, "run the in-memory backends (no root, nothing attached)")
	pinPath := fs.String("pin-path", "/sys/fs/bpf/eniway", "bpffs directory for the kernel backend's pins (empty: no pins, no takeover)")
	gcEvery := fs.Duration("gc-interval", 10*time.Second, "how often idle flows are expired")
	statsEvery := fs.Duration("stats-interval", 30*time.Second, "how often the counters are logged")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("give the datapath file with -f")
	}
	log := slog.New(slog.NewTextHandler(errOut, nil))
	c, services, redirects, err := load(*file)
	if err != nil {
		return err
	}
	n, err := open(c, *useFake, *pinPath)
	if err != nil {
		return err
	}
	defer func() {
		if err := n.close(); err != nil {
			log.Error("close", "err", err)
		}
	}()
	if err := n.apply(c, services, redirects, log); err != nil {
		return err
	}
	if err := n.attach(c, log); err != nil {
		return err
	}
	gc, stats := time.NewTicker(*gcEvery), time.NewTicker(*statsEvery)
	defer gc.Stop()
	defer stats.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping", "pins", *pinPath != "" && !*useFake)
			return nil
		case <-reload:
			c2, s2, r2, err := load(*file)
			if err == nil {
				err = n.apply(c2, s2, r2, log)
			}
			if err != nil {
				log.Error("reload: nothing more applied", "err", err)
			}
		case <-gc.C:
			if expired, err := n.lb.ExpireConntrack(n.lb.Now()); err != nil {
				log.Error("expire flows", "err", err)
			} else if expired > 0 {
				log.Info("flows expired", "n", expired)
			}
		case <-stats.C:
			n.logCounters(log)
		}
	}
}

// open makes the node's parts with options from c.
func open(c config, useFake bool, pinPath string) (*node, error) {
	lbOpts := datapath.LBOptions{DSRSource: c.DSRSource, DSRSource6: c.DSRSource6, DSRRedirect: c.DSRRedirect}
	pfOpts, rdOpts := datapath.PrefilterOptions{}, datapath.RedirectOptions{}
	if useFake {
		lb, err := fake.NewLoadBalancer(lbOpts)
		if err != nil {
			return nil, err
		}
		rd, err := fake.NewProxyRedirect(rdOpts)
		if err != nil {
			return nil, err
		}
		return &node{prefilter: fake.NewPrefilter(pfOpts), lb: lb, redirect: rd}, nil
	}
	if pinPath != "" {
		pfOpts.PinPath, lbOpts.PinPath, rdOpts.PinPath = pinPath+"/prefilter", pinPath+"/lb", pinPath+"/redirect"
	}
	k := &kernelNode{}
	var err error
	if k.prefilter, err = ebpf.NewPrefilter(pfOpts); err != nil {
		return nil, err
	}
	if k.lb, err = ebpf.NewLoadBalancer(lbOpts); err != nil {
		return nil, errors.Join(err, k.prefilter.Close())
	}
	if k.redirect, err = ebpf.NewProxyRedirect(rdOpts); err != nil {
		return nil, errors.Join(err, k.prefilter.Close(), k.lb.Close())
	}
	return &node{prefilter: k.prefilter, lb: k.lb, redirect: k.redirect, kernel: k}, nil
}

// apply makes the datapath what c says.
func (n *node) apply(c config, services []datapath.Service, redirects []datapath.Redirect, log *slog.Logger) error {
	rev, err := datapath.SyncPrefilter(n.prefilter, c.Deny)
	if err != nil {
		return fmt.Errorf("deny list: %w", err)
	}
	up, del, err := datapath.SyncServices(n.lb, services)
	if err != nil {
		return fmt.Errorf("services: %w", err)
	}
	set, unset, err := datapath.SyncRedirects(n.redirect, redirects)
	if err != nil {
		return fmt.Errorf("redirects: %w", err)
	}
	log.Info("applied", "deny-revision", rev, "deny", len(c.Deny), "services-upserted", up, "services-deleted", del,
		"redirects-set", set, "redirects-deleted", unset)
	return nil
}

// attach attaches the kernel backend's programs to c's interfaces.
func (n *node) attach(c config, log *slog.Logger) error {
	if n.kernel == nil {
		return nil
	}
	mode := map[string]datapath.XDPMode{"": datapath.XDPModeAuto, "auto": datapath.XDPModeAuto,
		"native": datapath.XDPModeNative, "generic": datapath.XDPModeGeneric}[strings.ToLower(c.XDPMode)]
	index := func(name string) (int, error) {
		i, err := net.InterfaceByName(name)
		if err != nil {
			return 0, fmt.Errorf("interface %s: %w", name, err)
		}
		return i.Index, nil
	}
	if c.Interface != "" {
		i, err := index(c.Interface)
		if err != nil {
			return err
		}
		if err := n.kernel.prefilter.Chain(n.kernel.lb.Program()); err != nil {
			return err
		}
		used, err := n.kernel.prefilter.Attach(i, mode)
		if err != nil {
			return err
		}
		log.Info("prefilter and load balancer attached", "interface", c.Interface, "xdp", used)
	}
	if c.ReplyInterface != "" {
		i, err := index(c.ReplyInterface)
		if err != nil {
			return err
		}
		used, err := n.kernel.lb.AttachReplies(i, mode)
		if err != nil {
			return err
		}
		log.Info("reply program attached", "interface", c.ReplyInterface, "xdp", used)
	}
	if c.RedirectInterface != "" {
		i, err := index(c.RedirectInterface)
		if err != nil {
			return err
		}
		used, err := n.kernel.redirect.Attach(i, ebpf.TCModeAuto)
		if err != nil {
			return err
		}
		log.Info("proxy redirect attached", "interface", c.RedirectInterface, "tc", used)
	}
	return nil
}

func (n *node) logCounters(log *slog.Logger) {
	pc, err1 := n.prefilter.Counters()
	lc, err2 := n.lb.Counters()
	rc, err3 := n.redirect.Counters()
	if err := errors.Join(err1, err2, err3); err != nil {
		log.Error("counters", "err", err)
		return
	}
	log.Info("counters", "prefilter", fmt.Sprintf("%+v", pc), "lb", fmt.Sprintf("%+v", lc), "redirect", fmt.Sprintf("%+v", rc))
}

func (n *node) close() error {
	return errors.Join(n.prefilter.Close(), n.lb.Close(), n.redirect.Close())
}
