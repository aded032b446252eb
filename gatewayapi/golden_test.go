package gatewayapi_test

import (
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/gatewaytest"
)

var update = flag.Bool("update", false, "rewrite testdata/<case>.out.yaml from the translator's output and delete orphans")

// golden is what a case's .out.yaml holds.
type golden struct {
	// Errors are the translator's per-object errors, in order.
	Errors []string           `json:"errors,omitempty"`
	Result *gatewayapi.Result `json:"result"`
}

func translateCase(t *testing.T, in *gatewayapi.Input, opts gatewayapi.Options) []byte {
	t.Helper()
	res, err := gatewayapi.Translate(in, opts)
	require.NotNil(t, res)
	require.NoError(t, res.IR.Validate())
	g := golden{Result: res}
	if err != nil {
		var joined interface{ Unwrap() []error }
		require.True(t, errors.As(err, &joined), "Translate's error is a join")
		for _, e := range joined.Unwrap() {
			var oe *gatewayapi.ObjectError
			require.True(t, errors.As(e, &oe), "every error is an *ObjectError: %v", e)
			g.Errors = append(g.Errors, e.Error())
		}
	}
	out, err := yaml.Marshal(g)
	require.NoError(t, err)
	return out
}

// shuffled returns in with every list in a random order.
func shuffled(in *gatewayapi.Input, r *rand.Rand) *gatewayapi.Input {
	c := *in
	shuffle := func(n int, swap func(i, j int)) { r.Shuffle(n, swap) }
	c.GatewayClasses = append(c.GatewayClasses[:0:0], in.GatewayClasses...)
	shuffle(len(c.GatewayClasses), func(i, j int) { c.GatewayClasses[i], c.GatewayClasses[j] = c.GatewayClasses[j], c.GatewayClasses[i] })
	c.Gateways = append(c.Gateways[:0:0], in.Gateways...)
	shuffle(len(c.Gateways), func(i, j int) { c.Gateways[i], c.Gateways[j] = c.Gateways[j], c.Gateways[i] })
	c.HTTPRoutes = append(c.HTTPRoutes[:0:0], in.HTTPRoutes...)
	shuffle(len(c.HTTPRoutes), func(i, j int) { c.HTTPRoutes[i], c.HTTPRoutes[j] = c.HTTPRoutes[j], c.HTTPRoutes[i] })
	c.Services = append(c.Services[:0:0], in.Services...)
	shuffle(len(c.Services), func(i, j int) { c.Services[i], c.Services[j] = c.Services[j], c.Services[i] })
	c.EndpointSlices = append(c.EndpointSlices[:0:0], in.EndpointSlices...)
	shuffle(len(c.EndpointSlices), func(i, j int) {
		c.EndpointSlices[i], c.EndpointSlices[j] = c.EndpointSlices[j], c.EndpointSlices[i]
	})
	c.ReferenceGrants = append(c.ReferenceGrants[:0:0], in.ReferenceGrants...)
	shuffle(len(c.ReferenceGrants), func(i, j int) {
		c.ReferenceGrants[i], c.ReferenceGrants[j] = c.ReferenceGrants[j], c.ReferenceGrants[i]
	})
	return &c
}

// TestGolden translates every testdata/<case>.in.yaml and compares IR,
// status and errors with testdata/<case>.out.yaml. It also checks that the
// output does not depend on the order of the input objects.
func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, ins)
	if *update {
		outs, err := filepath.Glob("testdata/*.out.yaml")
		require.NoError(t, err)
		for _, o := range outs {
			if _, err := os.Stat(strings.TrimSuffix(o, ".out.yaml") + ".in.yaml"); os.IsNotExist(err) {
				require.NoError(t, os.Remove(o))
			}
		}
	}
	for _, path := range ins {
		name := strings.TrimSuffix(filepath.Base(path), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			c, err := gatewaytest.Load(path)
			require.NoError(t, err)
			in, opts := c.Input, c.Options
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			got := translateCase(t, in, opts)
			r := rand.New(rand.NewPCG(1, uint64(len(data))))
			for range 3 {
				require.Equal(t, string(got), string(translateCase(t, shuffled(in, r), opts)), "output depends on input order")
			}
			outPath := strings.TrimSuffix(path, ".in.yaml") + ".out.yaml"
			if *update {
				require.NoError(t, os.WriteFile(outPath, got, 0o644))
				return
			}
			want, err := os.ReadFile(outPath)
			require.NoError(t, err, "run go test ./gatewayapi -run TestGolden -update to create it")
			require.Equal(t, string(want), string(got))
		})
	}
}
