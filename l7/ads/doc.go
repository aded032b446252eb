// Package ads serves the Envoy resources of the routing model over the Aggregated Discovery Service, state
// of the world and incremental (delta), with github.com/envoyproxy/go-control-plane's stream servers and a
// cache of its own.
//
// A Server takes each new IR through Update (it satisfies gatewayapi/controller's Sink), translates it with
// package l7/xds and sets a snapshot for every node that has connected. Which Gateways a node serves is
// Options.Gateways' answer for its node (all of them by default); a node's first request gives it its
// snapshot.
//
// # Updates
//
// The server keeps the translation per Gateway. An Update translates only the Gateways that changed, and
// those whose backends changed other than in their endpoints; a backend whose endpoints alone changed (an
// EndpointSlice change) gets a new endpoint assignment in the Gateways that use it, without translating
// routes. An IR is a value that is never modified once handed over (gatewayapi.IR), so an object of a new IR
// that is the very object of the last IR is taken as unchanged without a look. The Gateway controller keeps
// the objects of what did not change from one IR to the next, down to the routes of a changed Gateway, and
// the server translates with an xds.Translator, which reuses the translation of every route and backend
// object it met before and keeps the virtual host object whose routes did not change; the server keeps the
// serialization of each virtual host. A change of one route translates one route and serializes one virtual
// host; the route configuration that holds it is assembled from the kept serializations (Update takes about
// 15 ms for a Gateway of 6000 routes).
// Backends that are new objects are compared by value. An IR that is the last one again (the same pointer) is
// translated afresh, for callers that modify an IR and hand it over again; what is pushed is still only what
// changed.
//
// Each resource is serialized once, and its hash versions it; a type's version is a digest of its resources'
// hashes, so a type whose resources did not change keeps its version. Nodes that serve the same Gateways share
// one snapshot (a view), built once per Update, and a snapshot records how it differs from the one before, so
// working out what to send a node costs what changed, not what the node has. A snapshot that is not
// consistent (a listener naming a route configuration that failed validation, say; ErrInconsistent) is not
// pushed: the node keeps the last one.
//
// # Pushes
//
// The cache tracks, for each stream and type, what the client runs: what it last accepted (acknowledged),
// and what it subscribed to since. A response carries what the client lacks: the resources that changed,
// the ones it subscribed to anew, and, in incremental responses, the names removed. State of the world
// responses of listeners and clusters carry every resource the client subscribes to, as the protocol
// requires; those of route configurations, endpoint assignments and secrets only what changed, which
// clients keep with what they have. A subscription that changes nothing the client has gets no response,
// and the client counts as running the new version. go-control-plane's state of the world server drops a
// response it has not sent yet when a newer request of the type comes; what the dropped response carried
// is sent again.
//
// Changes are made before they break anything. For Envoy, clusters a new route configuration needs come
// first: the node gets a snapshot with the new clusters and endpoints and its current listeners and routes,
// and the new routes only once it has accepted those (so a route never names a cluster Envoy lacks). For
// every node, a cluster the new routes no longer use stays, with its endpoints, until the node has accepted
// the listeners and routes without it (so requests still routed to it do not fail); for a node that asks for
// clusters by name (a gRPC client), until it also stops asking for it, as it keeps a cluster for the RPCs
// already routed to it.
//
// Proxyless gRPC clients (Options.Proxyless; by default nodes whose user agent starts with "gRPC") get the
// gRPC projection of package l7/xds instead of the Envoy resources, whatever Options.Gateways says; it is
// translated only while such a node is connected. The tests drive grpc-go's own xDS resolver against the
// server: weighted splits, header and path prefix routing, an update while RPCs flow, a NACK. grpc-go
// (v1.84) installs a new route table before its balancer has a child for a cluster the table names for the
// first time and fails a fail-fast RPC picked in between with Unavailable "unknown cluster selected"; that
// window is in the client and no server can close it.
//
// # Rejections
//
// A node that rejects a push (a NACK) keeps its last accepted configuration, and so does the server: the
// rejected resources are not sent again, and the node's snapshot of that type goes back to what it runs, so
// that a node that connects again gets its last accepted configuration, until the next Update. The NACK is
// recorded (NACKs) with the node, the type, the resources of the rejected push the node did not run already,
// the version it runs and its error detail, and counted, until the node accepts a later version of that type
// or an Update brings back the version it runs. Only the first request of an incremental stream need name the
// node, as Envoy's do.
//
// A NACK counts for the Gateways its rejected resources belong to (NACK.Gateways): a listener's or route
// configuration's own Gateway, every Gateway that uses a cluster's backend, for a gRPC client the Gateway that
// serves the host; every Gateway the node serves when the resources belong to none. Rejections lists them by
// Gateway, and RejectionsChanged tells when they change: with them the Server is gatewayapi/controller's
// Feedback, which turns the Gateways' Programmed condition False while a node rejects their configuration.
//
// # Serving
//
// Start serves gRPC (with TLS, and mutual TLS, when Options.TLS says so) until its context ends, and waits for
// the streams' handlers. Metrics, registered with Options.Registerer: eniway_xds_pushes_total and
// eniway_xds_nacks_total by resource type, eniway_xds_push_latency_seconds (from the Update that changed a
// type for a node to the response carrying it), eniway_xds_translations_total (full: Gateways translated, or
// endpoints only), eniway_xds_streams, eniway_xds_nodes and eniway_xds_inconsistent_snapshots_total.
//
// # Memory
//
// Each resource is kept serialized; only listeners and clusters, whose references are checked, are also kept
// decoded. The names in requests are interned: every node asks for the same names (an Envoy's endpoint request
// names every cluster) and each stream's subscription keeps them.
//
// BenchmarkPushLatency measures how long a change takes to reach 100 clients with 10k HTTPRoutes loaded;
// go run ./l7/ads/internal/cpmem measures the resident memory of a server with 1000 HTTPRoutes and 100
// clients (which run in a process of their own).
package ads
