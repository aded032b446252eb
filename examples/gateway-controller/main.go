// Command gateway-controller is the control plane of the guide's gateway:
// the Gateway API controller (package gatewayapi/controller) reconciling
// a cluster's Gateways, HTTPRoutes, GRPCRoutes and TLSRoutes and writing
// their status, with the ADS server (package l7/ads) as its sink, which
// pushes each new routing model to the connected Envoys, gateway-proxy
// data planes and proxyless gRPC clients.
//
//	go run ./examples/gateway-controller -kubeconfig ~/.kube/config -ads-listen 127.0.0.1:18000
//	go run ./examples/gateway-proxy -ads 127.0.0.1:18000 -node node-1
//
// The RBAC it needs is gatewayapi/config/rbac/role.yaml. Its Prometheus
// metrics (controller-runtime's and eniway_xds_*) are served on
// -metrics-bind-address.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/eniway/eniway/gatewayapi/apis/v1alpha1"
	"github.com/eniway/eniway/gatewayapi/controller"
	"github.com/eniway/eniway/l7/ads"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], nil, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway-controller:", err)
		os.Exit(1)
	}
}

// run parses flags and runs the manager until ctx ends; cfg, when not
// nil, is used instead of -kubeconfig (tests).
func run(ctx context.Context, args []string, cfg *rest.Config, errOut io.Writer) error {
	fs := flag.NewFlagSet("gateway-controller", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	controllerName := fs.String("controller-name", "", "GatewayClass controllerName to handle (default eniway.io/gateway-controller)")
	adsListen := fs.String("ads-listen", ads.DefaultListen, "ADS gRPC listen address")
	metricsAddr := fs.String("metrics-bind-address", "0", `Prometheus metrics address ("0" disables)`)
	verbose := fs.Bool("v", false, "debug logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))
	if cfg == nil {
		var err error
		if *kubeconfig != "" {
			cfg, err = clientcmd.BuildConfigFromFlags("", *kubeconfig)
		} else {
			cfg, err = ctrl.GetConfig()
		}
		if err != nil {
			return fmt.Errorf("kubeconfig: %w", err)
		}
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, gwv1.Install, gwv1beta1.Install, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	srv, err := ads.New(ads.Options{Listen: *adsListen, Logger: log, Registerer: metrics.Registry})
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	rec, err := controller.New(mgr.GetClient(), mgr.GetAPIReader(), controller.Options{
		ControllerName: *controllerName,
		Sink:           srv,
		Feedback:       srv, // configurations nodes rejected show in the Gateways' Programmed condition
		Logger:         log,
	})
	if err != nil {
		return err
	}
	if err := rec.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := mgr.Add(srv); err != nil {
		return err
	}
	log.Info("serving ADS", "address", srv.Addr())
	return mgr.Start(ctx)
}
