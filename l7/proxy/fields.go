package proxy

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// implemented lists, by message, the fields the data plane executes. A
// resource that sets any other field of these messages is rejected with
// ErrUnsupported, so a configuration is never half executed; messages not
// listed (durations, wrappers, enums' containers) are taken whole. The
// package documentation renders this table.
var implemented = map[protoreflect.FullName][]string{
	// Listeners.
	"envoy.config.listener.v3.Listener":                               {"name", "address", "filter_chains", "listener_filters", "stat_prefix"},
	"envoy.config.core.v3.Address":                                    {"socket_address"},
	"envoy.config.core.v3.SocketAddress":                              {"address", "port_value", "protocol"},
	"envoy.config.listener.v3.FilterChain":                            {"name", "filter_chain_match", "filters", "transport_socket"},
	"envoy.config.listener.v3.FilterChainMatch":                       {"server_names", "transport_protocol"},
	"envoy.config.listener.v3.Filter":                                 {"name", "typed_config"},
	"envoy.config.listener.v3.ListenerFilter":                         {"name", "typed_config"},
	"envoy.config.core.v3.TransportSocket":                            {"name", "typed_config"},
	"envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector": {},
	// TLS.
	"envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext": {"common_tls_context"},
	"envoy.extensions.transport_sockets.tls.v3.CommonTlsContext":     {"tls_certificates", "tls_certificate_sds_secret_configs", "alpn_protocols"},
	"envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig":      {"name", "sds_config"},
	"envoy.extensions.transport_sockets.tls.v3.TlsCertificate":       {"certificate_chain", "private_key"},
	"envoy.extensions.transport_sockets.tls.v3.Secret":               {"name", "tls_certificate"},
	"envoy.config.core.v3.DataSource":                                {"inline_bytes", "inline_string"},
	"envoy.config.core.v3.ConfigSource":                              {"ads", "resource_api_version", "initial_fetch_timeout"},
	// HTTP connection manager and its filters.
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager": {
		"stat_prefix", "codec_type", "rds", "http_filters", "use_remote_address", "normalize_path", "upgrade_configs", "access_log"},
	"envoy.extensions.filters.network.http_connection_manager.v3.Rds":                                 {"route_config_name", "config_source"},
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter":                          {"name", "typed_config"},
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.UpgradeConfig": {"upgrade_type"},
	"envoy.config.accesslog.v3.AccessLog":                                                             {"name", "typed_config"},
	"envoy.extensions.access_loggers.stream.v3.StdoutAccessLog":                                       {"log_format"},
	"envoy.config.core.v3.SubstitutionFormatString":                                                   {"json_format"},
	"envoy.extensions.filters.http.router.v3.Router":                                                  {},
	"envoy.extensions.filters.http.cors.v3.Cors":                                                      {},
	"envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit": {
		"stat_prefix", "status", "token_bucket", "filter_enabled", "filter_enforced"},
	"envoy.type.v3.TokenBucket":                                                            {"max_tokens", "tokens_per_fill", "fill_interval"},
	"envoy.config.core.v3.RuntimeFractionalPercent":                                        {"default_value"},
	"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy":                               {"stat_prefix", "cluster", "weighted_clusters"},
	"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster":               {"clusters"},
	"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight": {"name", "weight"},
	// Routes.
	"envoy.config.route.v3.RouteConfiguration": {"name", "virtual_hosts", "ignore_port_in_host_matching"},
	"envoy.config.route.v3.VirtualHost":        {"name", "domains", "routes"},
	"envoy.config.route.v3.Route": {"name", "match", "route", "redirect", "direct_response", "request_headers_to_add",
		"request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove", "typed_per_filter_config"},
	"envoy.config.route.v3.RouteMatch":              {"prefix", "path", "safe_regex", "path_separated_prefix", "headers", "query_parameters", "case_sensitive"},
	"envoy.config.route.v3.HeaderMatcher":           {"name", "string_match", "present_match", "invert_match"},
	"envoy.config.route.v3.QueryParameterMatcher":   {"name", "string_match", "present_match"},
	"envoy.type.matcher.v3.StringMatcher":           {"exact", "prefix", "suffix", "contains", "safe_regex", "ignore_case"},
	"envoy.type.matcher.v3.RegexMatcher":            {"regex", "google_re2"},
	"envoy.type.matcher.v3.RegexMatchAndSubstitute": {"pattern", "substitution"},
	"envoy.config.route.v3.RouteAction": {"cluster", "weighted_clusters", "cluster_not_found_response_code", "prefix_rewrite",
		"regex_rewrite", "host_rewrite_literal", "timeout", "retry_policy", "request_mirror_policies"},
	"envoy.config.route.v3.WeightedCluster": {"clusters"},
	"envoy.config.route.v3.WeightedCluster.ClusterWeight": {"name", "weight", "request_headers_to_add",
		"request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove"},
	"envoy.config.route.v3.RetryPolicy":                     {"retry_on", "num_retries", "per_try_timeout", "retriable_status_codes", "retry_back_off"},
	"envoy.config.route.v3.RetryPolicy.RetryBackOff":        {"base_interval", "max_interval"},
	"envoy.config.route.v3.RouteAction.RequestMirrorPolicy": {"cluster", "runtime_fraction"},
	"envoy.config.route.v3.RedirectAction": {"scheme_redirect", "https_redirect", "host_redirect", "port_redirect",
		"path_redirect", "prefix_rewrite", "regex_rewrite", "response_code", "strip_query"},
	"envoy.config.route.v3.DirectResponseAction": {"status", "body"},
	"envoy.config.core.v3.HeaderValueOption":     {"header", "append_action"},
	"envoy.config.core.v3.HeaderValue":           {"key", "value"},
	"envoy.extensions.filters.http.cors.v3.CorsPolicy": {"allow_origin_string_match", "allow_methods", "allow_headers", "expose_headers",
		"max_age", "allow_credentials"},
	// Clusters and endpoints.
	"envoy.config.cluster.v3.Cluster": {"name", "type", "eds_cluster_config", "connect_timeout", "lb_policy",
		"typed_extension_protocol_options", "load_assignment"},
	"envoy.config.cluster.v3.Cluster.EdsClusterConfig":                          {"eds_config", "service_name"},
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions":                    {"explicit_http_config"},
	"envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig": {"http_protocol_options", "http2_protocol_options"},
	"envoy.config.core.v3.Http1ProtocolOptions":                                 {},
	"envoy.config.core.v3.Http2ProtocolOptions":                                 {},
	"envoy.config.endpoint.v3.ClusterLoadAssignment":                            {"cluster_name", "endpoints"},
	"envoy.config.endpoint.v3.LocalityLbEndpoints":                              {"locality", "lb_endpoints", "load_balancing_weight"},
	"envoy.config.endpoint.v3.LbEndpoint":                                       {"endpoint", "health_status", "load_balancing_weight"},
	"envoy.config.endpoint.v3.Endpoint":                                         {"address"},
}

