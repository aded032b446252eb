package gatewayapi

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// Result is the output of Translate.
type Result struct {
	// IR holds every accepted Gateway of this controller's classes.
	IR *IR `json:"ir"`
	// Status holds the status of every object of this controller.
	Status *Status `json:"status"`
}

// Translate turns in into the routing model and the status of every object
// of this controller's GatewayClasses. It is pure: no I/O, no goroutines, and
// equal inputs give equal results. A problem with one object never drops the
// others: the result is always complete, and the returned error joins one
// *ObjectError per problem (each also in that object's status), or is an
// *OptionError when opts is invalid, in which case the result is nil.
func Translate(in *Input, opts Options) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if in == nil {
		in = &Input{}
	}
	t := newTranslator(in, opts.withDefaults())
	t.classes()
	t.gateways()
	t.routes()
	t.rateLimits()
	t.finish()
	return &Result{IR: t.ir, Status: t.status}, errors.Join(t.errs...)
}

// gvGroup is the Gateway API group.
const gvGroup = gwv1.GroupName

type translator struct {
	in     *Input
	opts   Options
	now    metav1.Time
	ir     *IR
	status *Status
	errs   []error

	namespaces map[string]*corev1.Namespace
	services   map[types.NamespacedName]*corev1.Service
	slices     map[types.NamespacedName][]*discoveryv1.EndpointSlice
	secrets    map[types.NamespacedName]*corev1.Secret
	configMaps map[types.NamespacedName]*corev1.ConfigMap
	grants     map[string][]*gwv1.ReferenceGrant

	classState map[string]*classState
	gws        map[types.NamespacedName]*gatewayState
	gwOrder    []*gatewayState
	backends   map[string]*Backend
	// routeParents and routeRules index accepted routes by
	// kind/namespace/name, for policy targets.
	routeParents map[string][]*gatewayState
	routeRules   map[string][]*Route
}

type classState struct {
	accepted    bool
	reason      gwv1.GatewayConditionReason
	msg         string
	annotations map[string]string
	labels      map[string]string
	serviceType string
}

func newTranslator(in *Input, opts Options) *translator {
	t := &translator{
		in: in, opts: opts, now: metav1.NewTime(opts.Now),
		ir: &IR{}, status: &Status{},
		namespaces:   map[string]*corev1.Namespace{},
		services:     map[types.NamespacedName]*corev1.Service{},
		slices:       map[types.NamespacedName][]*discoveryv1.EndpointSlice{},
		secrets:      map[types.NamespacedName]*corev1.Secret{},
		configMaps:   map[types.NamespacedName]*corev1.ConfigMap{},
		grants:       map[string][]*gwv1.ReferenceGrant{},
		classState:   map[string]*classState{},
		gws:          map[types.NamespacedName]*gatewayState{},
		backends:     map[string]*Backend{},
		routeParents: map[string][]*gatewayState{},
		routeRules:   map[string][]*Route{},
	}
	for _, o := range in.Namespaces {
		if o != nil {
			t.namespaces[o.Name] = o
		}
	}
	for _, o := range in.Services {
		if o != nil {
			t.services[nn(o.Namespace, o.Name)] = o
		}
	}
	for _, o := range in.EndpointSlices {
		if o == nil {
			continue
		}
		if svc := o.Labels[discoveryv1.LabelServiceName]; svc != "" {
			k := nn(o.Namespace, svc)
			t.slices[k] = append(t.slices[k], o)
		}
	}
	for _, o := range in.Secrets {
		if o != nil {
			t.secrets[nn(o.Namespace, o.Name)] = o
		}
	}
	for _, o := range in.ConfigMaps {
		if o != nil {
			t.configMaps[nn(o.Namespace, o.Name)] = o
		}
	}
	for _, o := range in.ReferenceGrants {
		if o != nil {
			t.grants[o.Namespace] = append(t.grants[o.Namespace], o)
		}
	}
	return t
}

func nn(ns, name string) types.NamespacedName { return types.NamespacedName{Namespace: ns, Name: name} }

func (t *translator) fail(kind, ns, name, field, reason, msg string, sentinel error) {
	t.errs = append(t.errs, &ObjectError{Kind: kind, Namespace: ns, Name: name, Field: field, Reason: reason, Message: msg, Err: sentinel})
}

