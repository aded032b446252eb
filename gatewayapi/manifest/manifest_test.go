package manifest_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/manifest"
)

// counts is the number of objects of each kind in an Input.
type counts struct {
	GatewayClasses, Gateways, HTTPRoutes, GRPCRoutes, TLSRoutes, ReferenceGrants int
	Namespaces, Services, EndpointSlices, Secrets, ConfigMaps                    int
}

func countsOf(in *gatewayapi.Input) counts {
	return counts{
		GatewayClasses:  len(in.GatewayClasses),
		Gateways:        len(in.Gateways),
		HTTPRoutes:      len(in.HTTPRoutes),
		GRPCRoutes:      len(in.GRPCRoutes),
		TLSRoutes:       len(in.TLSRoutes),
		ReferenceGrants: len(in.ReferenceGrants),
		Namespaces:      len(in.Namespaces),
		Services:        len(in.Services),
		EndpointSlices:  len(in.EndpointSlices),
		Secrets:         len(in.Secrets),
		ConfigMaps:      len(in.ConfigMaps),
	}
}

// decodeErrors unpacks the joined errors of a Loader call, requiring each
// to be a *DecodeError that matches gatewayapi.ErrInvalid.
func decodeErrors(t *testing.T, err error) []*manifest.DecodeError {
	t.Helper()
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "not joined: %v", err)
	var out []*manifest.DecodeError
	for _, e := range joined.Unwrap() {
		var de *manifest.DecodeError
		require.ErrorAs(t, e, &de)
		require.ErrorIs(t, e, gatewayapi.ErrInvalid)
		out = append(out, de)
	}
	return out
}

func kinds(refs []manifest.ObjectRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Kind+" "+r.Name)
	}
	return out
}

func TestLoadGuide(t *testing.T) {
	tests := []struct {
		path    string
		want    counts
		skipped []string
	}{
		{path: "gateway-resources.yaml", want: counts{GatewayClasses: 1, Gateways: 1, Secrets: 1}},
		{path: "basic-httproute.yaml", want: counts{HTTPRoutes: 1}},
		{path: "canary-httproute.yaml", want: counts{HTTPRoutes: 1}},
		{path: "header-based-route.yaml", want: counts{HTTPRoutes: 1}},
		{path: "url-rewrite-route.yaml", want: counts{HTTPRoutes: 1}},
		{path: "role-separation-example.yaml", want: counts{GatewayClasses: 1, Gateways: 1, HTTPRoutes: 2, ReferenceGrants: 1}},
		{path: "rbac-platform-team.yaml", skipped: []string{"ClusterRole gateway-infrastructure-admin", "ClusterRoleBinding platform-team-gateway"}},
		{path: "rbac-dev-team.yaml", skipped: []string{"Role httproute-manager", "RoleBinding team-a-httproute"}},
		{
			path: ".",
			want: counts{GatewayClasses: 2, Gateways: 2, HTTPRoutes: 6, ReferenceGrants: 1, Secrets: 1},
			skipped: []string{
				// Lexical order of the files.
				"Role httproute-manager", "RoleBinding team-a-httproute",
				"ClusterRole gateway-infrastructure-admin", "ClusterRoleBinding platform-team-gateway",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			l, err := manifest.NewLoader(manifest.Options{})
			require.NoError(t, err)
			require.NoError(t, l.Load(filepath.Join("testdata", "guide", tt.path)))
			assert.Equal(t, tt.want, countsOf(l.Input()))
			assert.Equal(t, tt.skipped, kinds(l.Skipped()))
		})
	}
}