// checkFields rejects a message that sets a field the data plane does not
// implement. It does not look inside an Any: the compiler unpacks those and
// checks them with the path of the field that held them.
func checkFields(m proto.Message, path string) error {
	return checkMessage(m.ProtoReflect(), path)
}

func checkMessage(m protoreflect.Message, path string) error {
	allowed, listed := implemented[m.Descriptor().FullName()]
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(fd.Name())
		at := join(path, name)
		if listed && !slices.Contains(allowed, name) {
			err = unsupported(at, "field %s of %s", name, m.Descriptor().FullName())
			return false
		}
		if fd.Message() == nil || fd.Message().FullName() == "google.protobuf.Any" {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if err = checkMessage(l.Get(i).Message(), fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return false
				}
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil && fd.MapValue().Message().FullName() != "google.protobuf.Any" {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					err = checkMessage(mv.Message(), fmt.Sprintf("%s[%s]", at, k.String()))
					return err == nil
				})
			}
		default:
			err = checkMessage(v.Message(), at)
		}
		return err == nil
	})
	return err
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// ImplementedFields returns, for documentation and tooling, the fields the
// data plane executes by fully qualified message name, sorted.
func ImplementedFields() map[string][]string {
	out := make(map[string][]string, len(implemented))
	for k, v := range implemented {
		s := slices.Clone(v)
		slices.Sort(s)
		out[string(k)] = s
	}
	return out
}
