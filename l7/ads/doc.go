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
// Changes are made before they break anything. For Envoy, clusters a new route configuration needs come first:
// the node gets a snapshot with the new clusters and endpoints and its current listeners and routes, and the
// new routes only once it has acknowledged those (so a route never names a cluster Envoy lacks). For every
// node, a cluster the new routes no longer use stays, with its endpoints, until the node has acknowledged the
// listeners and routes without it (so requests still routed to it do not fail). The cache runs outside
// go-control-plane's ADS mode, which would answer a request naming some of a type's resources only once it
// names all, while a gRPC client asks just for what the target it dials needs.
//
// Proxyless gRPC clients (Options.Proxyless; by default nodes whose user agent starts with "gRPC") get the
// gRPC projection of package l7/xds instead of the Envoy resources, whatever Options.Gateways says. The tests
// drive grpc-go's own xDS resolver against the server: weighted splits, header and path prefix routing, an
// update while RPCs flow, a NACK. grpc-go (v1.84) installs a new route table before its balancer has a child
// for a cluster the table names for the first time and fails a fail-fast RPC picked in between with
// Unavailable "unknown cluster selected"; that window is in the client and no server can close it.
//
// A node that rejects a push (a NACK) keeps its last accepted configuration, and so does the server: it puts
// the node's last accepted resources of that type back in the node's snapshot, so the rejected ones are not
// sent again and again, until the next Update. The NACK, with the node's error detail, stays recorded
// (NACKs) until the node runs a later version of that type, and is counted.
//
// Start serves gRPC (with TLS, and mutual TLS, when Options.TLS says so) until its context ends. Metrics,
// registered with Options.Registerer: eniway_xds_pushes_total and eniway_xds_nacks_total by resource type,
// eniway_xds_push_latency_seconds (from the Update that changed a type for a node to the response carrying
// it), eniway_xds_translations_total (full or endpoints only), eniway_xds_streams, eniway_xds_nodes and
// eniway_xds_inconsistent_snapshots_total.
package ads
