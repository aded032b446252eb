package gatewayapi

import (
	"fmt"
	"regexp"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// grpcRules translates every rule of a GRPCRoute into HTTP/2 routes: a
// gRPC method is the path /<service>/<method>, so an Exact match on both is
// an exact path, on the service alone a path prefix, on the method alone
// (or with regular expressions) a path regular expression. Filters are
// those of HTTPRoute that GRPCRoute allows.
func (t *translator) grpcRules(r *gwv1.GRPCRoute) (routes []*Route, invalid, unresolved *routeProblem) {
	src := objRef{KindGRPCRoute, r.Namespace, r.Name}
	rules := r.Spec.Rules
	if len(rules) == 0 {
		rules = []gwv1.GRPCRouteRule{{}}
	}
	for ri, rule := range rules {
		field := fmt.Sprintf("spec.rules[%d]", ri)
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gwv1.GRPCRouteMatch{{}}
		}
		var irMatches []*Route
		for mi, gm := range matches {
			rt, p := grpcMatch(gm, fmt.Sprintf("%s.matches[%d]", field, mi))
			if p != nil {
				if invalid == nil {
					invalid = p
				}
				continue
			}
			rt.Source = RouteSource{Kind: KindGRPCRoute, Namespace: r.Namespace, Name: r.Name, Rule: ri, Match: mi}
			if rule.Name != nil {
				rt.Source.RuleName = string(*rule.Name)
			}
			irMatches = append(irMatches, rt)
		}
		filters, _, p := t.httpFilters(src, grpcFilters(rule.Filters), nil, field+".filters", &unresolved)
		if p != nil && invalid == nil {
			invalid = p
		}
		if rule.SessionPersistence != nil && invalid == nil {
			invalid = &routeProblem{gwv1.RouteReasonUnsupportedValue, field + ".sessionPersistence", "sessionPersistence is not supported", ErrNotSupported}
		}
		refs := make([]gwv1.HTTPBackendRef, len(rule.BackendRefs))
		for i, b := range rule.BackendRefs {
			refs[i] = gwv1.HTTPBackendRef{BackendRef: b.BackendRef, Filters: grpcFilters(b.Filters)}
		}
		action := t.httpBackends(src, refs, field, &unresolved, &invalid)
		if filters.customUnresolved {
			action = Action{Direct: &DirectResponse{Status: 500, Reason: "a filter of the rule cannot be resolved"}}
		}
		for _, rt := range irMatches {
			rt.Filters = filters.Filters
			rt.Action = action
			routes = append(routes, rt)
		}
	}
	return routes, invalid, unresolved
}

// grpcFilters converts GRPCRoute filters to the HTTPRoute filters with the
// same fields.
func grpcFilters(in []gwv1.GRPCRouteFilter) []gwv1.HTTPRouteFilter {
	out := make([]gwv1.HTTPRouteFilter, len(in))
	for i, f := range in {
		out[i] = gwv1.HTTPRouteFilter{
			Type:                   gwv1.HTTPRouteFilterType(f.Type),
			RequestHeaderModifier:  f.RequestHeaderModifier,
			ResponseHeaderModifier: f.ResponseHeaderModifier,
			RequestMirror:          f.RequestMirror,
			ExtensionRef:           f.ExtensionRef,
		}
	}
	return out
}

var (
	grpcServiceRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$`)
	grpcMethodRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]*$`)
)

