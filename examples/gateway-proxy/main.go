// Command gateway-proxy runs the embedded data plane (package l7/proxy):
// from Gateway API manifests, translated without a cluster, or as a client
// of an ADS server such as the one package l7/ads runs.
//
//	go run ./examples/gateway-proxy -f gateway.yaml -listen-address 127.0.0.1
//	go run ./examples/gateway-proxy -ads 127.0.0.1:18000 -node node-1
//
// With -f, the Endpoints of each backend come from the manifests'
// EndpointSlices, and the listeners bind the Gateway's ports on
// -listen-address. It stops on SIGINT or SIGTERM, draining requests in
// flight.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/manifest"
	"github.com/eniway/eniway/l7/proxy"
	"github.com/eniway/eniway/l7/xds"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway-proxy:", err)
		os.Exit(1)
	}
}

type paths []string

func (p *paths) String() string     { return strings.Join(*p, ",") }
func (p *paths) Set(v string) error { *p = append(*p, v); return nil }

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("gateway-proxy", flag.ContinueOnError)
	var files paths
	fs.Var(&files, "f", "a manifest file or directory (repeatable); exclusive with -ads")
	server := fs.String("ads", "", "ADS server address (host:port)")
	node := fs.String("node", "", "node ID given to the ADS server (default: the host name)")
	listen := fs.String("listen-address", "0.0.0.0", "address the listeners bind, with -f")
	controller := fs.String("controller-name", "", "GatewayClass controllerName to handle, with -f (default "+gatewayapi.DefaultControllerName+")")
	accessLog := fs.Bool("access-log", false, "print a JSON access log line per request on stdout, with -f")
	verbose := fs.Bool("v", false, "debug logs")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address (host:port)")
	gcPercent := fs.Int("gc-percent", 400, "garbage collector target percentage, unless GOGC is set: the data plane's live heap is small, so it trades some memory for less CPU")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (len(files) == 0) == (*server == "") {
		return errors.New("give either -f or -ads")
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(*gcPercent)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
	if *pprofAddr != "" {
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return fmt.Errorf("-pprof: %w", err)
		}
		srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	opts := proxy.Options{Logger: log, AccessLogOutput: out}
	if *server != "" {
		id := *node
		if id == "" {
			id, _ = os.Hostname()
		}
		opts.Server, opts.Node = *server, &corev3.Node{Id: id, UserAgentName: "eniway-gateway-proxy"}
	}
	p, err := proxy.New(opts)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		addr, err := netip.ParseAddr(*listen)
		if err != nil {
			return fmt.Errorf("-listen-address: %w", err)
		}
		in, err := manifest.Load(files...)
		if err != nil {
			return err
		}
		res, err := gatewayapi.Translate(in, gatewayapi.Options{ControllerName: *controller})
		if err != nil {
			// Objects with problems are left out; the rest is served.
			log.Warn("manifests have problems", "error", err)
		}
		all, err := xds.Translate(res.IR, xds.Options{ListenAddress: addr, AccessLog: *accessLog})
		if err != nil {
			return err
		}
		var rs []*xds.Resources
		for _, r := range all {
			rs = append(rs, r)
		}
		if err := p.Load(rs...); err != nil {
			return err
		}
		for _, gw := range res.IR.Gateways {
			for _, port := range gw.Ports {
				log.Info("serving", "gateway", gw.Namespace+"/"+gw.Name, "address", netip.AddrPortFrom(addr, uint16(port.Port)))
			}
		}
	}
	return p.Start(ctx)
}