func TestLoadGuideObjects(t *testing.T) {
	in, err := manifest.Load("testdata/guide")
	require.NoError(t, err)

	var names []string
	for _, r := range in.HTTPRoutes {
		names = append(names, r.Namespace+"/"+r.Name)
	}
	// Files in lexical order, documents in file order.
	assert.Equal(t, []string{
		"production/example-route", "production/canary-route", "production/header-route",
		"team-a/team-a-route", "team-b/team-b-route", "production/rewrite-route",
	}, names)

	gw := in.Gateways[0]
	assert.Equal(t, "cilium-gateway", gw.Name)
	assert.Equal(t, "ip", gw.Annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"])
	require.Len(t, gw.Spec.Listeners, 2)
	assert.Equal(t, gwv1.PortNumber(443), gw.Spec.Listeners[1].Port)
	assert.Equal(t, gwv1.ObjectName("tls-cert"), gw.Spec.Listeners[1].TLS.CertificateRefs[0].Name)
	// No Gateway API defaults here: the translator applies them.
	assert.Nil(t, gw.Spec.Listeners[1].TLS.CertificateRefs[0].Group)

	gc := in.GatewayClasses[0]
	assert.Equal(t, "cilium", gc.Name)
	assert.Empty(t, gc.Namespace)

	secret := in.Secrets[0]
	assert.Nil(t, secret.StringData)
	assert.Equal(t, corev1.SecretTypeTLS, secret.Type)
	assert.Contains(t, string(secret.Data["tls.crt"]), "BEGIN CERTIFICATE")
	assert.Contains(t, string(secret.Data["tls.key"]), "BEGIN EC PARAMETERS")

	// The guide's ReferenceGrant is v1beta1; the Input holds it as v1.
	rg := in.ReferenceGrants[0]
	assert.Equal(t, "gateway.networking.k8s.io/v1", rg.APIVersion)
	assert.Equal(t, "ReferenceGrant", rg.Kind)
	assert.Equal(t, "infra", rg.Namespace)
	require.Len(t, rg.Spec.From, 2)
	assert.Equal(t, gwv1.Namespace("team-b"), rg.Spec.From[1].Namespace)
}

// wantErr describes one expected *DecodeError.
type wantErr struct {
	is       error
	document int
	line     int
	path     string
	kind     string
	name     string
	field    string
}

const httpRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
`

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    counts
		skipped []string
		errs    []wantErr
	}{
		{name: "empty"},
		{name: "separators only", in: "---\n---\n--- # nothing\n"},
		{name: "comments only", in: "# a\n---\n# b\n\n---\n"},
		{name: "null document", in: "null\n---\n~\n"},
		{
			name: "multi-document",
			in:   "# header\n---\n" + httpRoute + "---\n# between\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n---\n",
			want: counts{HTTPRoutes: 1, Services: 1},
		},
		{
			name: "JSON object",
			in:   `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}`,
			want: counts{ConfigMaps: 1},
		},
		{
			name: "JSON stream",
			in: `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns1"}}`,
			want: counts{ConfigMaps: 1, Namespaces: 1},
		},
		{
			name: "flow YAML starting with a brace",
			in:   "{apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n---\n{apiVersion: v1, kind: Namespace, metadata: {name: ns1}}\n",
			want: counts{ConfigMaps: 1, Namespaces: 1},
		},
		{
			name: "JSON stream broken after the first value",
			in:   `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}` + "\n\n{\"apiVersion\": ",
			want: counts{ConfigMaps: 1},
			errs: []wantErr{{is: manifest.ErrMalformed, document: 1, line: 3}},
		},
		{
			name: "List from kubectl get",
			in: `apiVersion: v1
kind: List
metadata:
  resourceVersion: ""
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: a
    namespace: ns
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: d
    namespace: ns
- apiVersion: gateway.networking.k8s.io/v1
  kind: HTTPRouteList
  items:
  - metadata:
      name: nested
`,
			want:    counts{Services: 1, HTTPRoutes: 1},
			skipped: []string{"Deployment d"},
		},
		{
			name: "empty typed List without items",
			in:   "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayList\nmetadata: {}\n",
		},
		{
			name: "typed List items inherit apiVersion and kind",
			in: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRouteList
items:
- metadata:
    name: a
- metadata:
    name: b
  spec:
    rulez: []
`,
			want: counts{HTTPRoutes: 1},
			errs: []wantErr{{is: manifest.ErrUnknownField, line: 1, path: "items[1]", kind: "HTTPRoute", name: "b", field: "spec.rulez"}},
		},
		{
			name: "List with an unknown field and a bad item",
			in:   "apiVersion: v1\nkind: List\nitemz: []\nitems:\n- 3\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c\n",
			want: counts{ConfigMaps: 1},
			errs: []wantErr{
				{is: manifest.ErrUnknownField, line: 1, kind: "List", field: "itemz"},
				{is: manifest.ErrMalformed, line: 1, path: "items[0]"},
			},
		},
		{
			name: "unknown fields keep the other documents",
			in: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: before\n---\n" + httpRoute + `  namespace: prod
spec:
  rules:
  - matchez:
    - path:
        value: /
    backendRefs: []
    timeoutz: {}
---
apiVersion: v1
kind: Namespace
metadata:
  name: after
`,
			want: counts{Namespaces: 2},
			errs: []wantErr{
				{is: manifest.ErrUnknownField, document: 1, line: 6, kind: "HTTPRoute", name: "r", field: "spec.rules[0].matchez"},
				{is: manifest.ErrUnknownField, document: 1, line: 6, kind: "HTTPRoute", name: "r", field: "spec.rules[0].timeoutz"},
			},
		},
		{
			name: "field names are case-sensitive",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\nData: {}\n",
			errs: []wantErr{{is: manifest.ErrUnknownField, line: 1, kind: "ConfigMap", name: "c", field: "Data"}},
		},
		{
			name: "duplicate YAML key",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: a\n  k: b\n",
			errs: []wantErr{{is: manifest.ErrDuplicateField, line: 1, kind: "ConfigMap", name: "c"}},
		},
		{
			name: "duplicate JSON key",
			in:   `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "a", "k": "b"}}`,
			errs: []wantErr{{is: manifest.ErrDuplicateField, line: 1, kind: "ConfigMap", name: "c", field: "data.k"}},
		},
		{
			name: "missing apiVersion and kind",
			in:   "metadata:\n  name: x\n---\nkind: Service\nmetadata:\n  name: svc\n---\napiVersion: v1\nmetadata:\n  name: z\n",
			errs: []wantErr{
				{is: manifest.ErrMissingField, line: 1, name: "x", field: "apiVersion"},
				{is: manifest.ErrMissingField, line: 1, name: "x", field: "kind"},
				{is: manifest.ErrMissingField, document: 1, line: 4, kind: "Service", name: "svc", field: "apiVersion"},
				{is: manifest.ErrMissingField, document: 2, line: 8, name: "z", field: "kind"},
			},
		},
		{
			name: "missing name",
			in:   "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: x\n",
			errs: []wantErr{{is: manifest.ErrMissingField, line: 1, kind: "Service", field: "metadata.name"}},
		},
		{
			name: "unknown kinds and versions",
			in: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoutes
metadata: {name: a}
---
apiVersion: gateway.networking.k8s.io/v2
kind: HTTPRoute
metadata: {name: b}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: HTTPRoute
metadata: {name: c}
---
apiVersion: v1
kind: Servic
metadata: {name: d}
---
apiVersion: discovery.k8s.io/v1beta1
kind: EndpointSlice
metadata: {name: e}
---
apiVersion: a/b/c
kind: Service
metadata: {name: f}
`,
			errs: []wantErr{
				{is: manifest.ErrUnknownKind, line: 1, kind: "HTTPRoutes", name: "a", field: "kind"},
				{is: manifest.ErrUnknownKind, document: 1, line: 5, kind: "HTTPRoute", name: "b", field: "apiVersion"},
				{is: manifest.ErrUnknownKind, document: 2, line: 9, kind: "HTTPRoute", name: "c", field: "kind"},
				{is: manifest.ErrUnknownKind, document: 3, line: 13, kind: "Servic", name: "d", field: "kind"},
				{is: manifest.ErrUnknownKind, document: 4, line: 17, kind: "EndpointSlice", name: "e", field: "apiVersion"},
				{is: manifest.ErrMalformed, document: 5, line: 21, kind: "Service", name: "f", field: "apiVersion"},
			},
		},
		{
			name: "kinds not consumed are skipped",
			in: `apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: tcp}
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: btls}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: httproutes.gateway.networking.k8s.io}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
unchecked: true
---
apiVersion: example.com/v1
kind: AllowList
metadata: {name: not-a-list}
`,
			skipped: []string{"TCPRoute tcp", "BackendTLSPolicy btls", "CustomResourceDefinition httproutes.gateway.networking.k8s.io", "Pod p", "AllowList not-a-list"},
		},
		{
			name: "not an object",
			in:   "- a\n- b\n---\nplain\n",
			errs: []wantErr{{is: manifest.ErrMalformed, line: 1}, {is: manifest.ErrMalformed, document: 1, line: 4}},
		},
		{
			name: "YAML syntax error",
			in:   httpRoute + "---\nkind: [\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n",
			want: counts{HTTPRoutes: 1, Namespaces: 1},
			errs: []wantErr{{is: manifest.ErrMalformed, document: 1, line: 6}},
		},
		{
			name: "invalid separator",
			in:   "apiVersion: v1\nkind: Namespace\nmetadata: {name: lost}\n--- !!map\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n",
			want: counts{Namespaces: 1},
			errs: []wantErr{{is: manifest.ErrMalformed, line: 4}},
		},
		{
			name: "wrong value type",
			in:   "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - port: http\n",
			errs: []wantErr{{is: manifest.ErrMalformed, line: 1, kind: "Service", name: "s"}},
		},
		{
			name: "duplicate objects",
			in: httpRoute + "---\n" + httpRoute + "  namespace: default\n---\n" +
				"apiVersion: gateway.networking.k8s.io/v1beta1\nkind: HTTPRoute\nmetadata: {name: r}\n---\n" +
				httpRoute + "  namespace: other\n",
			want: counts{HTTPRoutes: 2},
			errs: []wantErr{
				{is: manifest.ErrDuplicateObject, document: 1, line: 6, kind: "HTTPRoute", name: "r"},
				{is: manifest.ErrDuplicateObject, document: 2, line: 12, kind: "HTTPRoute", name: "r"},
			},
		},
		{
			name: "same name, different kinds",
			in:   "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
			want: counts{Secrets: 1, ConfigMaps: 1},
		},
		{
			name: "older Gateway API versions",
			in: `apiVersion: gateway.networking.k8s.io/v1beta1
kind: GatewayClass
metadata: {name: gc}
spec: {controllerName: example.com/c}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata: {name: gw}
spec: {gatewayClassName: gc, listeners: [{name: l, port: 80, protocol: HTTP}]}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: GRPCRoute
metadata: {name: grpc}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: ReferenceGrant
metadata: {name: rg}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: tls2}
spec:
  hostnames: [a.example.com]
  rules: [{backendRefs: [{name: s, port: 443}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha3
kind: TLSRoute
metadata: {name: tls3}
spec:
  hostnames: [b.example.com]
  rules: [{backendRefs: [{name: s, port: 443}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: bad}
spec:
  rules: [{backendRefz: []}]
`,
			want: counts{GatewayClasses: 1, Gateways: 1, GRPCRoutes: 1, ReferenceGrants: 1, TLSRoutes: 2},
			errs: []wantErr{{is: manifest.ErrUnknownField, document: 6, line: 33, kind: "TLSRoute", name: "bad", field: "spec.rules[0].backendRefz"}},
		},
		{
			name: "EndpointSlice",
			in:   "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s-1}\naddressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}]\n",
			want: counts{EndpointSlices: 1},
		},
		{
			name: "CRLF line endings",
			in:   "# c\r\n---\r\napiVersion: v1\r\nkind: Namespace\r\nmetadata:\r\n  name: ns1\r\n---\r\napiVersion: v1\r\nkind: Namespace\r\nmetadatum: {}\r\n",
			want: counts{Namespaces: 1},
			errs: []wantErr{{is: manifest.ErrUnknownField, document: 2, line: 8, kind: "Namespace", field: "metadatum"}},
		},
		{
			name: "byte order mark",
			in:   "\ufeffapiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n",
			want: counts{Namespaces: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // Loaders share the scheme: run under -race.
			l, err := manifest.NewLoader(manifest.Options{})
			require.NoError(t, err)
			err = l.Decode(strings.NewReader(tt.in), "in.yaml")
			got := decodeErrors(t, err)
			require.Len(t, got, len(tt.errs), "errors: %v", err)
			for i, w := range tt.errs {
				g := got[i]
				assert.ErrorIs(t, g, w.is, "error %d", i)
				assert.Equal(t, "in.yaml", g.File, "error %d", i)
				assert.Equal(t, w.document, g.Document, "error %d: %v", i, g)
				assert.Equal(t, w.line, g.Line, "error %d: %v", i, g)
				assert.Equal(t, w.path, g.Path, "error %d: %v", i, g)
				assert.Equal(t, w.kind, g.Kind, "error %d: %v", i, g)
				assert.Equal(t, w.name, g.Name, "error %d: %v", i, g)
				assert.Equal(t, w.field, g.Field, "error %d: %v", i, g)
			}
			assert.Equal(t, tt.want, countsOf(l.Input()))
			assert.Equal(t, tt.skipped, kinds(l.Skipped()))
		})
	}
}