// grpcMatch translates one GRPCRoute match into a path match.
func grpcMatch(gm gwv1.GRPCRouteMatch, field string) (*Route, *routeProblem) {
	rt := &Route{Path: PathMatch{Type: PathPrefix, Value: "/"}, Method: "POST"}
	bad := func(sub string, err error) (*Route, *routeProblem) {
		return nil, &routeProblem{gwv1.RouteReasonUnsupportedValue, field + sub, err.Error(), ErrInvalid}
	}
	if mm := gm.Method; mm != nil {
		typ := gwv1.GRPCMethodMatchExact
		if mm.Type != nil {
			typ = *mm.Type
		}
		svc, method := "", ""
		if mm.Service != nil {
			svc = *mm.Service
		}
		if mm.Method != nil {
			method = *mm.Method
		}
		if svc == "" && method == "" {
			return bad(".method", fmt.Errorf("%w: one of service and method must be set", ErrInvalid))
		}
		switch typ {
		case gwv1.GRPCMethodMatchExact:
			if svc != "" && !grpcServiceRE.MatchString(svc) {
				return bad(".method.service", fmt.Errorf("service %q: %w", svc, ErrInvalid))
			}
			if method != "" && !grpcMethodRE.MatchString(method) {
				return bad(".method.method", fmt.Errorf("method %q: %w", method, ErrInvalid))
			}
			switch {
			case svc != "" && method != "":
				rt.Path = PathMatch{Type: PathExact, Value: "/" + svc + "/" + method}
			case svc != "":
				rt.Path = PathMatch{Type: PathPrefix, Value: "/" + svc}
			default:
				rt.Path = PathMatch{Type: PathRegex, Value: `/[^/]+/` + regexp.QuoteMeta(method)}
			}
		case gwv1.GRPCMethodMatchRegularExpression:
			for _, re := range []string{svc, method} {
				if _, err := regexp.Compile(re); err != nil {
					return bad(".method", fmt.Errorf("regular expression %q: %w: %v", re, ErrInvalid, err))
				}
			}
			if svc == "" {
				svc = `[^/]+`
			}
			if method == "" {
				method = `[^/]+`
			}
			rt.Path = PathMatch{Type: PathRegex, Value: "/(" + svc + ")/(" + method + ")"}
		default:
			return bad(".method.type", fmt.Errorf("method match type %q: %w", typ, ErrNotSupported))
		}
	}
	seen := map[string]bool{}
	for i, h := range gm.Headers {
		typ := MatchExact
		if h.Type != nil {
			typ = StringMatchType(*h.Type)
		}
		if err := validStringMatch(typ, h.Value); err != nil {
			return bad(fmt.Sprintf(".headers[%d]", i), err)
		}
		name := canonicalHeader(string(h.Name))
		if seen[name] {
			continue
		}
		seen[name] = true
		rt.Headers = append(rt.Headers, HeaderMatch{Name: name, Type: typ, Value: h.Value})
	}
	return rt, nil
}

// tlsRules translates a TLSRoute (passthrough): its one rule's backends,
// selected by SNI among the route's hostnames.
func (t *translator) tlsRules(r *gwv1.TLSRoute) (route *TLSPassthroughRoute, invalid, unresolved *routeProblem) {
	src := objRef{KindTLSRoute, r.Namespace, r.Name}
	if len(r.Spec.Hostnames) == 0 {
		invalid = &routeProblem{gwv1.RouteReasonUnsupportedValue, "spec.hostnames", "a TLSRoute needs at least one hostname", ErrInvalid}
	}
	if len(r.Spec.Rules) != 1 && invalid == nil {
		invalid = &routeProblem{gwv1.RouteReasonUnsupportedValue, "spec.rules", fmt.Sprintf("a TLSRoute has exactly one rule, not %d", len(r.Spec.Rules)), ErrInvalid}
	}
	route = &TLSPassthroughRoute{Source: RouteSource{Kind: KindTLSRoute, Namespace: r.Namespace, Name: r.Name}}
	if len(r.Spec.Rules) == 0 {
		return route, invalid, nil
	}
	rule := r.Spec.Rules[0]
	if rule.Name != nil {
		route.Source.RuleName = string(*rule.Name)
	}
	refs := make([]gwv1.HTTPBackendRef, len(rule.BackendRefs))
	for i, b := range rule.BackendRefs {
		refs[i] = gwv1.HTTPBackendRef{BackendRef: b}
	}
	action := t.httpBackends(src, refs, "spec.rules[0]", &unresolved, &invalid)
	route.Backends = action.Backends
	return route, invalid, unresolved
}
