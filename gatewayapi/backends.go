package gatewayapi

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// backend resolves a backendRef from a route of kind fromKind in namespace
// ns to an IR backend, adding it to the IR. It returns the ResolvedRefs
// reason and an error when the reference does not resolve.
func (t *translator) backend(ns, fromKind string, ref gwv1.BackendRef, routeKind RouteKind) (string, gwv1.RouteConditionReason, error) {
	group, kind := "", "Service"
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	tns := ns
	if ref.Namespace != nil && *ref.Namespace != "" {
		tns = string(*ref.Namespace)
	}
	what := fmt.Sprintf("backendRef %s/%s", tns, ref.Name)
	if group != "" || kind != "Service" {
		return "", gwv1.RouteReasonInvalidKind, fmt.Errorf("%s: kind %s: %w: only core Services are supported", what, groupKind(group, kind), ErrNotSupported)
	}
	if !t.granted(gvGroup, fromKind, ns, "", "Service", tns, string(ref.Name)) {
		return "", gwv1.RouteReasonRefNotPermitted, fmt.Errorf("%s: %w: no ReferenceGrant in %s allows %s from %s", what, ErrNotPermitted, tns, fromKind, ns)
	}
	if ref.Port == nil {
		return "", gwv1.RouteReasonUnsupportedValue, fmt.Errorf("%s: %w: port is required for a Service", what, ErrInvalid)
	}
	svc := t.services[nn(tns, string(ref.Name))]
	if svc == nil {
		return "", gwv1.RouteReasonBackendNotFound, fmt.Errorf("%s: Service %w", what, ErrNotFound)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return "", gwv1.RouteReasonUnsupportedProtocol, fmt.Errorf("%s: %w: ExternalName Services are not supported", what, ErrNotSupported)
	}
	port := int32(*ref.Port)
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == port })
	if i < 0 {
		return "", gwv1.RouteReasonBackendNotFound, fmt.Errorf("%s: Service has no port %d: %w", what, port, ErrNotFound)
	}
	sp := svc.Spec.Ports[i]
	if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
		return "", gwv1.RouteReasonUnsupportedProtocol, fmt.Errorf("%s: port %d is %s: %w: only TCP is", what, port, sp.Protocol, ErrNotSupported)
	}
	proto, err := appProtocol(sp.AppProtocol, routeKind)
	if err != nil {
		return "", gwv1.RouteReasonUnsupportedProtocol, fmt.Errorf("%s: port %d: %w", what, port, err)
	}
	name := fmt.Sprintf("%s/%s:%d", tns, ref.Name, port)
	if b, ok := t.backends[name]; ok {
		if b.Protocol != proto {
			// One Service port used by two kinds of route (HTTP and gRPC):
			// h2c serves both.
			if (b.Protocol == AppHTTP && proto == AppH2C) || (b.Protocol == AppH2C && proto == AppHTTP) {
				b.Protocol = AppH2C
			}
		}
		return name, "", nil
	}
	b := &Backend{Name: name, Namespace: tns, Service: string(ref.Name), Port: port, Protocol: proto}
	b.Endpoints = t.endpoints(nn(tns, string(ref.Name)), sp)
	t.backends[name] = b
	return name, "", nil
}

// appProtocol maps a Service port's appProtocol to what the proxy speaks.
func appProtocol(ap *string, kind RouteKind) (AppProtocol, error) {
	v := ""
	if ap != nil {
		v = strings.ToLower(*ap)
	}
	switch {
	case kind == KindGRPCRoute && (v == "" || v == "kubernetes.io/h2c" || v == "grpc" || v == "http2"):
		return AppH2C, nil
	case kind == KindTLSRoute:
		return AppTLS, nil
	case v == "" || v == "http":
		return AppHTTP, nil
	case v == "kubernetes.io/h2c" || v == "http2" || v == "grpc":
		return AppH2C, nil
	case v == "kubernetes.io/ws":
		return AppWebSocket, nil
	}
	return "", fmt.Errorf("appProtocol %q: %w (supported: http, kubernetes.io/h2c, kubernetes.io/ws)", v, ErrNotSupported)
}

// endpoints collects the ready endpoints of a Service port from its
// EndpointSlices, matched by port name as kube-proxy does.
func (t *translator) endpoints(svc types.NamespacedName, sp corev1.ServicePort) []Endpoint {
	var out []Endpoint
	for _, s := range t.slices[svc] {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var port int32
		found := false
		for _, p := range s.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if name == sp.Name && p.Port != nil {
				port, found = *p.Port, true
				break
			}
		}
		if !found {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				addr, err := netip.ParseAddr(a)
				if err != nil || port < 1 || port > 65535 {
					continue
				}
				ep := Endpoint{Addr: netip.AddrPortFrom(addr.Unmap(), uint16(port))}
				if e.Zone != nil {
					ep.Zone = *e.Zone
				}
				if e.NodeName != nil {
					ep.Node = *e.NodeName
				}
				out = append(out, ep)
			}
		}
	}
	slices.SortFunc(out, func(a, b Endpoint) int {
		return cmp.Or(a.Addr.Compare(b.Addr), strings.Compare(a.Zone, b.Zone), strings.Compare(a.Node, b.Node))
	})
	return slices.CompactFunc(out, func(a, b Endpoint) bool { return a.Addr == b.Addr })
}

