package gatewayapi

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func itoa[T ~int | ~int32 | ~int64](v T) string { return strconv.FormatInt(int64(v), 10) }

// routeMeta is what attachment needs to know about any route kind.
type routeMeta struct {
	kind      RouteKind
	obj       metav1.ObjectMeta
	parents   []gwv1.ParentReference
	hostnames []gwv1.Hostname
}

// attachment is where one parentRef put a route: the listeners and the
// hostnames on each.
type attachment struct {
	listener  *listenerState
	hostnames []string
}

// attach resolves one parentRef of a route to this controller's Gateway.
// It returns nil, false when the parentRef is not this controller's (the
// route gets no status entry from it).
func (t *translator) attach(m *routeMeta, ref gwv1.ParentReference) (atts []attachment, accepted bool, reason gwv1.RouteConditionReason, msg string, ours bool) {
	group, kind := gvGroup, "Gateway"
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	if group != gvGroup || kind != "Gateway" {
		return nil, false, "", "", false
	}
	ns := m.obj.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	g := t.gws[nn(ns, string(ref.Name))]
	if g == nil {
		return nil, false, "", "", false
	}
	var candidates []*listenerState
	for _, l := range g.listeners {
		if ref.SectionName != nil && string(*ref.SectionName) != l.name {
			continue
		}
		if ref.Port != nil && *ref.Port != l.spec.Port {
			continue
		}
		candidates = append(candidates, l)
	}
	if len(candidates) == 0 {
		what := "Gateway " + g.key
		if ref.SectionName != nil {
			what += " has no listener " + string(*ref.SectionName)
		}
		if ref.Port != nil {
			what += " on port " + itoa(*ref.Port)
		}
		if ref.SectionName == nil && ref.Port == nil {
			what += " has no listeners"
		}
		return nil, false, gwv1.RouteReasonNoMatchingParent, what, true
	}
	routeHosts := make([]string, len(m.hostnames))
	for i, h := range m.hostnames {
		routeHosts[i] = string(h)
	}
	allowed := false
	for _, l := range candidates {
		if !t.allows(l, m.kind, m.obj.Namespace) {
			continue
		}
		allowed = true
		l.attached++
		if !l.accepted || !g.accepted {
			continue
		}
		if hs := intersectHostnames(l.hostname, routeHosts); len(hs) > 0 {
			atts = append(atts, attachment{listener: l, hostnames: hs})
		}
	}
	switch {
	case !allowed:
		return nil, false, gwv1.RouteReasonNotAllowedByListeners, fmt.Sprintf("No listener of Gateway %s admits %s from namespace %s", g.key, m.kind, m.obj.Namespace), true
	case len(atts) == 0 && !g.accepted:
		return nil, false, gwv1.RouteReasonPending, fmt.Sprintf("Gateway %s is not accepted", g.key), true
	case len(atts) == 0:
		if !slices.ContainsFunc(candidates, func(l *listenerState) bool { return l.accepted }) {
			return nil, false, gwv1.RouteReasonPending, fmt.Sprintf("No listener of Gateway %s the route selects is accepted", g.key), true
		}
		return nil, false, gwv1.RouteReasonNoMatchingListenerHostname, fmt.Sprintf("No hostname of the route matches a listener of Gateway %s", g.key), true
	}
	names := make([]string, len(atts))
	for i, a := range atts {
		names[i] = a.listener.name
	}
	return atts, true, gwv1.RouteReasonAccepted, "Accepted by listeners " + strings.Join(names, ", "), true
}

// defaultedParentRef fills in the group and kind the API server defaults.
func defaultedParentRef(ref gwv1.ParentReference) gwv1.ParentReference {
	if ref.Group == nil {
		g := gwv1.Group(gvGroup)
		ref.Group = &g
	}
	if ref.Kind == nil {
		k := gwv1.Kind("Gateway")
		ref.Kind = &k
	}
	return ref
}

