// Package xds translates the routing model of package gatewayapi (the IR) into Envoy v3 resources, with the
// types of github.com/envoyproxy/go-control-plane. Translate is pure and deterministic: no I/O, no
// goroutines, every list sorted by name, every Any packed with deterministic marshaling. A Translator gives
// the same results, and remembers the Envoy route of each IR route object and the cluster and endpoint
// assignment of each backend object, so that translating a Gateway again after one of its routes changed
// costs about one route (BenchmarkTranslatorRouteChange: 4.6 ms for a Gateway of 6000 routes, against
// about 40 ms from scratch). Each route is validated on its own, and the route configuration and its
// virtual hosts without their routes, which together check what validating the whole would.
//
// # What each Gateway becomes
//
//   - One Listener per port, named <namespace>/<gateway>/<port>, bound to Options.ListenAddress.
//   - An HTTP port has one filter chain whose HTTP connection manager (HCM) reads its routes over RDS from
//     the RouteConfiguration <namespace>/<gateway>/port/<port>, holding the virtual hosts of every listener
//     of the port (the IR has already applied listener isolation, so merging them cannot leak a host to the
//     wrong listener). The issue asks for one RouteConfiguration per Gateway listener; an HCM reads exactly
//     one, so the HTTP listeners of a port share theirs.
//   - An HTTPS port has a TLS inspector and one filter chain per HTTPS listener, selected by SNI
//     (server_names is the listener hostname, none for a listener without one), terminating TLS with a
//     DownstreamTlsContext (ALPN h2 and http/1.1) whose certificates come over SDS as Secret resources named
//     <namespace>/<secret>, and an HCM with RouteConfiguration <namespace>/<gateway>/listener/<listener>.
//     Each TLS passthrough route is a tcp_proxy chain selected by its SNI.
//   - HCMs use RDS, so a route change never rebuilds or drains a listener; ignore_port_in_host_matching,
//     normalize_path, the client address as seen by the proxy (use_remote_address), websocket upgrades, and
//     optionally a JSON access log on stdout.
//   - One VirtualHost per intersected hostname, routes in the IR's (Gateway API precedence) order, each named
//     <kind>/<namespace>/<name>/rule/<i>/match/<j> for stats and access logs. PathPrefix is
//     path_separated_prefix (whole segments, the Gateway API semantics), "/" a plain prefix.
//   - One EDS Cluster per backend Service port, named like the IR backend (namespace/service:port), round
//     robin, h2c backends with explicit HTTP/2, and its ClusterLoadAssignment with the ready endpoints grouped
//     by zone.
//
// # Response rules
//
// A weighted share of an invalid backend points at the cluster InvalidCluster, which does not exist, and
// cluster_not_found_response_code answers it 500; a rule whose backends are all invalid is a direct 500; a
// cluster without endpoints makes Envoy answer 503; no matching route, 404.
//
// # Filters
//
// Request and response header modifiers (set overwrites, add appends, remove), also per weighted backend;
// redirects (scheme, host, port, full path or prefix, 301/302/303/307/308; when only the scheme changes the
// port becomes that scheme's well-known one, as the Gateway API asks); host and path rewrites, where
// ReplacePrefixMatch is a prefix_rewrite over the segment-wise prefix match, or a regex_rewrite ^P/* to /
// when the replacement is / (so /P/rest becomes /rest and /P becomes /, never //); mirrors with their share
// as a runtime fraction per million; request timeouts (route timeout; 0 disables Envoy's 15 s default),
// backend timeouts (per-try timeout) and retries (retriable status codes, connect failures, resets, backoff);
// CORS (the cors HTTP filter with a per-route policy; * in an origin matches any characters); local rate
// limiting (the local_ratelimit HTTP filter: a listener's limit is the filter's shared bucket, a route's
// limit a per-route override).
//
// # Validation
//
// Every message is validated with its generated rules before it is packed into an Any (a resource's own
// ValidateAll does not look inside an Any), and every resource as a whole. A resource that fails is left
// out and reported as a *ResourceError naming the Gateway and the object it came from, so it is never
// pushed.
package xds
