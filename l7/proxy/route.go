package proxy

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	localratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/eniway/eniway/l7/xds"
)

// routeConfig is a compiled RouteConfiguration: virtual hosts indexed the
// way Envoy selects them.
type routeConfig struct {
	name   string
	exact  map[string]*virtualHost
	suffix []wildcardHost // "*.example.com", longest suffix first
	prefix []wildcardHost // "example.*", longest prefix first
	any    *virtualHost   // "*"
}

type wildcardHost struct {
	part string
	vh   *virtualHost
}

type virtualHost struct {
	name   string
	routes []*route
}

// route is a compiled Route: a match and one action.
type route struct {
	name  string
	match routeMatch
	// Exactly one of direct, redirect and forward is set.
	direct   *directResponse
	redirect *redirectAction
	forward  *forwardAction
	// Header mutations of the route, applied after the cluster's.
	reqHeaders, respHeaders headerMutation
	// Per-route filter configuration.
	cors  *corsPolicy
	limit *limiter
}

type directResponse struct {
	status int
	body   string
}

type routeMatch struct {
	kind    pathKind
	path    string // prefix, exact path or separated prefix
	re      *regexp.Regexp
	fold    bool // case_sensitive false
	headers []headerMatch
	query   []queryMatch
}

type pathKind uint8

const (
	pathPrefix pathKind = iota
	pathExact
	pathSeparated
	pathRegex
)

type headerMatch struct {
	name    string // lower case; ":method", ":authority", ":path" and ":scheme" are pseudo-headers
	str     *stringMatch
	present *bool
	invert  bool
}

type queryMatch struct {
	name    string
	str     *stringMatch
	present bool
}

type stringMatch struct {
	kind  uint8 // 0 exact, 1 prefix, 2 suffix, 3 contains, 4 regex
	value string
	re    *regexp.Regexp
	fold  bool
}

type forwardAction struct {
	cluster  string // single cluster, or
	weighted []weightedCluster
	total    uint64
	notFound int // status when the cluster does not exist
	// Path and host rewrites; at most one of prefixRewrite and rewrite.
	prefixRewrite string
	rewrite       *regexRewrite
	host          string
	timeout       time.Duration // 0: none
	retry         *retryPolicy
	mirrors       []mirrorPolicy
}

type weightedCluster struct {
	name                    string
	weight                  uint64
	reqHeaders, respHeaders headerMutation
}

type regexRewrite struct {
	re   *regexp.Regexp
	repl string // in regexp.Expand syntax
}

type retryPolicy struct {
	attempts                       int // retries, not counting the first try
	connectFailure, reset, refused bool
	gatewayError, any5xx           bool
	codes                          []int
	perTry                         time.Duration
	base, max                      time.Duration
}

type mirrorPolicy struct {
	cluster string
	// fraction of a million requests mirrored.
	millionths uint32
}

type redirectAction struct {
	scheme, host string
	port         uint32
	path         string
	prefix       *string
	rewrite      *regexRewrite
	code         int
	stripQuery   bool
}

type headerMutation struct {
	ops    []headerOp
	remove []string
}

type headerOp struct {
	key, value string
	action     corev3.HeaderValueOption_HeaderAppendAction
}