// routeProblem is a reason a whole route is not accepted (bad filters or
// values) or a backend reference that did not resolve.
type routeProblem struct {
	reason gwv1.RouteConditionReason
	field  string
	msg    string
	err    error
}

func (t *translator) httpRoutes() {
	list := slices.Clone(t.in.HTTPRoutes)
	list = slices.DeleteFunc(list, func(r *gwv1.HTTPRoute) bool { return r == nil })
	slices.SortFunc(list, func(a, b *gwv1.HTTPRoute) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	for _, r := range list {
		t.httpRoute(r)
	}
}

func (t *translator) httpRoute(r *gwv1.HTTPRoute) {
	m := &routeMeta{kind: KindHTTPRoute, obj: r.ObjectMeta, parents: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames}
	// Resolve attachments first: a route none of whose parents is ours
	// costs nothing more.
	type parentResult struct {
		ref      gwv1.ParentReference
		atts     []attachment
		accepted bool
		reason   gwv1.RouteConditionReason
		msg      string
	}
	var parents []parentResult
	for _, ref := range r.Spec.ParentRefs {
		atts, ok, reason, msg, ours := t.attach(m, ref)
		if ours {
			parents = append(parents, parentResult{defaultedParentRef(ref), atts, ok, reason, msg})
		}
	}
	if len(parents) == 0 {
		return
	}
	var hostErr *routeProblem
	for i, h := range r.Spec.Hostnames {
		if err := validHostname(string(h)); err != nil {
			hostErr = &routeProblem{gwv1.RouteReasonUnsupportedValue, fmt.Sprintf("spec.hostnames[%d]", i), err.Error(), ErrInvalid}
			break
		}
	}
	routes, invalid, unresolved := t.httpRules(r)
	if invalid == nil {
		invalid = hostErr
	}
	st := RouteStatus{NamespacedName: nn(r.Namespace, r.Name)}
	for _, p := range parents {
		c := conds{gen: r.Generation, now: t.now}
		switch {
		case !p.accepted:
			c.set(string(gwv1.RouteConditionAccepted), false, string(p.reason), p.msg)
			t.fail("HTTPRoute", r.Namespace, r.Name, "spec.parentRefs", string(p.reason), p.msg, ErrInvalid)
		case invalid != nil:
			c.set(string(gwv1.RouteConditionAccepted), false, string(invalid.reason), invalid.msg)
		default:
			c.set(string(gwv1.RouteConditionAccepted), true, string(p.reason), p.msg)
			for _, a := range p.atts {
				for _, h := range a.hostnames {
					for _, rt := range routes {
						a.listener.vhosts[h] = append(a.listener.vhosts[h], &routeEntry{route: rt, created: r.CreationTimestamp})
					}
				}
			}
		}
		if unresolved != nil {
			c.set(string(gwv1.RouteConditionResolvedRefs), false, string(unresolved.reason), unresolved.msg)
		} else {
			c.set(string(gwv1.RouteConditionResolvedRefs), true, string(gwv1.RouteReasonResolvedRefs), "All references resolved")
		}
		st.Parents = append(st.Parents, gwv1.RouteParentStatus{
			ParentRef:      p.ref,
			ControllerName: gwv1.GatewayController(t.opts.ControllerName),
			Conditions:     c.list,
		})
	}
	if invalid != nil {
		t.fail("HTTPRoute", r.Namespace, r.Name, invalid.field, string(invalid.reason), invalid.msg, invalid.err)
	}
	t.status.HTTPRoutes = append(t.status.HTTPRoutes, st)
}

// httpRules translates every rule of r. invalid is the first problem that
// makes the route unacceptable; unresolved the first backend reference that
// did not resolve (errors are recorded for all of them).
func (t *translator) httpRules(r *gwv1.HTTPRoute) (routes []*Route, invalid, unresolved *routeProblem) {
	rules := r.Spec.Rules
	if len(rules) == 0 {
		rules = []gwv1.HTTPRouteRule{{}}
	}
	for ri, rule := range rules {
		field := fmt.Sprintf("spec.rules[%d]", ri)
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gwv1.HTTPRouteMatch{{}}
		}
		var irMatches []*Route
		for mi, hm := range matches {
			rt, p := httpMatch(hm, fmt.Sprintf("%s.matches[%d]", field, mi))
			if p != nil {
				if invalid == nil {
					invalid = p
				}
				continue
			}
			rt.Source = RouteSource{Kind: KindHTTPRoute, Namespace: r.Namespace, Name: r.Name, Rule: ri, Match: mi}
			if rule.Name != nil {
				rt.Source.RuleName = string(*rule.Name)
			}
			irMatches = append(irMatches, rt)
		}
		filters, redirect, p := t.httpFilters(r, rule.Filters, matches, field+".filters", &unresolved)
		if p != nil && invalid == nil {
			invalid = p
		}
		timeouts, retry, p := ruleTimeouts(rule, field)
		if p != nil && invalid == nil {
			invalid = p
		}
		if rule.SessionPersistence != nil && invalid == nil {
			invalid = &routeProblem{gwv1.RouteReasonUnsupportedValue, field + ".sessionPersistence", "sessionPersistence is not supported", ErrNotSupported}
		}
		var action Action
		if redirect != nil {
			action.Redirect = redirect
		} else {
			action = t.httpBackends(r, rule.BackendRefs, field, &unresolved, &invalid)
		}
		if filters.customUnresolved && action.Redirect == nil {
			action = Action{Direct: &DirectResponse{Status: 500, Reason: "a filter of the rule cannot be resolved"}}
		}
		for _, rt := range irMatches {
			rt.Filters = filters.Filters
			rt.Action = action
			rt.Timeout = timeouts
			rt.Retry = retry
			routes = append(routes, rt)
		}
	}
	return routes, invalid, unresolved
}

