package controller_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/manifest"
)

// inputObjects returns every object of in.
func inputObjects(in *gatewayapi.Input) []client.Object {
	var out []client.Object
	add := func(list any) {
		v := reflect.ValueOf(list)
		for i := range v.Len() {
			out = append(out, v.Index(i).Interface().(client.Object))
		}
	}
	add(in.Namespaces)
	add(in.GatewayClasses)
	add(in.Gateways)
	add(in.HTTPRoutes)
	add(in.GRPCRoutes)
	add(in.TLSRoutes)
	add(in.ReferenceGrants)
	add(in.Services)
	add(in.EndpointSlices)
	add(in.Secrets)
	add(in.ConfigMaps)
	add(in.LocalRateLimitPolicies)
	return out
}

// inputOf rebuilds an Input from objects of the kinds inputObjects returns.
func inputOf(objs []client.Object) *gatewayapi.Input {
	in := &gatewayapi.Input{}
	v := reflect.ValueOf(in).Elem()
	for _, o := range objs {
		for i := range v.NumField() {
			f := v.Field(i)
			if f.Kind() == reflect.Slice && f.Type().Elem() == reflect.TypeOf(o) {
				f.Set(reflect.Append(f, reflect.ValueOf(o)))
			}
		}
	}
	return in
}

// TestYAMLMatchesAPIServer checks that the defaults the translator applies
// to objects read from YAML are those the API server applies. Each golden
// case's objects are created in a real API server, which applies the CRDs'
// defaults (and its own, to Services and Secrets), read back and
// translated; the result must equal the translation of the same objects
// straight from the YAML, byte for byte. Only what the server sets on its
// own (creation time, generation, status, which a create ignores) is
// restored from the YAML. Cases whose objects the API server rejects (the
// invalid-input cases, which the CRDs' validation stops before any
// controller sees them) are reported and skipped; the experimental case
// must differ, as the standard-channel CRDs prune its fields.
func TestYAMLMatchesAPIServer(t *testing.T) {
	h := start(t)
	ctx := t.Context()
	cases, err := filepath.Glob("../testdata/*.in.yaml")
	require.NoError(t, err)
	var compared []string
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".in.yaml")
		in, err := manifest.Load(path)
		require.NoError(t, err)
		objs := inputObjects(in)
		var created []client.Object
		rejected := ""
		for _, o := range objs {
			c := o.DeepCopyObject().(client.Object)
			c.SetResourceVersion("")
			if ns := c.GetNamespace(); ns != "" {
				err := h.c.Create(ctx, &corev1.Namespace{ObjectMeta: objMeta(ns)})
				require.NoError(t, client.IgnoreAlreadyExists(err))
			}
			if _, ok := c.(*corev1.Namespace); ok {
				require.NoError(t, client.IgnoreAlreadyExists(h.c.Create(ctx, c)))
				created = append(created, c)
				continue
			}
			if err := h.c.Create(ctx, c); err != nil {
				require.True(t, apierrors.IsInvalid(err), "%s: create %s %s: %v", name, o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
				rejected = err.Error()
				break
			}
			created = append(created, c)
		}
		var back []client.Object
		if rejected == "" {
			for i, o := range objs {
				b := o.DeepCopyObject().(client.Object)
				require.NoError(t, h.c.Get(ctx, client.ObjectKeyFromObject(o), b))
				b.SetCreationTimestamp(o.GetCreationTimestamp())
				b.SetGeneration(o.GetGeneration())
				b.SetResourceVersion(o.GetResourceVersion())
				b.SetUID(o.GetUID())
				b.SetManagedFields(nil)
				setStatus(b, objs[i])
				back = append(back, b)
			}
		}
		for _, c := range created {
			if _, ok := c.(*corev1.Namespace); !ok {
				require.NoError(t, client.IgnoreNotFound(h.c.Delete(ctx, c)))
			}
		}
		if rejected != "" {
			t.Logf("%s: the API server rejects an object, as it should for this case: %s", name, rejected)
			continue
		}
		opts := gatewayapi.Options{ControllerName: controllerNameOf(in)}
		want := translateJSON(t, in, opts)
		got := translateJSON(t, inputOf(back), opts)
		if strings.HasPrefix(name, "experimental") {
			// The standard-channel CRDs prune experimental fields.
			require.NotEqual(t, want, got, "%s: experimental fields survived the standard CRDs", name)
			continue
		}
		if want != got {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "yaml.json"), []byte(want), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "apiserver.json"), []byte(got), 0o644))
			t.Errorf("%s: translation differs after the API server's defaulting; compare %s/yaml.json and apiserver.json\n%s", name, dir, firstDiff(want, got))
			continue
		}
		compared = append(compared, name)
	}
	t.Logf("compared: %s", strings.Join(compared, ", "))
	for _, must := range []string{"guide-basic-route", "guide-canary", "guide-header-rewrite-fixed", "guide-role-separation", "precedence", "hostnames", "backends", "attachment", "filters", "listeners", "ratelimit", "grpc", "referencegrant", "classes"} {
		require.Contains(t, compared, must)
	}
}

// firstDiff shows where two strings start to differ.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-300)
	return fmt.Sprintf("yaml:      ...%s\napiserver: ...%s", a[from:min(len(a), i+200)], b[from:min(len(b), i+200)])
}

// controllerNameOf returns the controller name of the case's first class,
// so that every case is translated as its golden file is.
func controllerNameOf(in *gatewayapi.Input) string {
	for _, c := range in.GatewayClasses {
		return string(c.Spec.ControllerName)
	}
	return ""
}

func translateJSON(t *testing.T, in *gatewayapi.Input, opts gatewayapi.Options) string {
	t.Helper()
	res, err := gatewayapi.Translate(in, opts)
	require.NotNil(t, res)
	b, merr := json.Marshal(struct {
		Result *gatewayapi.Result
		Err    string
	}{res, errString(err)})
	require.NoError(t, merr)
	return string(b)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// setStatus copies the status field of from into to (same type).
func setStatus(to, from client.Object) {
	dst := reflect.ValueOf(to).Elem().FieldByName("Status")
	src := reflect.ValueOf(from).Elem().FieldByName("Status")
	if dst.IsValid() && src.IsValid() {
		dst.Set(src)
	}
}
