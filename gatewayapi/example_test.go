package gatewayapi_test

import (
	"fmt"
	"strings"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/manifest"
)

// The guide's canary route: 90% of /api/v2 to stable, 10% to canary.
const canary = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eniway}
spec: {controllerName: eniway.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: eniway
  listeners:
  - {name: http, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: canary-route, namespace: production}
spec:
  parentRefs: [{name: gw, namespace: default}]
  hostnames: [api.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api/v2}}]
    backendRefs:
    - {name: api-v2-stable, port: 8080, weight: 90}
    - {name: api-v2-canary, port: 8080, weight: 10}
---
apiVersion: v1
kind: Service
metadata: {name: api-v2-stable, namespace: production}
spec: {ports: [{name: http, port: 8080}]}
`

func Example() {
	in, err := manifest.Decode(strings.NewReader(canary), "canary.yaml")
	if err != nil {
		panic(err)
	}
	res, err := gatewayapi.Translate(in, gatewayapi.Options{})
	// err reports the missing canary Service; the route is still served.
	fmt.Println("error:", err)
	for _, vh := range res.IR.Gateways[0].Ports[0].Listeners[0].VirtualHosts {
		for _, r := range vh.Routes {
			fmt.Println(vh.Hostname, r.Path.Type, r.Path.Value)
			for _, b := range r.Action.Backends {
				fmt.Printf("  weight %d backend %q invalid %q\n", b.Weight, b.Backend, b.Invalid)
			}
		}
	}
	for _, c := range res.Status.HTTPRoutes[0].Parents[0].Conditions {
		fmt.Println(c.Type, c.Status, c.Reason)
	}
	// Output:
	// error: HTTPRoute production/canary-route: spec.rules[0].backendRefs[1]: backendRef production/api-v2-canary: Service not found (BackendNotFound)
	// api.example.com PathPrefix /api/v2
	//   weight 90 backend "production/api-v2-stable:8080" invalid ""
	//   weight 10 backend "" invalid "BackendNotFound"
	// Accepted True Accepted
	// ResolvedRefs False BackendNotFound
}