// httpMatch translates one match, applying the API server's defaults.
func httpMatch(hm gwv1.HTTPRouteMatch, field string) (*Route, *routeProblem) {
	rt := &Route{Path: PathMatch{Type: PathPrefix, Value: "/"}}
	if p := hm.Path; p != nil {
		if p.Type != nil {
			rt.Path.Type = PathMatchType(*p.Type)
		}
		if p.Value != nil {
			rt.Path.Value = *p.Value
		}
		if err := validPath(rt.Path); err != nil {
			return nil, &routeProblem{gwv1.RouteReasonUnsupportedValue, field + ".path", err.Error(), ErrInvalid}
		}
	}
	if hm.Method != nil {
		rt.Method = string(*hm.Method)
	}
	seen := map[string]bool{}
	for i, h := range hm.Headers {
		typ := MatchExact
		if h.Type != nil {
			typ = StringMatchType(*h.Type)
		}
		name := canonicalHeader(string(h.Name))
		if err := validStringMatch(typ, h.Value); err != nil {
			return nil, &routeProblem{gwv1.RouteReasonUnsupportedValue, fmt.Sprintf("%s.headers[%d]", field, i), err.Error(), ErrInvalid}
		}
		// Only the first match of a header name counts (spec).
		if seen[name] {
			continue
		}
		seen[name] = true
		rt.Headers = append(rt.Headers, HeaderMatch{Name: name, Type: typ, Value: h.Value})
	}
	seenQ := map[string]bool{}
	for i, q := range hm.QueryParams {
		typ := MatchExact
		if q.Type != nil {
			typ = StringMatchType(*q.Type)
		}
		if err := validStringMatch(typ, q.Value); err != nil {
			return nil, &routeProblem{gwv1.RouteReasonUnsupportedValue, fmt.Sprintf("%s.queryParams[%d]", field, i), err.Error(), ErrInvalid}
		}
		if seenQ[string(q.Name)] {
			continue
		}
		seenQ[string(q.Name)] = true
		rt.Query = append(rt.Query, QueryMatch{Name: string(q.Name), Type: typ, Value: q.Value})
	}
	return rt, nil
}
