package kubetest_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/eniway/eniway/internal/kubetest"
)

// A test with a control plane of its own. Examples get no *testing.T, so this one is only compiled;
// TestGatewayAPI runs the same calls for real.
func ExampleStart() {
	testGateway := func(t *testing.T) {
		env := kubetest.Start(t) // Skips without KUBEBUILDER_ASSETS; stopped when t ends.
		gw := &gatewayv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: env.Namespace(t)},
			Spec: gatewayv1.GatewaySpec{
				GatewayClassName: "eniway",
				Listeners:        []gatewayv1.Listener{{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType}},
			},
		}
		if err := env.Client.Create(t.Context(), gw); err != nil {
			t.Fatal(err)
		}
	}
	_ = testGateway // In a real test: testGateway(t).
}

// One control plane for every test of a binary: this package's TestMain stops it (see main_test.go).
func ExampleShared() {
	var kube kubetest.Shared // A package-level variable in a real test package.

	testA := func(t *testing.T) {
		env := kube.Get(t) // Started by the first test that asks.
		_ = env.Namespace(t)
	}
	_ = testA
}