// apply performs the mutation on hdr.
func (h *headerMutation) apply(hdr http.Header) {
	for _, name := range h.remove {
		hdr.Del(name)
	}
	for _, op := range h.ops {
		switch op.action {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			hdr.Add(op.key, op.value)
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			if _, ok := hdr[http.CanonicalHeaderKey(op.key)]; !ok {
				hdr.Set(op.key, op.value)
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			hdr.Set(op.key, op.value)
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			if _, ok := hdr[http.CanonicalHeaderKey(op.key)]; ok {
				hdr.Set(op.key, op.value)
			}
		}
	}
}

type corsPolicy struct {
	origins                  []*stringMatch
	methods, headers, expose string
	maxAge                   string
	credentials              bool
}

// compileRouteConfig compiles a RouteConfiguration.
func compileRouteConfig(rc *routev3.RouteConfiguration) (*routeConfig, error) {
	if err := checkFields(rc, ""); err != nil {
		return nil, err
	}
	out := &routeConfig{name: rc.GetName(), exact: map[string]*virtualHost{}}
	seen := map[string]bool{}
	for i, v := range rc.GetVirtualHosts() {
		at := fmt.Sprintf("virtual_hosts[%d]", i)
		vh := &virtualHost{name: v.GetName()}
		for j, r := range v.GetRoutes() {
			cr, err := compileRoute(r, fmt.Sprintf("%s.routes[%d]", at, j))
			if err != nil {
				return nil, err
			}
			vh.routes = append(vh.routes, cr)
		}
		for j, d := range v.GetDomains() {
			d = strings.ToLower(d)
			if seen[d] {
				return nil, invalid(fmt.Sprintf("%s.domains[%d]", at, j), fmt.Errorf("domain %q is in more than one virtual host", d))
			}
			seen[d] = true
			switch {
			case d == "*":
				out.any = vh
			case strings.HasPrefix(d, "*"):
				out.suffix = append(out.suffix, wildcardHost{part: d[1:], vh: vh})
			case strings.HasSuffix(d, "*"):
				out.prefix = append(out.prefix, wildcardHost{part: d[:len(d)-1], vh: vh})
			default:
				out.exact[d] = vh
			}
		}
	}
	longestFirst := func(a, b wildcardHost) int { return cmp.Compare(len(b.part), len(a.part)) }
	slices.SortStableFunc(out.suffix, longestFirst)
	slices.SortStableFunc(out.prefix, longestFirst)
	return out, nil
}

// virtualHost selects the virtual host for a host name (lower case, without
// a port): exact, then the longest suffix wildcard, then the longest prefix
// wildcard, then "*". A wildcard matches at least one character.
func (rc *routeConfig) virtualHost(host string) *virtualHost {
	if vh := rc.exact[host]; vh != nil {
		return vh
	}
	for _, w := range rc.suffix {
		if len(host) > len(w.part) && strings.HasSuffix(host, w.part) {
			return w.vh
		}
	}
	for _, w := range rc.prefix {
		if len(host) > len(w.part) && strings.HasPrefix(host, w.part) {
			return w.vh
		}
	}
	return rc.any
}

func compileRoute(r *routev3.Route, at string) (*route, error) {
	out := &route{name: r.GetName()}
	var err error
	if out.match, err = compileMatch(r.GetMatch(), at+".match"); err != nil {
		return nil, err
	}
	out.reqHeaders = compileHeaders(r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove())
	out.respHeaders = compileHeaders(r.GetResponseHeadersToAdd(), r.GetResponseHeadersToRemove())
	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		out.forward, err = compileForward(a.Route, at+".route")
	case *routev3.Route_Redirect:
		out.redirect, err = compileRedirect(a.Redirect, at+".redirect")
	case *routev3.Route_DirectResponse:
		out.direct = &directResponse{status: int(a.DirectResponse.GetStatus())}
		if b := a.DirectResponse.GetBody(); b != nil {
			out.direct.body = string(b.GetInlineBytes()) + b.GetInlineString()
		}
	default:
		err = unsupported(at, "route action %T", a)
	}
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(mapsKeys(r.GetTypedPerFilterConfig())) {
		cfg := r.GetTypedPerFilterConfig()[name]
		fat := fmt.Sprintf("%s.typed_per_filter_config[%s]", at, name)
		switch name {
		case wellknown.CORS:
			p := &corsv3.CorsPolicy{}
			if err := unpack(cfg, p, fat); err != nil {
				return nil, err
			}
			if out.cors, err = compileCORS(p, fat); err != nil {
				return nil, err
			}
		case xds.LocalRateLimitFilter:
			l := &localratelimitv3.LocalRateLimit{}
			if err := unpack(cfg, l, fat); err != nil {
				return nil, err
			}
			if out.limit, err = compileLimiter(l, fat); err != nil {
				return nil, err
			}
		default:
			return nil, unsupported(fat, "per-route configuration of filter %q", name)
		}
	}
	return out, nil
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// compileRegex compiles an RE2 regex that must match a whole value, as
// Envoy's safe_regex does.
func compileRegex(m *matcherv3.RegexMatcher, at string) (*regexp.Regexp, error) {
	re, err := regexp.Compile("^(?:" + m.GetRegex() + ")$")
	if err != nil {
		return nil, invalid(at+".regex", err)
	}
	return re, nil
}

func compileMatch(m *routev3.RouteMatch, at string) (routeMatch, error) {
	out := routeMatch{fold: m.GetCaseSensitive() != nil && !m.GetCaseSensitive().GetValue()}
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		out.kind, out.path = pathPrefix, p.Prefix
	case *routev3.RouteMatch_Path:
		out.kind, out.path = pathExact, p.Path
	case *routev3.RouteMatch_PathSeparatedPrefix:
		out.kind, out.path = pathSeparated, p.PathSeparatedPrefix
	case *routev3.RouteMatch_SafeRegex:
		re, err := compileRegex(p.SafeRegex, at+".safe_regex")
		if err != nil {
			return out, err
		}
		out.kind, out.re = pathRegex, re
	default:
		return out, unsupported(at, "path specifier %T", p)
	}
	if out.fold {
		out.path = strings.ToLower(out.path)
	}
	for i, h := range m.GetHeaders() {
		hat := fmt.Sprintf("%s.headers[%d]", at, i)
		hm := headerMatch{name: strings.ToLower(h.GetName()), invert: h.GetInvertMatch()}
		switch s := h.GetHeaderMatchSpecifier().(type) {
		case *routev3.HeaderMatcher_StringMatch:
			sm, err := compileString(s.StringMatch, hat+".string_match")
			if err != nil {
				return out, err
			}
			hm.str = sm
		case *routev3.HeaderMatcher_PresentMatch:
			hm.present = &s.PresentMatch
		case nil:
			t := true
			hm.present = &t
		default:
			return out, unsupported(hat, "header match %T", s)
		}
		out.headers = append(out.headers, hm)
	}
	for i, q := range m.GetQueryParameters() {
		qat := fmt.Sprintf("%s.query_parameters[%d]", at, i)
		qm := queryMatch{name: q.GetName()}
		switch s := q.GetQueryParameterMatchSpecifier().(type) {
		case *routev3.QueryParameterMatcher_StringMatch:
			sm, err := compileString(s.StringMatch, qat+".string_match")
			if err != nil {
				return out, err
			}
			qm.str = sm
		case *routev3.QueryParameterMatcher_PresentMatch:
			qm.present = s.PresentMatch
		default:
			return out, unsupported(qat, "query parameter match %T", s)
		}
		out.query = append(out.query, qm)
	}
	return out, nil
}

