// Package proxy is the embedded data plane of package l7: a Go HTTP
// gateway that executes the Envoy v3 resources of package l7/xds, fed by
// Load or by its own ADS client of an ADS server such as package l7/ads.
// It is what the quickstart serves traffic with, and where no Envoy is
// installed it stands in for one.
//
// # Model
//
// A Proxy holds one configuration: the Listeners, RouteConfigurations,
// Clusters, ClusterLoadAssignments and Secrets in force. Each update (an
// ADS response of one type, or a Load of all of them) is compiled whole
// before anything changes: if any resource fails, the update is rejected
// (NACKed over ADS, an error from Load) with a *ConfigError per resource
// naming its field, and the configuration in force stays. Requests read
// the configuration through one atomic pointer, so an update is never
// half seen. A changed Listener keeps its socket (its filter chains are
// swapped); a removed one stops accepting and drains for
// Options.DrainTimeout. A changed route configuration applies to the next
// request, on open connections too; a Cluster whose resource did not
// change keeps its connection pool.
//
// The ADS client speaks state of the world over one aggregated stream: a
// wildcard subscription to Listeners and Clusters, and subscriptions by
// name to the route configurations and secrets the listeners name and the
// endpoint assignments the clusters name. It reconnects with jittered
// back-off (100 ms to 5 s) and keeps serving what it has meanwhile.
//
// # What it implements
//
// Exactly the fields below are executed. A resource that sets any other
// field of these messages, or names another extension, is rejected with
// ErrUnsupported (ImplementedFields returns the table):
//
//   - Listener: name, address (a socket address), filter_chains,
//     listener_filters (envoy.filters.listener.tls_inspector only),
//     stat_prefix. Filter chains match on server_names (exact, then the
//     longest "*." wildcard, then chains without names) and
//     transport_protocol ("tls" or "raw_buffer"), and hold exactly one
//     network filter: the HTTP connection manager, or the TCP proxy
//     (cluster or weighted_clusters) for TLS passthrough.
//   - TLS (envoy.transport_sockets.tls, DownstreamTlsContext):
//     certificates inline or over SDS (tls_certificate_sds_secret_configs),
//     alpn_protocols (h2 and http/1.1 by default); the certificate is chosen
//     per handshake by SNI among those of the chain. TLS 1.2 and up.
//   - HttpConnectionManager: codec_type AUTO (HTTP/1.1, h2c with prior
//     knowledge, and HTTP/2 over TLS), rds, use_remote_address (append the
//     client to X-Forwarded-For), normalize_path (RFC 3986 dot segments),
//     upgrade_configs (other upgrades are not forwarded), access_log
//     (envoy.access_loggers.stdout with a json_format whose values are one
//     command operator each, among %START_TIME%, %REQ(:METHOD)%,
//     %REQ(:PATH)%, %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%, %REQ(:AUTHORITY)%,
//     %REQ(X-REQUEST-ID)%, %PROTOCOL%, %RESPONSE_CODE%, %RESPONSE_FLAGS%,
//     %BYTES_RECEIVED%, %BYTES_SENT%, %DURATION%, %UPSTREAM_HOST%,
//     %UPSTREAM_CLUSTER%, %ROUTE_NAME%, %DOWNSTREAM_REMOTE_ADDRESS% and
//     %DOWNSTREAM_LOCAL_ADDRESS%), http_filters: envoy.filters.http.cors,
//     envoy.filters.http.local_ratelimit, then envoy.filters.http.router
//     last.
//   - RouteConfiguration: virtual hosts chosen as Envoy does (exact domain,
//     longest suffix wildcard, longest prefix wildcard, "*"), always ignoring
//     the port; routes in order, the first match wins.
//   - Route match: prefix, path, path_separated_prefix, safe_regex (the
//     whole path must match, as in Envoy), case_sensitive, headers
//     (string_match of any kind, present_match, invert_match; ":method",
//     ":authority", ":path" and ":scheme" included), query_parameters
//     (string_match on the first value, present_match). Regexes are Go's
//     RE2, which rejects the few RE2 constructs Go lacks (such as \C).
//   - Route actions: route (cluster or weighted_clusters with per-cluster
//     header mutations; cluster_not_found_response_code; prefix_rewrite,
//     regex_rewrite, host_rewrite_literal; timeout, 15 s by default and 0
//     for none; retry_policy with retry_on connect-failure, reset, 5xx,
//     gateway-error, retriable-status-codes and refused-stream (an HTTP/2
//     REFUSED_STREAM, which net/http's transport itself retries),
//     num_retries, per_try_timeout and retry_back_off;
//     request_mirror_policies with runtime_fraction), redirect (scheme,
//     host, port, path, prefix and regex rewrites, response code,
//     strip_query) and direct_response. Request and response header
//     mutations with every append action; per-route configuration of the
//     CORS and local rate limit filters.
//   - Cluster: EDS or STATIC, ROUND_ROBIN, connect_timeout, and
//     HttpProtocolOptions choosing HTTP/2 (h2c) to the upstream.
//     ClusterLoadAssignment: endpoints of every locality whose weight is not
//     0, skipping unhealthy and draining ones, repeated by their
//     load_balancing_weight.
//   - Secret: tls_certificate with inline certificate chain and key.
//
// Answers follow Envoy: no route 404 (flag NR); a missing cluster the
// route's cluster_not_found_response_code (NC); a cluster without
// endpoints 503 (UH); a failed connection 503 (UF, or UC when it broke
// after connecting); a timeout 504 (UT); a rate-limited request the
// filter's status, 429 by default (RL). Mirrored requests carry the host
// with "-shadow" appended and their answers are dropped. Every request
// gets X-Forwarded-Proto and an X-Request-Id (kept when the client sent
// one).
//
// Not implemented, among what Envoy does: health checking and outlier
// detection, load balancers other than round robin, HTTP/3, client
// certificate validation, upstream TLS, and statistics (the access log
// events are the observability interface: Options.AccessLog).
//
// # Upstream connections
//
// Requests without a body to HTTP/1.1 clusters, the common case, are
// written and answered on the request's own goroutine over a per-cluster
// pool of keep-alive connections (a connection the backend closed while
// idle is found with a non-blocking peek before reuse). Requests with a
// body, HTTP/2 clusters and upgrades go through net/http's Transport and,
// for upgrades, httputil.ReverseProxy. Request bodies up to 1 MiB are
// buffered when a retry or a mirror needs them again.
//
// # Access logs
//
// Options.AccessLog gets one AccessLogEntry per HTTP request, whatever the
// resources say, for package observe: listener, route, cluster, upstream
// and the client's own address and port (which the datapath's transparent
// redirect keeps, so a flow joins its L4 record).
package proxy
