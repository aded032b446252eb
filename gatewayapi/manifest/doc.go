// Package manifest reads Kubernetes manifests (YAML or JSON files such as the deployment guide's, or
// kubectl get -o yaml dumps) into a *gatewayapi.Input, so the gateway can run from files without a cluster.
//
// # Reading
//
// Load takes files and directories (walked recursively for *.yaml, *.yml and *.json, in lexical order within
// each directory as kubectl apply -R reads them, so the result is deterministic); Decode takes one stream. A Loader does the same with Options and merges any
// number of calls into one Input; it also reports which objects it skipped (Skipped) and where every object
// came from (Objects). Objects keep their order of appearance.
//
// A stream that starts with '{' and holds JSON is a stream of JSON values; anything else is split into YAML
// documents by apimachinery's YAMLReader (on "---" lines). Empty and comment-only documents are skipped. A
// List (kind: List as kubectl get prints it, or a typed list such as HTTPRouteList, whose items may then
// omit apiVersion and kind) is expanded into its items.
//
// # Kinds
//
// Objects of the kinds the translator consumes are decoded into their Go types: GatewayClass, Gateway,
// HTTPRoute, GRPCRoute, TLSRoute and ReferenceGrant of gateway.networking.k8s.io, Namespace, Service, Secret
// and ConfigMap of core/v1, and EndpointSlice of discovery.k8s.io/v1. Every version that sigs.k8s.io/gateway-api
// v1.6.3 has Go types for is accepted, including v1beta1 (the guide's ReferenceGrant), v1alpha2 and v1alpha3,
// which newer CRDs no longer serve but older dumps contain; they are converted to the v1 types of
// gatewayapi.Input, and apiVersion is set to the v1 one. Objects of other kinds (RBAC roles and bindings,
// Deployments, CustomResourceDefinitions, TCPRoutes, ListenerSets, ...) are not decoded but listed by
// (*Loader).Skipped, with their locations, so a user can see what was ignored.
//
// # Strictness
//
// Decoding is strict, as kubectl apply --validate=strict is: an unknown field (ErrUnknownField, with the path
// the strict decoder reports, such as spec.rules[0].matchez), a duplicate key (ErrDuplicateField), a value of
// the wrong type or a document that is not an object (ErrMalformed), a missing apiVersion, kind or
// metadata.name (ErrMissingField), and an apiVersion naming core, discovery.k8s.io or
// gateway.networking.k8s.io with a version not served or a kind the group does not have (ErrUnknownKind) are
// errors. So is an object whose group, kind, namespace and name were already read, in any file
// (ErrDuplicateObject; the first is kept and the error names both locations).
//
// Each problem is a *DecodeError naming the file, the 0-based document index, the line, the position in a
// List, the object when known and the field; all wrap gatewayapi.ErrInvalid. They come back joined with
// errors.Join alongside every object that decoded: one bad object never drops the rest. The object in error
// is left out of the Input (a route missing a misspelt match would match more than its author meant), as is
// a whole document with a duplicate key.
//
// # Defaults
//
// Only the defaults kubectl apply and the API server give every object are applied: a namespaced object
// without metadata.namespace gets Options.DefaultNamespace ("default"); a cluster-scoped one (GatewayClass,
// Namespace) has its namespace cleared; a Secret's stringData is merged into data, winning over the same
// keys, and cleared. Gateway API field defaults are left to the translator; other field defaults of the API
// server (a Secret's type Opaque, a Service port's protocol TCP, ...) are not applied either, and nothing is
// validated beyond decoding.
//
// Loading is I/O only: no logging, no goroutines, no network. Decoded objects are never modified after they
// are added to the Input, and an Input returned has its own slices.
package manifest
