package gatewayapi

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Status is the status the translator computed for every object it handles,
// each list in namespace/name order. Route entries hold only this
// controller's parents; a controller merges them with other controllers'
// entries, which it must keep.
type Status struct {
	GatewayClasses []GatewayClassStatus `json:"gatewayClasses,omitempty"`
	Gateways       []GatewayStatus      `json:"gateways,omitempty"`
	HTTPRoutes     []RouteStatus        `json:"httpRoutes,omitempty"`
	GRPCRoutes     []RouteStatus        `json:"grpcRoutes,omitempty"`
	TLSRoutes      []RouteStatus        `json:"tlsRoutes,omitempty"`
	// LocalRateLimitPolicies have one ancestor entry per Gateway of this
	// controller their targets belong to.
	LocalRateLimitPolicies []PolicyStatus `json:"localRateLimitPolicies,omitempty"`
}

// GatewayClassStatus is the status of one GatewayClass of this controller.
type GatewayClassStatus struct {
	Name   string                  `json:"name"`
	Status gwv1.GatewayClassStatus `json:"status"`
}

// GatewayStatus is the status of one Gateway of this controller's classes.
type GatewayStatus struct {
	Namespace string             `json:"namespace"`
	Name      string             `json:"name"`
	Status    gwv1.GatewayStatus `json:"status"`
}

// RouteStatus holds this controller's parent entries of one route: one per
// parentRef that names a Gateway of this controller's classes.
type RouteStatus struct {
	Namespace string                   `json:"namespace"`
	Name      string                   `json:"name"`
	Parents   []gwv1.RouteParentStatus `json:"parents"`
}

// conds builds a condition list with one timestamp and generation.
type conds struct {
	gen  int64
	now  metav1.Time
	list []metav1.Condition
}

func (c *conds) set(typ string, ok bool, reason, msg string) {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	for i := range c.list {
		if c.list[i].Type == typ {
			c.list[i].Status, c.list[i].Reason, c.list[i].Message = st, reason, msg
			return
		}
	}
	c.list = append(c.list, metav1.Condition{
		Type: typ, Status: st, Reason: reason, Message: msg,
		ObservedGeneration: c.gen, LastTransitionTime: c.now,
	})
}