// granted reports whether a ReferenceGrant in toNS lets objects of
// fromGroup/fromKind in fromNS refer to toGroup/toKind toName.
func (t *translator) granted(fromGroup, fromKind, fromNS, toGroup, toKind, toNS, toName string) bool {
	if fromNS == toNS {
		return true
	}
	for _, g := range t.grants[toNS] {
		from := slices.ContainsFunc(g.Spec.From, func(f gwv1.ReferenceGrantFrom) bool {
			return string(f.Group) == fromGroup && string(f.Kind) == fromKind && string(f.Namespace) == fromNS
		})
		if !from {
			continue
		}
		if slices.ContainsFunc(g.Spec.To, func(to gwv1.ReferenceGrantTo) bool {
			return string(to.Group) == toGroup && string(to.Kind) == toKind && (to.Name == nil || *to.Name == "" || string(*to.Name) == toName)
		}) {
			return true
		}
	}
	return false
}

// classes computes the status of this controller's GatewayClasses.
func (t *translator) classes() {
	list := slices.Clone(t.in.GatewayClasses)
	list = slices.DeleteFunc(list, func(c *gwv1.GatewayClass) bool {
		return c == nil || string(c.Spec.ControllerName) != t.opts.ControllerName
	})
	slices.SortFunc(list, func(a, b *gwv1.GatewayClass) int { return strings.Compare(a.Name, b.Name) })
	for _, gc := range list {
		st := &classState{accepted: true, serviceType: string(corev1.ServiceTypeLoadBalancer)}
		c := conds{gen: gc.Generation, now: t.now}
		versionOK, versionMsg := supportedVersion(t.in.BundleVersion)
		if p := gc.Spec.ParametersRef; p != nil {
			if err := t.classParams(gc, p, st); err != nil {
				st.accepted, st.reason, st.msg = false, gwv1.GatewayReasonInvalidParameters, err.Error()
				t.fail("GatewayClass", "", gc.Name, "spec.parametersRef", string(gwv1.GatewayClassReasonInvalidParameters), err.Error(), ErrInvalid)
			}
		}
		switch {
		case !versionOK:
			st.accepted, st.reason, st.msg = false, gwv1.GatewayReasonPending, versionMsg
			c.set(string(gwv1.GatewayClassConditionStatusAccepted), false, string(gwv1.GatewayClassReasonUnsupportedVersion), versionMsg)
			t.fail("GatewayClass", "", gc.Name, "gateway.networking.k8s.io/bundle-version", string(gwv1.GatewayClassReasonUnsupportedVersion), versionMsg, ErrNotSupported)
		case !st.accepted:
			c.set(string(gwv1.GatewayClassConditionStatusAccepted), false, string(gwv1.GatewayClassReasonInvalidParameters), st.msg)
		default:
			c.set(string(gwv1.GatewayClassConditionStatusAccepted), true, string(gwv1.GatewayClassReasonAccepted), "Handled by "+t.opts.ControllerName)
		}
		if versionOK {
			c.set(string(gwv1.GatewayClassConditionStatusSupportedVersion), true, string(gwv1.GatewayClassReasonSupportedVersion), versionMsg)
		} else {
			c.set(string(gwv1.GatewayClassConditionStatusSupportedVersion), false, string(gwv1.GatewayClassReasonUnsupportedVersion), versionMsg)
		}
		t.classState[gc.Name] = st
		t.status.GatewayClasses = append(t.status.GatewayClasses, GatewayClassStatus{
			Name:   gc.Name,
			Status: gwv1.GatewayClassStatus{Conditions: c.list},
		})
	}
}

// Keys a GatewayClass parameters ConfigMap may hold. ConfigMap keys cannot
// contain "/", so annotations and labels come as YAML maps.
const (
	// ParamServiceType is the generated Services' type: LoadBalancer (the
	// default), NodePort or ClusterIP.
	ParamServiceType = "serviceType"
	// ParamServiceAnnotations is a YAML map of annotations for every
	// generated Service of the class (a Gateway's own override them).
	ParamServiceAnnotations = "serviceAnnotations"
	// ParamServiceLabels is a YAML map of labels for every generated
	// Service of the class.
	ParamServiceLabels = "serviceLabels"
)

