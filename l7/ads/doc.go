// Package ads serves the Envoy resources of the routing model over the Aggregated Discovery Service, state
// of the world and incremental (delta), with github.com/envoyproxy/go-control-plane's server and snapshot
// cache.
//
// A Server takes each new IR through Update (it satisfies gatewayapi/controller's Sink), translates it with
// package l7/xds and sets a snapshot for every node that has connected. Which Gateways a node serves is
// Options.Gateways' answer for its node (all of them by default); a node's first request gives it its
// snapshot. Each resource type's version is a hash of that type's resources in deterministic serialization,
// so a type whose resources did not change keeps its version and is not pushed again, and the incremental
// protocol sends only the resources whose own hash changed. When an Update changes nothing but endpoints (an
// EndpointSlice change), the server rebuilds the endpoint assignments alone, without translating routes,
// and only EDS is pushed. A snapshot that is not consistent (a listener naming a route configuration that
// failed validation, say) is not pushed: the node keeps the last one.
//
// A node that rejects a push (a NACK) keeps its last accepted configuration; the server records the NACK
// with the node's error detail (NACKs) until the node accepts a later version of that type, and counts it.
//
// Start serves gRPC (with TLS, and mutual TLS, when Options.TLS says so) until its context ends. Metrics,
// registered with Options.Registerer: eniway_xds_pushes_total and eniway_xds_nacks_total by resource type,
// eniway_xds_push_latency_seconds (from the Update that changed a type for a node to the response carrying
// it), eniway_xds_translations_total (full or endpoints only), eniway_xds_streams, eniway_xds_nodes and
// eniway_xds_inconsistent_snapshots_total.
package ads
