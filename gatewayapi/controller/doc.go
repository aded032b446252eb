// Package controller runs the gatewayapi translator against a live cluster: a controller-runtime
// reconciler that users add to their own manager.
//
// It watches every object that can change a Gateway's routing or status (GatewayClasses, Gateways,
// HTTPRoutes, GRPCRoutes, TLSRoutes, ReferenceGrants, Namespaces, Services, EndpointSlices, Secrets,
// ConfigMaps, and LocalRateLimitPolicies when their CRD is installed) and funnels all events into one
// work item, so bursts of changes collapse into one translation. Each reconcile reads everything from the
// manager's cache, runs gatewayapi.Translate, then:
//
//   - creates or updates the Service generated for each accepted Gateway (owned by the Gateway, so
//     Kubernetes garbage-collects it with the Gateway);
//   - writes the status of every GatewayClass, Gateway, route and policy of this controller, merging
//     with what is there: conditions keep their lastTransitionTime while their status does not change,
//     route parent entries and policy ancestors of other controllers are kept, entries of this controller
//     that no longer apply are removed, an unchanged status is never written, and a write that loses a
//     race (409 Conflict) is retried on a fresh copy;
//   - hands the IR to the Sink when it differs from the last IR handed over (for example the l7 xDS
//     server). Gateways and Backends that serialize as in the last IR are handed over as the last IR's
//     objects (and the Backends slice too when none changed), and so are the routes of a changed Gateway
//     that serialize as before, so that a Sink can tell what changed by pointer; IRs are never modified
//     once handed over. l7/ads uses it to translate only the Gateways that changed, and in them only the
//     routes that changed.
//
// With Options.Feedback (l7/ads's Server implements it, from its nodes' NACKs), a Gateway whose configuration
// the data plane rejected gets its Programmed condition False, reason Invalid, with a message naming each node,
// the resources it rejected and its error detail (after the translation's own message when the condition was
// False already); once no node rejects it any more, the condition is what the translation says again. A change
// of the rejections triggers a reconcile (a controller-runtime source that waits on
// Feedback.RejectionsChanged), which then only writes status. Listener conditions are left alone: a
// rejection is attributed to Gateways, not listeners.
//
// A failing Sink or API call makes the reconcile return an error, and controller-runtime retries it with
// backoff. Reconciles never run concurrently (one work item).
//
// The RBAC the reconciler needs, and nothing more, is generated from the kubebuilder markers in
// reconciler.go into gatewayapi/config/rbac/role.yaml (go generate reproduces it); the tests run the
// reconciler as a user bound to exactly that ClusterRole.
package controller

//go:generate go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0 rbac:roleName=eniway-gateway-controller paths=. output:rbac:dir=../config/rbac
