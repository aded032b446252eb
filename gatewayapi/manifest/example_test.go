package manifest_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/manifest"
)

func Example() {
	const gateway = `# gateway.yaml
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
spec:
  gatewayClassName: eniway
  listeners:
  - name: http
    protocol: HTTP
    port: 80
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: api
spec:
  parentRefs:
  - name: web
  rules:
  - matchez:
    - path:
        value: /api
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: route-editor
rules: []
`
	l, err := manifest.NewLoader(manifest.Options{})
	if err != nil {
		panic(err)
	}
	err = l.Decode(strings.NewReader(gateway), "gateway.yaml")
	fmt.Println(err)
	fmt.Println("invalid:", errors.Is(err, gatewayapi.ErrInvalid))

	in := l.Input()
	for _, gw := range in.Gateways {
		fmt.Printf("Gateway %s/%s\n", gw.Namespace, gw.Name)
	}
	fmt.Println("HTTPRoutes:", len(in.HTTPRoutes))
	for _, ref := range l.Skipped() {
		fmt.Println("skipped:", ref)
	}
	// Output:
	// gateway.yaml:13: document 1: HTTPRoute api: spec.rules[0].matchez: unknown field
	// invalid: true
	// Gateway default/web
	// HTTPRoutes: 0
	// skipped: rbac.authorization.k8s.io/v1 Role route-editor (gateway.yaml:25: document 2)
}

func ExampleLoad() {
	in, err := manifest.Load("testdata/guide")
	if err != nil {
		panic(err)
	}
	for _, r := range in.HTTPRoutes[:2] {
		fmt.Printf("%s/%s\n", r.Namespace, r.Name)
	}
	fmt.Println(string(in.Secrets[0].Data["tls.crt"])[:27])
	// Output:
	// production/example-route
	// production/canary-route
	// -----BEGIN CERTIFICATE-----
}
