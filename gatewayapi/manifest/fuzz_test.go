package manifest_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/manifest"
)

// decoded is everything a Loader gives back for one stream.
type decoded struct {
	In      *gatewayapi.Input
	Objects []manifest.ObjectRef
	Skipped []manifest.ObjectRef
	Errs    []*manifest.DecodeError
}

func decodeOnce(t *testing.T, data []byte) decoded {
	t.Helper()
	l, err := manifest.NewLoader(manifest.Options{})
	require.NoError(t, err)
	err = l.Decode(bytes.NewReader(data), "fuzz.yaml")
	return decoded{In: l.Input(), Objects: l.Objects(), Skipped: l.Skipped(), Errs: decodeErrors(t, err)}
}

// FuzzDecode checks that no input makes Decode panic, that decoding is
// deterministic, and that what it returns keeps the package's promises.
// Seeds: the guide's manifests and testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	guide, err := filepath.Glob(filepath.Join("testdata", "guide", "*.yaml"))
	require.NoError(f, err)
	for _, p := range guide {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := decodeOnce(t, data)
		require.Equal(t, got, decodeOnce(t, data))

		in := got.In
		n := len(in.GatewayClasses) + len(in.Gateways) + len(in.HTTPRoutes) + len(in.GRPCRoutes) +
			len(in.TLSRoutes) + len(in.ReferenceGrants) + len(in.Namespaces) + len(in.Services) +
			len(in.EndpointSlices) + len(in.Secrets) + len(in.ConfigMaps)
		require.Len(t, got.Objects, n)
		seen := make(map[manifest.ObjectRef]bool)
		for _, r := range got.Objects {
			require.NotEmpty(t, r.Name)
			key := manifest.ObjectRef{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
			require.False(t, seen[key], "duplicate %v", r)
			seen[key] = true
			clusterScoped := r.Kind == "GatewayClass" || r.Kind == "Namespace"
			require.Equal(t, clusterScoped, r.Namespace == "", "%v", r)
		}
		for _, s := range in.Secrets {
			require.Nil(t, s.StringData)
		}
		for _, e := range got.Errs {
			require.NotEmpty(t, e.Error())
			require.GreaterOrEqual(t, e.Document, 0)
			require.Positive(t, e.Line)
		}
	})
}
