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
	// conflict says why the attachment was dropped (an HTTPRoute and a
	// GRPCRoute sharing a hostname); "" when it stands.
	conflict string
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
		l.attachedRoutes[string(m.kind)+"/"+m.obj.Namespace+"/"+m.obj.Name] = true
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

// objRef names the route an error is about.
type objRef struct {
	kind     RouteKind
	ns, name string
}

// pendingRoute is a translated route waiting for conflict resolution
// between HTTPRoutes and GRPCRoutes before it is emitted.
type pendingRoute struct {
	meta       *routeMeta
	parents    []*parentResult
	routes     []*Route
	tls        *TLSPassthroughRoute
	invalid    *routeProblem
	unresolved *routeProblem
	status     *[]RouteStatus
}

type parentResult struct {
	// index of the parentRef in the route's spec.
	index    int
	ref      gwv1.ParentReference
	atts     []attachment
	accepted bool
	reason   gwv1.RouteConditionReason
	msg      string
}

func sortByName[T metav1.Object](list []T) []T {
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b T) int {
		return cmp.Or(strings.Compare(a.GetNamespace(), b.GetNamespace()), strings.Compare(a.GetName(), b.GetName()))
	})
	return list
}

// routes translates HTTPRoutes, GRPCRoutes and TLSRoutes, rejects the newer
// of an HTTPRoute and a GRPCRoute that share a hostname on a listener, and
// emits the rest into their listeners' virtual hosts.
func (t *translator) routes() {
	var pending []*pendingRoute
	pending = collectRoutes(t, pending, t.in.HTTPRoutes, KindHTTPRoute, &t.status.HTTPRoutes,
		func(r *gwv1.HTTPRoute) gwv1.CommonRouteSpec { return r.Spec.CommonRouteSpec },
		func(r *gwv1.HTTPRoute) []gwv1.Hostname { return r.Spec.Hostnames },
		func(p *pendingRoute, r *gwv1.HTTPRoute) (invalid, unresolved *routeProblem) {
			p.routes, invalid, unresolved = t.httpRules(r)
			return invalid, unresolved
		})
	pending = collectRoutes(t, pending, t.in.GRPCRoutes, KindGRPCRoute, &t.status.GRPCRoutes,
		func(r *gwv1.GRPCRoute) gwv1.CommonRouteSpec { return r.Spec.CommonRouteSpec },
		func(r *gwv1.GRPCRoute) []gwv1.Hostname { return r.Spec.Hostnames },
		func(p *pendingRoute, r *gwv1.GRPCRoute) (invalid, unresolved *routeProblem) {
			p.routes, invalid, unresolved = t.grpcRules(r)
			return invalid, unresolved
		})
	pending = collectRoutes(t, pending, t.in.TLSRoutes, KindTLSRoute, &t.status.TLSRoutes,
		func(r *gwv1.TLSRoute) gwv1.CommonRouteSpec { return r.Spec.CommonRouteSpec },
		func(r *gwv1.TLSRoute) []gwv1.Hostname { return r.Spec.Hostnames },
		func(p *pendingRoute, r *gwv1.TLSRoute) (invalid, unresolved *routeProblem) {
			p.tls, invalid, unresolved = t.tlsRules(r)
			return invalid, unresolved
		})
	resolveKindConflicts(pending)
	for _, p := range pending {
		t.emit(p)
	}
}

// collectRoutes resolves the parents of every route of one kind, in
// namespace/name order, and translates those with a parent of this
// controller's with rules.
func collectRoutes[R interface {
	*gwv1.HTTPRoute | *gwv1.GRPCRoute | *gwv1.TLSRoute
	metav1.Object
}](t *translator, pending []*pendingRoute, list []R, kind RouteKind, status *[]RouteStatus,
	common func(R) gwv1.CommonRouteSpec, hostnames func(R) []gwv1.Hostname,
	rules func(*pendingRoute, R) (invalid, unresolved *routeProblem)) []*pendingRoute {
	list = slices.DeleteFunc(slices.Clone(list), func(r R) bool { return r == nil })
	for _, r := range sortByName(list) {
		m := &routeMeta{kind: kind, obj: objectMeta(r), parents: common(r).ParentRefs, hostnames: hostnames(r)}
		p := t.pending(m, status)
		if p == nil {
			continue
		}
		var invalid *routeProblem
		invalid, p.unresolved = rules(p, r)
		p.invalid = cmp.Or(p.invalid, invalid)
		pending = append(pending, p)
	}
	return pending
}

// objectMeta copies the metadata a route's translation reads.
func objectMeta(o metav1.Object) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Namespace: o.GetNamespace(), Name: o.GetName(),
		Generation: o.GetGeneration(), CreationTimestamp: o.GetCreationTimestamp(),
	}
}

// pending resolves a route's parents; nil when none is this controller's.
func (t *translator) pending(m *routeMeta, status *[]RouteStatus) *pendingRoute {
	p := &pendingRoute{meta: m, status: status}
	for i, ref := range m.parents {
		atts, ok, reason, msg, ours := t.attach(m, ref)
		if ours {
			p.parents = append(p.parents, &parentResult{i, defaultedParentRef(ref), atts, ok, reason, msg})
		}
	}
	if len(p.parents) == 0 {
		return nil
	}
	for i, h := range m.hostnames {
		if err := validHostname(string(h)); err != nil {
			p.invalid = &routeProblem{gwv1.RouteReasonUnsupportedValue, fmt.Sprintf("spec.hostnames[%d]", i), err.Error(), ErrInvalid}
			break
		}
	}
	return p
}