// httpBackends translates a rule's backendRefs into its action: weighted
// backends, where invalid references keep their share (answered 500), or a
// direct 500 when no weight is left.
func (t *translator) httpBackends(r objRef, refs []gwv1.HTTPBackendRef, field string, unresolved, invalid **routeProblem) Action {
	var out []*WeightedBackend
	for i, ref := range refs {
		f := fmt.Sprintf("%s.backendRefs[%d]", field, i)
		weight := int32(1)
		if ref.Weight != nil {
			weight = *ref.Weight
		}
		if weight < 0 || weight > 1000000 {
			if *invalid == nil {
				*invalid = &routeProblem{gwv1.RouteReasonUnsupportedValue, f + ".weight", fmt.Sprintf("weight %d must lie in 0 to 1000000", weight), ErrInvalid}
			}
			continue
		}
		wb := &WeightedBackend{Weight: uint32(weight)}
		name, reason, err := t.backend(r.ns, string(r.kind), ref.BackendRef, r.kind)
		if err != nil {
			t.fail(string(r.kind), r.ns, r.name, f, string(reason), err.Error(), sentinelOf(err))
			if *unresolved == nil {
				*unresolved = &routeProblem{reason, f, err.Error(), sentinelOf(err)}
			}
			wb.Invalid = string(reason)
		} else {
			wb.Backend = name
		}
		for j, bf := range ref.Filters {
			bff := fmt.Sprintf("%s.filters[%d]", f, j)
			switch {
			case bf.Type == gwv1.HTTPRouteFilterRequestHeaderModifier && bf.RequestHeaderModifier != nil:
				hm, err := headerModifier(bf.RequestHeaderModifier)
				if err != nil && *invalid == nil {
					*invalid = &routeProblem{gwv1.RouteReasonUnsupportedValue, bff, err.Error(), ErrInvalid}
				}
				wb.RequestHeaders = hm
			case bf.Type == gwv1.HTTPRouteFilterResponseHeaderModifier && bf.ResponseHeaderModifier != nil:
				hm, err := headerModifier(bf.ResponseHeaderModifier)
				if err != nil && *invalid == nil {
					*invalid = &routeProblem{gwv1.RouteReasonUnsupportedValue, bff, err.Error(), ErrInvalid}
				}
				wb.ResponseHeaders = hm
			default:
				if *invalid == nil {
					*invalid = &routeProblem{gwv1.RouteReasonIncompatibleFilters, bff, fmt.Sprintf("backend filter %s is not supported (RequestHeaderModifier and ResponseHeaderModifier are)", bf.Type), ErrNotSupported}
				}
			}
		}
		if weight > 0 {
			out = append(out, wb)
		}
	}
	if !slices.ContainsFunc(out, func(b *WeightedBackend) bool { return b.Backend != "" }) {
		reason := "no backend with weight above 0"
		if len(out) > 0 {
			reason = "no valid backend"
		}
		return Action{Direct: &DirectResponse{Status: 500, Reason: reason}}
	}
	return Action{Backends: out}
}

// compareRoutes orders routes of one virtual host by Gateway API
// precedence: Exact path, then regular expressions (longer first; their
// place is implementation-specific), then the longest PathPrefix; then a
// method match; then more header matches; then more query matches; then the
// oldest route; then namespace/name; then rule and match order.
func compareRoutes(a, b *routeEntry) int {
	ra, rb := a.route, b.route
	rank := func(p PathMatch) int {
		switch p.Type {
		case PathExact:
			return 0
		case PathRegex:
			return 1
		}
		return 2
	}
	boolRank := func(b bool) int {
		if b {
			return 0
		}
		return 1
	}
	return cmp.Or(
		cmp.Compare(rank(ra.Path), rank(rb.Path)),
		cmp.Compare(len(rb.Path.Value), len(ra.Path.Value)),
		cmp.Compare(boolRank(ra.Method != ""), boolRank(rb.Method != "")),
		cmp.Compare(len(rb.Headers), len(ra.Headers)),
		cmp.Compare(len(rb.Query), len(ra.Query)),
		a.created.Compare(b.created.Time),
		strings.Compare(ra.Source.Namespace, rb.Source.Namespace),
		strings.Compare(ra.Source.Name, rb.Source.Name),
		cmp.Compare(ra.Source.Rule, rb.Source.Rule),
		cmp.Compare(ra.Source.Match, rb.Source.Match),
	)
}
