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
	"github.com/eniway/eniway/datapath",
	"github.com/eniway/eniway/datapath/fake",
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

func TestTranslatorsStayPure(t *testing.T) { checkDeps(t, translators, translatorForbidden) }

// l7 lists the xDS translator and the embedded data plane: Envoy's types,
// and gRPC for the data plane's ADS client, but no Kubernetes client, AWS
// SDK or kernel library, so a data plane can run anywhere.
var l7 = []string{
	"github.com/eniway/eniway/l7/xds",
	"github.com/eniway/eniway/l7/proxy",
}

var l7Forbidden = []string{
	"github.com/aws/",
	"github.com/cilium/",
	"github.com/vishvananda/",
	"k8s.io/client-go",
	"sigs.k8s.io/controller-runtime",
}

func TestL7StaysOffTheCluster(t *testing.T) { checkDeps(t, l7, l7Forbidden) }

func TestPurePackagesStayLight(t *testing.T) { checkDeps(t, pure, forbidden) }

// checkDeps fails if a package of pkgs depends, directly or indirectly, on
// an import path starting with one of bad.
func checkDeps(t *testing.T, pkgs, bad []string) {
	t.Helper()
	for _, pkg := range pkgs {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		require.NoError(t, err, "go list -deps %s: %s", pkg, out)
		deps := strings.Fields(string(out))
		require.Contains(t, deps, pkg)
		for _, dep := range deps {
			for _, b := range bad {
				require.False(t, strings.HasPrefix(dep, b), "%s depends on %s", pkg, dep)
			}
		}
	}
}