func compileString(m *matcherv3.StringMatcher, at string) (*stringMatch, error) {
	out := &stringMatch{fold: m.GetIgnoreCase()}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		out.kind, out.value = 0, p.Exact
	case *matcherv3.StringMatcher_Prefix:
		out.kind, out.value = 1, p.Prefix
	case *matcherv3.StringMatcher_Suffix:
		out.kind, out.value = 2, p.Suffix
	case *matcherv3.StringMatcher_Contains:
		out.kind, out.value = 3, p.Contains
	case *matcherv3.StringMatcher_SafeRegex:
		re, err := compileRegex(p.SafeRegex, at+".safe_regex")
		if err != nil {
			return nil, err
		}
		out.kind, out.re = 4, re
	default:
		return nil, unsupported(at, "string match %T", p)
	}
	if out.fold {
		out.value = strings.ToLower(out.value)
	}
	return out, nil
}

func (s *stringMatch) match(v string) bool {
	if s.kind == 4 {
		return s.re.MatchString(v)
	}
	if s.fold {
		v = strings.ToLower(v)
	}
	switch s.kind {
	case 0:
		return v == s.value
	case 1:
		return strings.HasPrefix(v, s.value)
	case 2:
		return strings.HasSuffix(v, s.value)
	default:
		return strings.Contains(v, s.value)
	}
}

// matches says whether a request matches: path is the normalized path
// without the query.
func (m *routeMatch) matches(r *http.Request, path string) bool {
	p := path
	if m.fold {
		p = strings.ToLower(p)
	}
	switch m.kind {
	case pathPrefix:
		if !strings.HasPrefix(p, m.path) {
			return false
		}
	case pathExact:
		if p != m.path {
			return false
		}
	case pathSeparated:
		if !strings.HasPrefix(p, m.path) || (len(p) > len(m.path) && p[len(m.path)] != '/') {
			return false
		}
	case pathRegex:
		if !m.re.MatchString(path) {
			return false
		}
	}
	for i := range m.headers {
		if !m.headers[i].matches(r, path) {
			return false
		}
	}
	if len(m.query) > 0 {
		q := r.URL.Query()
		for _, qm := range m.query {
			vs, ok := q[qm.name]
			switch {
			case qm.str == nil:
				if ok != qm.present {
					return false
				}
			case !ok || !qm.str.match(vs[0]):
				return false
			}
		}
	}
	return true
}