// classParams reads the GatewayClass parameters from a ConfigMap with the
// Param* keys.
func (t *translator) classParams(gc *gwv1.GatewayClass, p *gwv1.ParametersReference, st *classState) error {
	if p.Group != "" || p.Kind != "ConfigMap" {
		return fmt.Errorf("parametersRef kind %s: %w: only core ConfigMaps are supported", groupKind(string(p.Group), string(p.Kind)), ErrNotSupported)
	}
	if p.Namespace == nil || *p.Namespace == "" {
		return fmt.Errorf("parametersRef ConfigMap %s: %w: namespace is required", p.Name, ErrInvalid)
	}
	cm := t.configMaps[nn(string(*p.Namespace), p.Name)]
	if cm == nil {
		return fmt.Errorf("parametersRef ConfigMap %s/%s: %w", *p.Namespace, p.Name, ErrNotFound)
	}
	keys := slices.Sorted(maps.Keys(cm.Data))
	for _, k := range keys {
		v := cm.Data[k]
		switch k {
		case ParamServiceType:
			switch corev1.ServiceType(v) {
			case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort, corev1.ServiceTypeClusterIP:
				st.serviceType = v
			default:
				return fmt.Errorf("ConfigMap %s/%s data.%s %q: %w: must be LoadBalancer, NodePort or ClusterIP", cm.Namespace, cm.Name, k, v, ErrInvalid)
			}
		case ParamServiceAnnotations, ParamServiceLabels:
			m := map[string]string{}
			if err := yaml.UnmarshalStrict([]byte(v), &m); err != nil {
				return fmt.Errorf("ConfigMap %s/%s data.%s: %w: want a YAML map of strings: %v", cm.Namespace, cm.Name, k, ErrInvalid, err)
			}
			if k == ParamServiceAnnotations {
				st.annotations = m
			} else {
				st.labels = m
			}
		default:
			return fmt.Errorf("ConfigMap %s/%s data.%s: %w: unknown key (want %s, %s or %s)", cm.Namespace, cm.Name, k, ErrInvalid, ParamServiceType, ParamServiceAnnotations, ParamServiceLabels)
		}
	}
	return nil
}

func isServiceAnnotation(k string) bool {
	return strings.HasPrefix(k, "service.beta.kubernetes.io/") || strings.HasPrefix(k, "service.kubernetes.io/")
}

// supportedVersion checks the installed CRD bundle version: this package is
// built against v1.6 and accepts the v1 API of bundles v1.1 to v1.6.
func supportedVersion(v string) (bool, string) {
	if v == "" {
		return true, "CRD bundle version unknown; assuming a supported one"
	}
	var major, minor int
	if _, err := fmt.Sscanf(v, "v%d.%d", &major, &minor); err != nil {
		return false, fmt.Sprintf("CRD bundle version %q is not a version", v)
	}
	if major == 1 && minor >= 1 && minor <= 6 {
		return true, fmt.Sprintf("CRD bundle version %s is supported", v)
	}
	return false, fmt.Sprintf("CRD bundle version %s is not supported (supported: v1.1 to v1.6)", v)
}

// finish sorts the IR and status.
func (t *translator) finish() {
	for _, g := range t.gwOrder {
		g.finish(t)
	}
	// Only backends a programmed route uses: a route that was not accepted
	// resolved its references too.
	used := map[string]bool{}
	for _, g := range t.ir.Gateways {
		for name := range g.BackendNames() {
			used[name] = true
		}
	}
	names := make([]string, 0, len(t.backends))
	for n := range t.backends {
		if used[n] {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		t.ir.Backends = append(t.ir.Backends, t.backends[n])
	}
	sortRouteStatus := func(s []RouteStatus) {
		slices.SortFunc(s, func(a, b RouteStatus) int {
			return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
		})
	}
	sortRouteStatus(t.status.HTTPRoutes)
	sortRouteStatus(t.status.GRPCRoutes)
	sortRouteStatus(t.status.TLSRoutes)
}
