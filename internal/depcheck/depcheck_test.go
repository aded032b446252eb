package depcheck

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// pure lists packages that must stay free of heavy or platform-bound
// dependencies.
var pure = []string{
	"github.com/eniway/eniway/maglev",
	"github.com/eniway/eniway/ipam",
	"github.com/eniway/eniway/eni",
}

// forbidden lists import path prefixes a pure package must not depend on,
// directly or indirectly.
var forbidden = []string{
	"github.com/aws/",
	"github.com/cilium/",
	"github.com/vishvananda/",
	"github.com/envoyproxy/",
	"golang.org/x/sys/unix",
	"google.golang.org/grpc",
	"k8s.io/",
	"sigs.k8s.io/",
}

// translators lists the pure translators that may use the Kubernetes and
// Gateway API types but must not pull in clients, controllers, the AWS SDK,
// kernel libraries or Envoy.
var translators = []string{
	"github.com/eniway/eniway/gatewayapi",
	"github.com/eniway/eniway/gatewayapi/apis/v1alpha1",
}

var translatorForbidden = []string{
	"github.com/aws/",
	"github.com/cilium/",
	"github.com/vishvananda/",
	"github.com/envoyproxy/",
	"golang.org/x/sys/unix",
	"google.golang.org/grpc",
	"k8s.io/client-go",
	"sigs.k8s.io/controller-runtime",
}

func TestTranslatorsStayPure(t *testing.T) {
	for _, pkg := range translators {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		require.NoError(t, err, "go list -deps %s: %s", pkg, out)
		deps := strings.Fields(string(out))
		require.Contains(t, deps, pkg)
		for _, dep := range deps {
			for _, bad := range translatorForbidden {
				require.False(t, strings.HasPrefix(dep, bad), "%s depends on %s", pkg, dep)
			}
		}
	}
}

func TestPurePackagesStayLight(t *testing.T) {
	for _, pkg := range pure {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		require.NoError(t, err, "go list -deps %s: %s", pkg, out)
		deps := strings.Fields(string(out))
		require.Contains(t, deps, pkg)
		for _, dep := range deps {
			for _, bad := range forbidden {
				require.False(t, strings.HasPrefix(dep, bad), "%s depends on %s", pkg, dep)
			}
		}
	}
}