func (h *headerMatch) matches(r *http.Request, path string) bool {
	var v string
	var ok bool
	switch h.name {
	case ":method":
		v, ok = r.Method, true
	case ":authority", "host":
		v, ok = r.Host, true
	case ":path":
		v, ok = r.URL.RequestURI(), true
	case ":scheme":
		v, ok = scheme(r), true
	default:
		var vs []string
		vs, ok = r.Header[http.CanonicalHeaderKey(h.name)]
		v = strings.Join(vs, ",")
	}
	var res bool
	switch {
	case h.present != nil:
		res = ok == *h.present
	default:
		res = ok && h.str.match(v)
	}
	return res != h.invert
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// route returns the first route of the virtual host the request matches.
func (vh *virtualHost) route(r *http.Request, path string) *route {
	for _, rt := range vh.routes {
		if rt.match.matches(r, path) {
			return rt
		}
	}
	return nil
}

func compileHeaders(add []*corev3.HeaderValueOption, remove []string) headerMutation {
	h := headerMutation{remove: slices.Clone(remove)}
	for _, o := range add {
		h.ops = append(h.ops, headerOp{key: o.GetHeader().GetKey(), value: o.GetHeader().GetValue(), action: o.GetAppendAction()})
	}
	return h
}

func compileForward(a *routev3.RouteAction, at string) (*forwardAction, error) {
	f := &forwardAction{notFound: http.StatusServiceUnavailable, timeout: 15 * time.Second}
	switch a.GetClusterNotFoundResponseCode() {
	case routev3.RouteAction_NOT_FOUND:
		f.notFound = http.StatusNotFound
	case routev3.RouteAction_INTERNAL_SERVER_ERROR:
		f.notFound = http.StatusInternalServerError
	}
	switch c := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		f.cluster = c.Cluster
	case *routev3.RouteAction_WeightedClusters:
		for _, w := range c.WeightedClusters.GetClusters() {
			wc := weightedCluster{name: w.GetName(), weight: uint64(w.GetWeight().GetValue())}
			wc.reqHeaders = compileHeaders(w.GetRequestHeadersToAdd(), w.GetRequestHeadersToRemove())
			wc.respHeaders = compileHeaders(w.GetResponseHeadersToAdd(), w.GetResponseHeadersToRemove())
			f.weighted = append(f.weighted, wc)
			f.total += wc.weight
		}
		if f.total == 0 {
			return nil, invalid(at+".weighted_clusters", errors.New("the weights add up to 0"))
		}
	default:
		return nil, unsupported(at, "cluster specifier %T", c)
	}
	f.prefixRewrite = a.GetPrefixRewrite()
	if rw := a.GetRegexRewrite(); rw != nil {
		var err error
		if f.rewrite, err = compileRewrite(rw, at+".regex_rewrite"); err != nil {
			return nil, err
		}
	}
	f.host = a.GetHostRewriteLiteral()
	if a.GetTimeout() != nil {
		f.timeout = a.GetTimeout().AsDuration()
	}
	if rp := a.GetRetryPolicy(); rp != nil {
		var err error
		if f.retry, err = compileRetry(rp, at+".retry_policy"); err != nil {
			return nil, err
		}
	}
	for _, m := range a.GetRequestMirrorPolicies() {
		mp := mirrorPolicy{cluster: m.GetCluster(), millionths: 1_000_000}
		if fr := m.GetRuntimeFraction(); fr != nil {
			mp.millionths = millionths(fr.GetDefaultValue())
		}
		f.mirrors = append(f.mirrors, mp)
	}
	return f, nil
}

// millionths converts a FractionalPercent to parts per million, capped at
// a million.
func millionths(p *typev3.FractionalPercent) uint32 {
	n := uint64(p.GetNumerator())
	switch p.GetDenominator() {
	case typev3.FractionalPercent_HUNDRED:
		n *= 10_000
	case typev3.FractionalPercent_TEN_THOUSAND:
		n *= 100
	}
	return uint32(min(n, 1_000_000))
}

// compileRewrite converts an RE2 substitution (\0 to \9 name groups) into
// regexp.Expand syntax.
func compileRewrite(m *matcherv3.RegexMatchAndSubstitute, at string) (*regexRewrite, error) {
	re, err := regexp.Compile(m.GetPattern().GetRegex())
	if err != nil {
		return nil, invalid(at+".pattern.regex", err)
	}
	var b strings.Builder
	s := m.GetSubstitution()
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c == '\\' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			b.WriteString("${" + s[i+1:i+2] + "}")
			i++
		case c == '\\' && i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		default:
			b.WriteByte(c)
		}
	}
	return &regexRewrite{re: re, repl: b.String()}, nil
}

// apply replaces every match in path, as RE2's GlobalReplace does.
func (rw *regexRewrite) apply(path string) string {
	return rw.re.ReplaceAllString(path, rw.repl)
}

