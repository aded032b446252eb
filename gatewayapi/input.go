package gatewayapi

import (
	"fmt"
	"net/netip"
	"regexp"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/eniway/eniway/gatewayapi/apis/v1alpha1"
)

// DefaultControllerName is the controllerName a GatewayClass names to be
// handled by eniway when Options.ControllerName is empty.
const DefaultControllerName = "eniway.io/gateway-controller"

// Input is everything a translation reads. Objects may be in any order and
// the translator never modifies them. Objects of other classes and
// unrelated objects are allowed and ignored.
type Input struct {
	GatewayClasses  []*gwv1.GatewayClass
	Gateways        []*gwv1.Gateway
	HTTPRoutes      []*gwv1.HTTPRoute
	GRPCRoutes      []*gwv1.GRPCRoute
	TLSRoutes       []*gwv1.TLSRoute
	ReferenceGrants []*gwv1.ReferenceGrant
	Namespaces      []*corev1.Namespace
	Services        []*corev1.Service
	EndpointSlices  []*discoveryv1.EndpointSlice
	Secrets         []*corev1.Secret
	// ConfigMaps hold GatewayClass parameters (parametersRef to a ConfigMap).
	ConfigMaps []*corev1.ConfigMap
	// LocalRateLimitPolicies limit request rates of Gateways and routes.
	LocalRateLimitPolicies []*v1alpha1.LocalRateLimitPolicy
	// BundleVersion is the gateway.networking.k8s.io/bundle-version of the
	// installed CRDs, checked for GatewayClass SupportedVersion; "" (YAML
	// files without a cluster) counts as supported.
	BundleVersion string
}

// Options configure a translation. The zero value is valid.
type Options struct {
	// ControllerName selects the GatewayClasses to handle
	// (DefaultControllerName when empty).
	ControllerName string
	// Now stamps lastTransitionTime of the conditions the translator writes;
	// the zero time keeps output byte-identical across runs. Controllers
	// keep the old timestamp of a condition whose status did not change.
	Now time.Time
	// Addresses are reported in a Gateway's status when its generated
	// Service has no load-balancer address (for example a gateway served on
	// the node itself). Without either, Programmed is False with reason
	// AddressNotAssigned.
	Addresses []netip.Addr
	// ServiceSelector selects the pods that serve Gateways (the l7 proxy):
	// the generated Services' selector. Nil leaves the Services without a
	// selector, for deployments that manage their endpoints themselves (as
	// a node-level proxy behind eBPF redirection does).
	ServiceSelector map[string]string
}

var controllerNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$`)

// Validate reports an invalid option as an *OptionError.
func (o Options) Validate() error {
	if o.ControllerName != "" && !controllerNameRE.MatchString(o.ControllerName) {
		return &OptionError{Field: "ControllerName", Value: o.ControllerName, Reason: "must be a domain-prefixed path such as example.com/gateway-controller"}
	}
	for i, a := range o.Addresses {
		if !a.IsValid() {
			return &OptionError{Field: fmt.Sprintf("Addresses[%d]", i), Value: a.String(), Reason: "invalid address"}
		}
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.ControllerName == "" {
		o.ControllerName = DefaultControllerName
	}
	return o
}