func TestDecodeDefaults(t *testing.T) {
	const in = `apiVersion: v1
kind: Secret
metadata: {name: s}
data:
  a: b2xk
  b: a2VwdA==
stringData:
  a: new
  c: added
---
apiVersion: v1
kind: Namespace
metadata: {name: ns1, namespace: ignored}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: gc, namespace: ignored}
spec: {controllerName: example.com/c}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: explicit}
---
apiVersion: v1
kind: Secret
metadata: {name: only-string-data}
stringData: {k: v}
`
	tests := []struct {
		opts manifest.Options
		ns   string
	}{
		{opts: manifest.Options{}, ns: "default"},
		{opts: manifest.Options{DefaultNamespace: "team-a"}, ns: "team-a"},
	}
	for _, tt := range tests {
		t.Run(tt.ns, func(t *testing.T) {
			l, err := manifest.NewLoader(tt.opts)
			require.NoError(t, err)
			require.NoError(t, l.Decode(strings.NewReader(in), "in.yaml"))
			got := l.Input()

			require.Len(t, got.Secrets, 2)
			s := got.Secrets[0]
			assert.Equal(t, tt.ns, s.Namespace)
			assert.Nil(t, s.StringData)
			assert.Equal(t, map[string][]byte{"a": []byte("new"), "b": []byte("kept"), "c": []byte("added")}, s.Data)
			assert.Equal(t, map[string][]byte{"k": []byte("v")}, got.Secrets[1].Data)

			assert.Empty(t, got.Namespaces[0].Namespace)
			assert.Empty(t, got.GatewayClasses[0].Namespace)
			assert.Equal(t, "explicit", got.HTTPRoutes[0].Namespace)
			assert.Equal(t, "HTTPRoute", got.HTTPRoutes[0].Kind)

			refs := l.Objects()
			require.Len(t, refs, 5)
			assert.Equal(t, manifest.ObjectRef{
				APIVersion: "v1", Kind: "Secret", Namespace: tt.ns, Name: "s",
				Location: manifest.Location{File: "in.yaml", Document: 0, Line: 1},
			}, refs[0])
			assert.Empty(t, refs[1].Namespace)
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		opts manifest.Options
		ok   bool
	}{
		{opts: manifest.Options{}, ok: true},
		{opts: manifest.Options{DefaultNamespace: "kube-system"}, ok: true},
		{opts: manifest.Options{DefaultNamespace: "Not_A_Label"}},
		{opts: manifest.Options{DefaultNamespace: strings.Repeat("a", 64)}},
	}
	for _, tt := range tests {
		t.Run(tt.opts.DefaultNamespace, func(t *testing.T) {
			err := tt.opts.Validate()
			_, nerr := manifest.NewLoader(tt.opts)
			if tt.ok {
				require.NoError(t, err)
				require.NoError(t, nerr)
				return
			}
			var oe *gatewayapi.OptionError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, "DefaultNamespace", oe.Field)
			require.ErrorIs(t, nerr, gatewayapi.ErrInvalid)
		})
	}
}

func TestLoaderMerge(t *testing.T) {
	l, err := manifest.NewLoader(manifest.Options{})
	require.NoError(t, err)
	require.NoError(t, l.Decode(strings.NewReader(httpRoute), "a.yaml"))
	first := l.Input()

	err = l.Decode(strings.NewReader("apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n---\n"+httpRoute), "b.yaml")
	var dup *manifest.DuplicateError
	require.ErrorAs(t, err, &dup)
	require.ErrorIs(t, err, manifest.ErrDuplicateObject)
	assert.Equal(t, manifest.Location{File: "a.yaml", Document: 0, Line: 1}, dup.First)
	var de *manifest.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, manifest.Location{File: "b.yaml", Document: 1, Line: 5}, de.Location)
	assert.Equal(t, "b.yaml:5: document 1: HTTPRoute r: duplicate object, first defined at a.yaml:1: document 0", de.Error())

	got := l.Input()
	assert.Equal(t, counts{HTTPRoutes: 1, Namespaces: 1}, countsOf(got))
	// An Input returned earlier is not changed by later reads.
	assert.Equal(t, counts{HTTPRoutes: 1}, countsOf(first))
	got.HTTPRoutes[0] = nil
	assert.NotNil(t, l.Input().HTTPRoutes[0])
}

