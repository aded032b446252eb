package controller_test

import (
	"context"
	"log/slog"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/apis/v1alpha1"
	"github.com/eniway/eniway/gatewayapi/controller"
)

// Adding the reconciler to one's own manager. It needs a cluster, so this
// example is compiled but not run; the package's tests run the same wiring
// against a real API server.
func Example() {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = gwv1.Install(scheme)
	_ = v1alpha1.AddToScheme(scheme) // optional: LocalRateLimitPolicy

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{Scheme: scheme})
	if err != nil {
		panic(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	rec, err := controller.New(mgr.GetClient(), mgr.GetAPIReader(), controller.Options{
		ControllerName: "example.com/gateway-controller",
		Logger:         log,
		Sink: controller.SinkFunc(func(_ context.Context, ir *gatewayapi.IR) error {
			log.Info("new routing model", "gateways", len(ir.Gateways), "backends", len(ir.Backends))
			return nil // an xDS server would take the IR here
		}),
	})
	if err != nil {
		panic(err)
	}
	if err := rec.SetupWithManager(mgr); err != nil {
		panic(err)
	}
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		panic(err)
	}
}
