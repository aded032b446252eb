package gatewayapi

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/eniway/eniway/gatewayapi/apis/v1alpha1"
)

// RateLimit is a local (per proxy instance) token bucket.
type RateLimit struct {
	// Policy is "namespace/name" of the LocalRateLimitPolicy.
	Policy string `json:"policy"`
	// Requests tokens are added every Interval, up to Burst.
	Requests uint32        `json:"requests"`
	Interval time.Duration `json:"-"`
	Burst    uint32        `json:"burst"`
	// Status answers rejected requests (429 by default).
	Status int `json:"status"`
}

// PolicyStatus is the status of one LocalRateLimitPolicy: one ancestor
// entry per Gateway its targets are (or belong to).
type PolicyStatus struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Status    gwv1.PolicyStatus `json:"status"`
}

// policyTarget is a resolved targetRef: a Gateway listener set or a route
// rule set, and the Gateways to report status against.
type policyTarget struct {
	key       string // kind/name[/section]
	kind      string
	name      string
	section   string
	ancestors []*gatewayState
}

type policyUse struct {
	pol    *v1alpha1.LocalRateLimitPolicy
	rl     *RateLimit
	target policyTarget
	lost   string // set when another policy won the target
}

// rateLimits resolves LocalRateLimitPolicies and applies the winners:
// Gateway targets to their listeners, route targets to their routes. It
// runs after the routes are emitted and before Gateways are finished.
func (t *translator) rateLimits() {
	pols := sortByName(slices.DeleteFunc(slices.Clone(t.in.LocalRateLimitPolicies), func(p *v1alpha1.LocalRateLimitPolicy) bool { return p == nil }))
	// Older policies first, so the first to claim a target wins.
	slices.SortStableFunc(pols, func(a, b *v1alpha1.LocalRateLimitPolicy) int {
		return a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
	})
	winners := map[string]*policyUse{}
	var uses []*policyUse
	type polResult struct {
		pol     *v1alpha1.LocalRateLimitPolicy
		invalid string
		uses    []*policyUse
	}
	var results []*polResult
	for _, pol := range pols {
		res := &polResult{pol: pol}
		results = append(results, res)
		rl, field, err := rateLimitOf(pol)
		if err != nil {
			res.invalid = err.Error()
			t.fail(v1alpha1.KindLocalRateLimitPolicy, pol.Namespace, pol.Name, field, string(gwv1.PolicyReasonInvalid), err.Error(), ErrInvalid)
		}
		for i, ref := range pol.Spec.TargetRefs {
			tg, ok := t.policyTarget(pol.Namespace, ref)
			if !ok {
				msg := fmt.Sprintf("target %s %s/%s is not a Gateway or route of this controller", ref.Kind, pol.Namespace, ref.Name)
				t.fail(v1alpha1.KindLocalRateLimitPolicy, pol.Namespace, pol.Name, fmt.Sprintf("spec.targetRefs[%d]", i), string(gwv1.PolicyReasonTargetNotFound), msg, ErrNotFound)
				continue
			}
			u := &policyUse{pol: pol, rl: rl, target: tg}
			res.uses = append(res.uses, u)
			if rl == nil {
				continue
			}
			if w := winners[tg.key]; w != nil {
				u.lost = fmt.Sprintf("%s/%s already limits %s %s", w.pol.Namespace, w.pol.Name, tg.kind, tg.name)
				t.fail(v1alpha1.KindLocalRateLimitPolicy, pol.Namespace, pol.Name, fmt.Sprintf("spec.targetRefs[%d]", i), string(gwv1.PolicyReasonConflicted), u.lost, ErrConflict)
				continue
			}
			winners[tg.key] = u
			uses = append(uses, u)
		}
	}
	t.applyRateLimits(uses)
	for _, res := range results {
		st := PolicyStatus{Namespace: res.pol.Namespace, Name: res.pol.Name}
		seen := map[*gatewayState]bool{}
		for _, u := range res.uses {
			for _, g := range u.target.ancestors {
				if seen[g] {
					continue
				}
				seen[g] = true
				c := conds{gen: res.pol.Generation, now: t.now}
				switch {
				case res.invalid != "":
					c.set(string(gwv1.PolicyConditionAccepted), false, string(gwv1.PolicyReasonInvalid), res.invalid)
				case u.lost != "":
					c.set(string(gwv1.PolicyConditionAccepted), false, string(gwv1.PolicyReasonConflicted), u.lost)
				default:
					c.set(string(gwv1.PolicyConditionAccepted), true, string(gwv1.PolicyReasonAccepted), "Policy accepted")
				}
				ns := gwv1.Namespace(g.gw.Namespace)
				st.Status.Ancestors = append(st.Status.Ancestors, gwv1.PolicyAncestorStatus{
					AncestorRef:    defaultedParentRef(gwv1.ParentReference{Namespace: &ns, Name: gwv1.ObjectName(g.gw.Name)}),
					ControllerName: gwv1.GatewayController(t.opts.ControllerName),
					Conditions:     c.list,
				})
			}
		}
		t.status.LocalRateLimitPolicies = append(t.status.LocalRateLimitPolicies, st)
	}
	slices.SortFunc(t.status.LocalRateLimitPolicies, func(a, b PolicyStatus) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
}

// rateLimitOf validates a policy's limit and applies its defaults.
func rateLimitOf(p *v1alpha1.LocalRateLimitPolicy) (*RateLimit, string, error) {
	rl := &RateLimit{Policy: p.Namespace + "/" + p.Name, Requests: p.Spec.Requests, Interval: time.Second, Burst: p.Spec.Requests, Status: 429}
	if rl.Requests == 0 {
		return nil, "spec.requests", fmt.Errorf("requests must be at least 1: %w", ErrInvalid)
	}
	if p.Spec.Interval != nil {
		d, err := parseDuration(string(*p.Spec.Interval))
		if err != nil {
			return nil, "spec.interval", fmt.Errorf("interval %q: %w", *p.Spec.Interval, err)
		}
		if *d <= 0 {
			return nil, "spec.interval", fmt.Errorf("interval must be positive: %w", ErrInvalid)
		}
		rl.Interval = *d
	}
	if p.Spec.Burst != nil {
		if *p.Spec.Burst == 0 {
			return nil, "spec.burst", fmt.Errorf("burst must be at least 1: %w", ErrInvalid)
		}
		rl.Burst = *p.Spec.Burst
	}
	if p.Spec.ResponseStatus != nil {
		if s := *p.Spec.ResponseStatus; s < 400 || s > 599 {
			return nil, "spec.responseStatus", fmt.Errorf("response status %d must lie in 400 to 599: %w", s, ErrInvalid)
		}
		rl.Status = int(*p.Spec.ResponseStatus)
	}
	return rl, "", nil
}

// policyTarget resolves a targetRef to this controller's Gateway or route.
func (t *translator) policyTarget(ns string, ref gwv1.LocalPolicyTargetReferenceWithSectionName) (policyTarget, bool) {
	tg := policyTarget{kind: string(ref.Kind), name: ns + "/" + string(ref.Name)}
	if ref.SectionName != nil {
		tg.section = string(*ref.SectionName)
	}
	tg.key = tg.kind + "/" + tg.name + "/" + tg.section
	if ref.Group != gvGroup {
		return tg, false
	}
	switch RouteKind(ref.Kind) {
	case "Gateway":
		g := t.gws[nn(ns, string(ref.Name))]
		if g == nil {
			return tg, false
		}
		if tg.section != "" && !slices.ContainsFunc(g.listeners, func(l *listenerState) bool { return l.name == tg.section }) {
			return tg, false
		}
		tg.ancestors = []*gatewayState{g}
		return tg, true
	case KindHTTPRoute, KindGRPCRoute:
		parents := t.routeParents[string(ref.Kind)+"/"+tg.name]
		if len(parents) == 0 {
			return tg, false
		}
		tg.ancestors = parents
		return tg, true
	}
	return tg, false
}

// applyRateLimits sets the winning limits on listeners and routes.
func (t *translator) applyRateLimits(uses []*policyUse) {
	for _, u := range uses {
		switch u.target.kind {
		case "Gateway":
			for _, l := range u.target.ancestors[0].listeners {
				if u.target.section == "" || l.name == u.target.section {
					// A limit on the listener itself overrides one on
					// the whole Gateway.
					if l.rateLimit == nil || (u.target.section != "" && !l.rateLimitOnSection) {
						l.rateLimit, l.rateLimitOnSection = u.rl, u.target.section != ""
					}
				}
			}
		default:
			for _, r := range t.routeRules[u.target.kind+"/"+u.target.name] {
				if u.target.section == "" || r.Source.RuleName == u.target.section {
					if r.RateLimit == nil || (u.target.section != "" && !r.rateLimitOnSection) {
						r.RateLimit, r.rateLimitOnSection = u.rl, u.target.section != ""
					}
				}
			}
		}
	}
}