// resolveKindConflicts applies the GRPCRoute rule: when an HTTPRoute and a
// GRPCRoute attached to one listener share a hostname, only the older (then
// the first by namespace/name) is accepted there.
func resolveKindConflicts(pending []*pendingRoute) {
	type use struct {
		p   *pendingRoute
		par *parentResult
		att int
	}
	byListener := map[*listenerState][]use{}
	for _, p := range pending {
		if p.invalid != nil {
			continue
		}
		for _, par := range p.parents {
			if !par.accepted {
				continue
			}
			for i, a := range par.atts {
				byListener[a.listener] = append(byListener[a.listener], use{p, par, i})
			}
		}
	}
	older := func(a, b *pendingRoute) bool {
		return cmp.Or(a.meta.obj.CreationTimestamp.Compare(b.meta.obj.CreationTimestamp.Time),
			strings.Compare(a.meta.obj.Namespace, b.meta.obj.Namespace),
			strings.Compare(a.meta.obj.Name, b.meta.obj.Name)) < 0
	}
	for _, uses := range byListener {
		var https, grpcs []use
		for _, u := range uses {
			if u.p.meta.kind == KindHTTPRoute {
				https = append(https, u)
			} else if u.p.meta.kind == KindGRPCRoute {
				grpcs = append(grpcs, u)
			}
		}
		for _, a := range https {
			for _, b := range grpcs {
				if !hostsOverlap(a.par.atts[a.att].hostnames, b.par.atts[b.att].hostnames) {
					continue
				}
				loser, winner := b, a
				if older(b.p, a.p) {
					loser, winner = a, b
				}
				loser.par.atts[loser.att].conflict = fmt.Sprintf("%s %s/%s already serves a hostname of this route on listener %s",
					winner.p.meta.kind, winner.p.meta.obj.Namespace, winner.p.meta.obj.Name, loser.par.atts[loser.att].listener.name)
			}
		}
	}
}

func hostsOverlap(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if hostMatches(x, y) || hostMatches(y, x) {
				return true
			}
		}
	}
	return false
}

// emit writes a route's status and adds its routes to the virtual hosts of
// every listener that accepted it.
func (t *translator) emit(p *pendingRoute) {
	m := p.meta
	kind := string(m.kind)
	st := RouteStatus{Namespace: m.obj.Namespace, Name: m.obj.Name}
	// Two parentRefs may select the same listener (by name and by port):
	// its routes go in once.
	added := map[*listenerState]map[string]bool{}
	for _, par := range p.parents {
		c := conds{gen: m.obj.Generation, now: t.now}
		accepted, reason, msg := par.accepted, par.reason, par.msg
		var conflicts []string
		if accepted {
			kept := 0
			for _, a := range par.atts {
				if a.conflict != "" {
					conflicts = append(conflicts, a.conflict)
				} else {
					kept++
				}
			}
			if kept == 0 {
				accepted, reason, msg = false, gwv1.RouteReasonNotAllowedByListeners, strings.Join(conflicts, "; ")
			}
		}
		switch {
		case !accepted:
			c.set(string(gwv1.RouteConditionAccepted), false, string(reason), msg)
			t.fail(kind, m.obj.Namespace, m.obj.Name, fmt.Sprintf("spec.parentRefs[%d]", par.index), string(reason), msg, ErrInvalid)
		case p.invalid != nil:
			c.set(string(gwv1.RouteConditionAccepted), false, string(p.invalid.reason), p.invalid.msg)
		default:
			if len(conflicts) > 0 {
				msg += "; not on listeners where another kind of route was first: " + strings.Join(conflicts, "; ")
			}
			c.set(string(gwv1.RouteConditionAccepted), true, string(reason), msg)
			key := kind + "/" + m.obj.Namespace + "/" + m.obj.Name
			if len(par.atts) > 0 {
				if g := par.atts[0].listener.gw; !slices.Contains(t.routeParents[key], g) {
					t.routeParents[key] = append(t.routeParents[key], g)
				}
				if t.routeRules[key] == nil {
					t.routeRules[key] = p.routes
				}
			}
			for _, a := range par.atts {
				if a.conflict != "" {
					continue
				}
				if added[a.listener] == nil {
					added[a.listener] = map[string]bool{}
				}
				for _, h := range a.hostnames {
					if added[a.listener][h] {
						continue
					}
					added[a.listener][h] = true
					if p.tls != nil {
						r := *p.tls
						r.Hostname = h
						a.listener.tlsRoutes = append(a.listener.tlsRoutes, &tlsEntry{route: &r, created: m.obj.CreationTimestamp})
					}
					for _, rt := range p.routes {
						a.listener.vhosts[h] = append(a.listener.vhosts[h], &routeEntry{route: rt, created: m.obj.CreationTimestamp})
					}
				}
			}
		}
		if p.unresolved != nil {
			c.set(string(gwv1.RouteConditionResolvedRefs), false, string(p.unresolved.reason), p.unresolved.msg)
		} else {
			c.set(string(gwv1.RouteConditionResolvedRefs), true, string(gwv1.RouteReasonResolvedRefs), "All references resolved")
		}
		st.Parents = append(st.Parents, gwv1.RouteParentStatus{
			ParentRef:      par.ref,
			ControllerName: gwv1.GatewayController(t.opts.ControllerName),
			Conditions:     c.list,
		})
	}
	if p.invalid != nil {
		t.fail(kind, m.obj.Namespace, m.obj.Name, p.invalid.field, string(p.invalid.reason), p.invalid.msg, p.invalid.err)
	}
	*p.status = append(*p.status, st)
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
		filters, redirect, p := t.httpFilters(objRef{KindHTTPRoute, r.Namespace, r.Name}, rule.Filters, matches, field+".filters", &unresolved)
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
			action = t.httpBackends(objRef{KindHTTPRoute, r.Namespace, r.Name}, rule.BackendRefs, field, &unresolved, &invalid)
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