func compileRetry(rp *routev3.RetryPolicy, at string) (*retryPolicy, error) {
	p := &retryPolicy{attempts: 1, base: 25 * time.Millisecond}
	if rp.GetNumRetries() != nil {
		p.attempts = int(rp.GetNumRetries().GetValue())
	}
	for _, on := range strings.Split(rp.GetRetryOn(), ",") {
		switch strings.TrimSpace(on) {
		case "":
		case "connect-failure":
			p.connectFailure = true
		case "reset", "reset-before-request":
			p.reset = true
		case "refused-stream":
			p.refused = true
		case "5xx":
			p.any5xx = true
			p.connectFailure, p.reset = true, true
		case "gateway-error":
			p.gatewayError = true
			p.connectFailure, p.reset = true, true
		case "retriable-status-codes":
			for _, c := range rp.GetRetriableStatusCodes() {
				p.codes = append(p.codes, int(c))
			}
		default:
			return nil, unsupported(at+".retry_on", "retry condition %q", on)
		}
	}
	p.perTry = rp.GetPerTryTimeout().AsDuration()
	if b := rp.GetRetryBackOff(); b != nil {
		p.base = b.GetBaseInterval().AsDuration()
		if b.GetMaxInterval() != nil {
			p.max = b.GetMaxInterval().AsDuration()
		}
	}
	if p.max == 0 {
		p.max = 10 * p.base
	}
	return p, nil
}

// retriableStatus says whether a response status asks for another try.
func (p *retryPolicy) retriableStatus(code int) bool {
	switch {
	case p.any5xx && code >= 500:
		return true
	case p.gatewayError && (code == 502 || code == 503 || code == 504):
		return true
	}
	return slices.Contains(p.codes, code)
}

// backoff is the wait before retry n (1-based): fully jittered exponential
// back-off from the base interval, capped at the maximum, as Envoy does.
func (p *retryPolicy) backoff(n int) time.Duration {
	limit := p.base * time.Duration(uint64(1)<<min(n, 30)-1)
	if limit > p.max || limit <= 0 {
		limit = p.max
	}
	if limit <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(limit)))
}

func compileRedirect(a *routev3.RedirectAction, at string) (*redirectAction, error) {
	r := &redirectAction{host: a.GetHostRedirect(), port: a.GetPortRedirect(), stripQuery: a.GetStripQuery()}
	switch s := a.GetSchemeRewriteSpecifier().(type) {
	case *routev3.RedirectAction_HttpsRedirect:
		if s.HttpsRedirect {
			r.scheme = "https"
		}
	case *routev3.RedirectAction_SchemeRedirect:
		r.scheme = strings.ToLower(s.SchemeRedirect)
	}
	switch p := a.GetPathRewriteSpecifier().(type) {
	case *routev3.RedirectAction_PathRedirect:
		r.path = p.PathRedirect
	case *routev3.RedirectAction_PrefixRewrite:
		r.prefix = &p.PrefixRewrite
	case *routev3.RedirectAction_RegexRewrite:
		var err error
		if r.rewrite, err = compileRewrite(p.RegexRewrite, at+".regex_rewrite"); err != nil {
			return nil, err
		}
	}
	switch a.GetResponseCode() {
	case routev3.RedirectAction_MOVED_PERMANENTLY:
		r.code = http.StatusMovedPermanently
	case routev3.RedirectAction_SEE_OTHER:
		r.code = http.StatusSeeOther
	case routev3.RedirectAction_TEMPORARY_REDIRECT:
		r.code = http.StatusTemporaryRedirect
	case routev3.RedirectAction_PERMANENT_REDIRECT:
		r.code = http.StatusPermanentRedirect
	default:
		r.code = http.StatusFound
	}
	return r, nil
}

func compileCORS(p *corsv3.CorsPolicy, at string) (*corsPolicy, error) {
	c := &corsPolicy{methods: p.GetAllowMethods(), headers: p.GetAllowHeaders(), expose: p.GetExposeHeaders(),
		maxAge: p.GetMaxAge(), credentials: p.GetAllowCredentials().GetValue()}
	for i, o := range p.GetAllowOriginStringMatch() {
		sm, err := compileString(o, fmt.Sprintf("%s.allow_origin_string_match[%d]", at, i))
		if err != nil {
			return nil, err
		}
		c.origins = append(c.origins, sm)
	}
	return c, nil
}

// unpack unmarshals a typed config of an expected type and checks its
// fields.
func unpack(a *anypb.Any, m proto.Message, at string) error {
	if err := a.UnmarshalTo(m); err != nil {
		return invalid(at, fmt.Errorf("typed config %s: %w", a.GetTypeUrl(), err))
	}
	return checkFields(m, at)
}