func TestDecodeErrorString(t *testing.T) {
	_, err := manifest.Decode(strings.NewReader("# route\n"+httpRoute+"  namespace: prod\nspec:\n  rules:\n  - matchez: []\n"), "route.yaml")
	require.EqualError(t, err, "route.yaml:2: document 0: HTTPRoute prod/r: spec.rules[0].matchez: unknown field")

	_, err = manifest.Decode(strings.NewReader("apiVersion: v1\nkind: List\nitems:\n- kind: Namespace\n"), "")
	require.EqualError(t, err, "line 1: document 0 items[0]: Namespace: apiVersion: missing required field")

	// The YAML library's own line numbers count from the start of the file.
	_, err = manifest.Decode(strings.NewReader("# a\n---\n# b\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: a\n  k: b\n"), "cm.yaml")
	require.EqualError(t, err, "cm.yaml:4: document 1: ConfigMap c: duplicate field: yaml: unmarshal errors:\n  line 10: key \"k\" already set in map")
	_, err = manifest.Decode(strings.NewReader("# a\n---\n\nkind: [\n"), "bad.yaml")
	require.EqualError(t, err, "bad.yaml:4: document 1: malformed document: yaml: line 4: did not find expected node content")
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	ns := func(name string) string {
		return "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + name + "}\n"
	}
	files := map[string]string{
		"b.yaml":               ns("b"),
		"a/z.yml":              ns("a-z"),
		"a.JSON":               `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a-json"}}`,
		"c/d/e.yaml":           ns("c-d-e"),
		"notes.txt":            ns("txt"),
		".hidden.yaml":         ns("hidden"),
		".git/x.yaml":          ns("git"),
		"..2026_01_01/cm.yaml": ns("configmap-volume"),
		"bad.yaml":             "apiVersion: v1\nkind: Namespace\nmetadata: {name: bad}\nspec: {finalizerz: []}\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	// As in a mounted ConfigMap volume: a link to a file is read, a link to
	// a directory is not followed.
	require.NoError(t, os.Symlink(filepath.Join("..2026_01_01", "cm.yaml"), filepath.Join(dir, "link.yaml")))
	require.NoError(t, os.Symlink("..2026_01_01", filepath.Join(dir, "..data")))
	require.NoError(t, os.Symlink("c", filepath.Join(dir, "linkdir.yaml")))

	missing := filepath.Join(dir, "missing.yaml")
	l, err := manifest.NewLoader(manifest.Options{})
	require.NoError(t, err)
	err = l.Load(dir, missing, filepath.Join(dir, "notes.txt"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, err, manifest.ErrUnknownField)
	joined, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok)
	require.Len(t, joined.Unwrap(), 2, "one error per problem, not nested: %v", err)
	var de *manifest.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, filepath.Join(dir, "bad.yaml"), de.File)

	var names []string
	for _, n := range l.Input().Namespaces {
		names = append(names, n.Name)
	}
	// The order of filepath.WalkDir, as kubectl apply -R: lexical within
	// each directory, so a/z.yml comes before a.JSON.
	assert.Equal(t, []string{"a-z", "a-json", "b", "c-d-e", "configmap-volume", "txt"}, names)
}

func TestDecodeReadError(t *testing.T) {
	_, err := manifest.Decode(errReader{}, "broken")
	require.ErrorIs(t, err, errBroken)
	require.NotErrorIs(t, err, gatewayapi.ErrInvalid)
}

var errBroken = errors.New("broken")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }
