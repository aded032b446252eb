package xds_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/internal/gatewaytest"
	"github.com/eniway/eniway/l7/xds"
)

// grpcKey holds the gRPC projection among the Gateways' resources.
const grpcKey = "~grpc"

var update = flag.Bool("update", false, "rewrite testdata/<case>.<type>.yaml and delete orphans")

var kinds = []string{"listeners", "routes", "clusters", "endpoints", "secrets", "grpc"}

// render writes resources as YAML: protojson (stable field names, Any
// types spelled out) re-encoded as YAML, one list per resource type, the
// Gateways in name order.
func render(t *testing.T, all map[string]*xds.Resources) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range all {
			if !yield(k) {
				return
			}
		}
	})
	for _, kind := range kinds {
		var buf bytes.Buffer
		for _, gw := range keys {
			r := all[gw]
			if (gw == grpcKey) != (kind == "grpc") {
				continue
			}
			var msgs []proto.Message
			switch kind {
			case "listeners":
				for _, m := range r.Listeners {
					msgs = append(msgs, m)
				}
			case "routes":
				for _, m := range r.Routes {
					msgs = append(msgs, m)
				}
			case "clusters":
				for _, m := range r.Clusters {
					msgs = append(msgs, m)
				}
			case "endpoints":
				for _, m := range r.Endpoints {
					msgs = append(msgs, m)
				}
			case "secrets":
				for _, m := range r.Secrets {
					msgs = append(msgs, m)
				}
			case "grpc":
				// The gRPC projection's own resources (its clusters and
				// endpoints are those of the Envoy resources).
				if gw != grpcKey {
					continue
				}
				for _, m := range r.Listeners {
					msgs = append(msgs, m)
				}
				for _, m := range r.Routes {
					msgs = append(msgs, m)
				}
			}
			if len(msgs) == 0 {
				continue
			}
			if gw == grpcKey {
				buf.WriteString("# gRPC projection\n")
			} else {
				buf.WriteString("# Gateway " + gw + "\n")
			}
			for _, m := range msgs {
				js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
				require.NoError(t, err)
				y, err := yaml.JSONToYAML(js)
				require.NoError(t, err)
				buf.WriteString("---\n")
				buf.Write(y)
			}
		}
		if buf.Len() > 0 {
			out[kind] = buf.Bytes()
		}
	}
	return out
}

// TestGolden translates every Gateway API test case of gatewayapi (the
// guide's manifests, every filter and rule) through gatewayapi.Translate
// and Translate, and compares the resources with
// testdata/<case>.<type>.yaml. The cases are manifests rather than IR
// files because an IR's certificates carry private keys, which an IR never
// serializes.
func TestGolden(t *testing.T) {
	cases, err := gatewaytest.All()
	require.NoError(t, err)
	require.NotEmpty(t, cases)
	want := map[string]bool{}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			res, _ := gatewayapi.Translate(c.Input, c.Options)
			require.NotNil(t, res)
			all, err := xds.Translate(res.IR, xds.Options{})
			require.NoError(t, err)
			again, err := xds.Translate(res.IR, xds.Options{})
			require.NoError(t, err)
			grpcRes, err := xds.TranslateGRPC(res.IR, xds.Options{})
			require.NoError(t, err)
			all[grpcKey], again[grpcKey] = grpcRes, grpcRes
			got := render(t, all)
			require.Equal(t, got, render(t, again), "translation is not deterministic")
			for _, kind := range kinds {
				path := filepath.Join("testdata", c.Name+"."+kind+".yaml")
				data, ok := got[kind]
				if !ok {
					continue
				}
				want[path] = true
				if *update {
					require.NoError(t, os.WriteFile(path, data, 0o644))
					continue
				}
				old, err := os.ReadFile(path)
				require.NoError(t, err, "run go test ./l7/xds -run TestGolden -update")
				require.Equal(t, string(old), string(data))
			}
		})
	}
	files, err := filepath.Glob("testdata/*.yaml")
	require.NoError(t, err)
	for _, f := range files {
		if strings.Count(filepath.Base(f), ".") != 2 || want[f] {
			continue
		}
		if *update {
			require.NoError(t, os.Remove(f))
		} else {
			t.Errorf("%s: no case produces it (run -update to delete it)", f)
		}
	}
}
