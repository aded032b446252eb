package controller

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/apis/v1alpha1"
)

type nsName struct{ ns, name string }

// writeStatus writes the translated status of every object of this
// controller and removes this controller's stale route and policy entries.
// rejections (by Gateway, from Options.Feedback) turn Gateways' Programmed
// condition False.
func (r *Reconciler) writeStatus(ctx context.Context, in *gatewayapi.Input, st *gatewayapi.Status, rejections map[string][]string, now metav1.Time) []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	classes := map[string]gwv1.GatewayClassStatus{}
	for _, c := range st.GatewayClasses {
		classes[c.Name] = c.Status
	}
	for _, gc := range in.GatewayClasses {
		want, ok := classes[gc.Name]
		if !ok {
			continue
		}
		add(r.updateStatus(ctx, gc, func(o client.Object) bool {
			cur := o.(*gwv1.GatewayClass)
			next := cur.Status
			next.Conditions = mergeConditions(cur.Status.Conditions, want.Conditions, now)
			if equalStatus(cur.Status, next) {
				return false
			}
			cur.Status = next
			return true
		}))
	}

	gateways := map[nsName]gwv1.GatewayStatus{}
	for _, g := range st.Gateways {
		gateways[nsName{g.Namespace, g.Name}] = g.Status
	}
	for _, gw := range in.Gateways {
		want, ok := gateways[nsName{gw.Namespace, gw.Name}]
		if !ok {
			continue
		}
		want.Conditions = rejected(want.Conditions, rejections[gw.Namespace+"/"+gw.Name], gw.Generation)
		add(r.updateStatus(ctx, gw, func(o client.Object) bool {
			cur := o.(*gwv1.Gateway)
			next := want
			next.Conditions = mergeConditions(cur.Status.Conditions, want.Conditions, now)
			next.Listeners = make([]gwv1.ListenerStatus, len(want.Listeners))
			for i, l := range want.Listeners {
				var old []metav1.Condition
				for _, ol := range cur.Status.Listeners {
					if ol.Name == l.Name {
						old = ol.Conditions
					}
				}
				l.Conditions = mergeConditions(old, l.Conditions, now)
				next.Listeners[i] = l
			}
			if equalStatus(cur.Status, next) {
				return false
			}
			cur.Status = next
			return true
		}))
	}

	controller := gwv1.GatewayController(r.tOpts.ControllerName)
	routeParents := func(list []gatewayapi.RouteStatus) map[nsName][]gwv1.RouteParentStatus {
		m := map[nsName][]gwv1.RouteParentStatus{}
		for _, s := range list {
			m[nsName{s.Namespace, s.Name}] = s.Parents
		}
		return m
	}
	// mergeParents keeps other controllers' entries and replaces ours.
	mergeParents := func(old, want []gwv1.RouteParentStatus) []gwv1.RouteParentStatus {
		var out []gwv1.RouteParentStatus
		for _, p := range old {
			if p.ControllerName != controller {
				out = append(out, p)
			}
		}
		for _, p := range want {
			var oldConds []metav1.Condition
			for _, op := range old {
				if op.ControllerName == controller && equalStatus(op.ParentRef, p.ParentRef) {
					oldConds = op.Conditions
				}
			}
			p.Conditions = mergeConditions(oldConds, p.Conditions, now)
			out = append(out, p)
		}
		return out
	}
	http, grpc, tls := routeParents(st.HTTPRoutes), routeParents(st.GRPCRoutes), routeParents(st.TLSRoutes)
	for _, rt := range in.HTTPRoutes {
		want := http[nsName{rt.Namespace, rt.Name}]
		add(r.updateStatus(ctx, rt, func(o client.Object) bool {
			cur := o.(*gwv1.HTTPRoute)
			return setParents(&cur.Status.Parents, mergeParents(cur.Status.Parents, want))
		}))
	}
	for _, rt := range in.GRPCRoutes {
		want := grpc[nsName{rt.Namespace, rt.Name}]
		add(r.updateStatus(ctx, rt, func(o client.Object) bool {
			cur := o.(*gwv1.GRPCRoute)
			return setParents(&cur.Status.Parents, mergeParents(cur.Status.Parents, want))
		}))
	}
	for _, rt := range in.TLSRoutes {
		want := tls[nsName{rt.Namespace, rt.Name}]
		add(r.updateStatus(ctx, rt, func(o client.Object) bool {
			cur := o.(*gwv1.TLSRoute)
			return setParents(&cur.Status.Parents, mergeParents(cur.Status.Parents, want))
		}))
	}

	ancestors := map[nsName][]gwv1.PolicyAncestorStatus{}
	for _, p := range st.LocalRateLimitPolicies {
		ancestors[nsName{p.Namespace, p.Name}] = p.Status.Ancestors
	}
	for _, pol := range in.LocalRateLimitPolicies {
		want := ancestors[nsName{pol.Namespace, pol.Name}]
		add(r.updateStatus(ctx, pol, func(o client.Object) bool {
			cur := o.(*v1alpha1.LocalRateLimitPolicy)
			var next []gwv1.PolicyAncestorStatus
			for _, a := range cur.Status.Ancestors {
				if a.ControllerName != controller {
					next = append(next, a)
				}
			}
			for _, a := range want {
				var oldConds []metav1.Condition
				for _, oa := range cur.Status.Ancestors {
					if oa.ControllerName == controller && equalStatus(oa.AncestorRef, a.AncestorRef) {
						oldConds = oa.Conditions
					}
				}
				a.Conditions = mergeConditions(oldConds, a.Conditions, now)
				next = append(next, a)
			}
			if equalStatus(cur.Status.Ancestors, next) {
				return false
			}
			cur.Status.Ancestors = next
			return true
		}))
	}
	return errs
}

// setParents stores next in *parents when it differs.
func setParents(parents *[]gwv1.RouteParentStatus, next []gwv1.RouteParentStatus) bool {
	if len(*parents) == 0 && len(next) == 0 {
		return false
	}
	if equalStatus(*parents, next) {
		return false
	}
	*parents = next
	return true
}

// maxMessage is the longest message a condition may have (the API
// server's limit).
const maxMessage = 32768

// rejected returns conds with the Programmed condition False, reason
// Invalid, when the data plane rejected the Gateway's configuration
// (rejections, one description each); its message lists the rejections,
// then what the translation said when it was False already. conds is not
// modified.
func rejected(conds []metav1.Condition, rejections []string, generation int64) []metav1.Condition {
	if len(rejections) == 0 {
		return conds
	}
	list := slices.Clone(rejections)
	slices.Sort(list)
	msg := "The data plane rejected the configuration: " + strings.Join(list, "; ")
	out := slices.Clone(conds)
	i := slices.IndexFunc(out, func(c metav1.Condition) bool { return c.Type == string(gwv1.GatewayConditionProgrammed) })
	if i < 0 {
		out = append(out, metav1.Condition{Type: string(gwv1.GatewayConditionProgrammed), ObservedGeneration: generation})
		i = len(out) - 1
	} else if out[i].Status == metav1.ConditionFalse && out[i].Message != "" {
		msg += ". Also: " + out[i].Message
	}
	if len(msg) > maxMessage {
		n := maxMessage - len("...")
		for n > 0 && !utf8.RuneStart(msg[n]) {
			n--
		}
		msg = msg[:n] + "..."
	}
	out[i].Status = metav1.ConditionFalse
	out[i].Reason = string(gwv1.GatewayReasonInvalid)
	out[i].Message = msg
	return out
}
