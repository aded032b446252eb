package gatewayapi

import (
	"cmp"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

type gatewayState struct {
	gw        *gwv1.Gateway
	key       string
	class     *classState
	accepted  bool
	listeners []*listenerState
	ir        *Gateway
}

type listenerState struct {
	gw       *gatewayState
	index    int
	spec     gwv1.Listener
	name     string
	hostname string
	protocol Protocol
	// valid: accepted, not conflicted, refs good enough to program.
	accepted   bool
	conflicted bool
	programmed bool
	conds      conds
	kinds      []gwv1.RouteGroupKind
	from       gwv1.FromNamespaces
	selector   labels.Selector
	// attachedRoutes holds kind/namespace/name of every route attached.
	attachedRoutes map[string]bool
	tls            *ListenerTLS
	// vhosts collects routes by intersected hostname.
	vhosts    map[string][]*routeEntry
	tlsRoutes []*tlsEntry
	rateLimit *RateLimit
	// rateLimitOnSection: rateLimit came from a policy naming this
	// listener, which a policy on the whole Gateway does not override.
	rateLimitOnSection bool
}

// tlsEntry is a TLS passthrough route with its route's creation time.
type tlsEntry struct {
	route   *TLSPassthroughRoute
	created metav1.Time
}

// routeEntry is a Route with what precedence needs to order it.
type routeEntry struct {
	route   *Route
	created metav1.Time
}

func (t *translator) gateways() {
	list := slices.Clone(t.in.Gateways)
	list = slices.DeleteFunc(list, func(g *gwv1.Gateway) bool {
		return g == nil || t.classState[string(g.Spec.GatewayClassName)] == nil
	})
	slices.SortFunc(list, func(a, b *gwv1.Gateway) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	for _, gw := range list {
		g := &gatewayState{gw: gw, key: gw.Namespace + "/" + gw.Name, class: t.classState[string(gw.Spec.GatewayClassName)]}
		t.gws[nn(gw.Namespace, gw.Name)] = g
		t.gwOrder = append(t.gwOrder, g)
		g.accepted = g.class.accepted
		for i, l := range gw.Spec.Listeners {
			g.listeners = append(g.listeners, t.listener(g, i, l))
		}
		t.conflicts(g)
	}
}

var hostnameRE = regexp.MustCompile(`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// validHostname checks a listener or route hostname: a lower-case DNS name,
// optionally with a leading "*." label, not an IP address.
func validHostname(h string) error {
	if len(h) > 253 || !hostnameRE.MatchString(h) {
		return fmt.Errorf("hostname %q: %w: must be a lower-case DNS name, optionally with a leading wildcard label (*.example.com)", h, ErrInvalid)
	}
	if strings.Trim(h, "0123456789.") == "" {
		return fmt.Errorf("hostname %q: %w: IP addresses are not allowed", h, ErrInvalid)
	}
	return nil
}

func (t *translator) listener(g *gatewayState, i int, l gwv1.Listener) *listenerState {
	gw := g.gw
	ls := &listenerState{
		gw: g, index: i, spec: l, name: string(l.Name), protocol: Protocol(l.Protocol),
		accepted: true, conds: conds{gen: gw.Generation, now: t.now},
		from: gwv1.NamespacesFromSame, vhosts: map[string][]*routeEntry{}, attachedRoutes: map[string]bool{},
	}
	if l.Hostname != nil {
		ls.hostname = string(*l.Hostname)
	}
	field := fmt.Sprintf("spec.listeners[%d]", i)
	reject := func(f string, reason gwv1.ListenerConditionReason, msg string, sentinel error) {
		ls.accepted = false
		ls.conds.set(string(gwv1.ListenerConditionAccepted), false, string(reason), msg)
		t.fail("Gateway", gw.Namespace, gw.Name, field+f, string(reason), msg, sentinel)
	}
	resolvedOK, resolvedReason, resolvedMsg := true, gwv1.ListenerReasonResolvedRefs, "All references resolved"
	unresolved := func(f string, reason gwv1.ListenerConditionReason, msg string, sentinel error) {
		if resolvedOK {
			resolvedOK, resolvedReason, resolvedMsg = false, reason, msg
		}
		t.fail("Gateway", gw.Namespace, gw.Name, field+f, string(reason), msg, sentinel)
	}

	switch ls.protocol {
	case ProtocolHTTP, ProtocolHTTPS, ProtocolTLS:
	default:
		reject(".protocol", gwv1.ListenerReasonUnsupportedProtocol, fmt.Sprintf("protocol %s is not supported (HTTP, HTTPS and TLS are)", l.Protocol), ErrNotSupported)
	}
	if l.Port < 1 || l.Port > 65535 {
		reject(".port", gwv1.ListenerReasonPortUnavailable, fmt.Sprintf("port %d is out of range", l.Port), ErrInvalid)
	}
	if ls.hostname != "" {
		if err := validHostname(ls.hostname); err != nil {
			reject(".hostname", gwv1.ListenerReasonUnsupportedValue, err.Error(), ErrInvalid)
		}
	}

	// TLS.
	mode := gwv1.TLSModeTerminate
	if l.TLS != nil && l.TLS.Mode != nil {
		mode = *l.TLS.Mode
	}
	switch ls.protocol {
	case ProtocolHTTP:
		if l.TLS != nil {
			reject(".tls", gwv1.ListenerReasonUnsupportedValue, "tls must not be set on an HTTP listener", ErrInvalid)
		}
	case ProtocolHTTPS:
		switch {
		case l.TLS == nil:
			reject(".tls", gwv1.ListenerReasonUnsupportedValue, "an HTTPS listener needs tls with certificateRefs", ErrInvalid)
		case mode != gwv1.TLSModeTerminate:
			reject(".tls.mode", gwv1.ListenerReasonUnsupportedValue, "an HTTPS listener must terminate TLS (mode Terminate)", ErrInvalid)
		case len(l.TLS.CertificateRefs) == 0:
			reject(".tls.certificateRefs", gwv1.ListenerReasonUnsupportedValue, "an HTTPS listener needs at least one certificateRef", ErrInvalid)
		default:
			ls.tls = &ListenerTLS{Options: map[string]string{}}
			for k, v := range l.TLS.Options {
				ls.tls.Options[string(k)] = string(v)
			}
			if len(ls.tls.Options) == 0 {
				ls.tls.Options = nil
			}
			for j, ref := range l.TLS.CertificateRefs {
				cert, reason, err := t.certificate(gw, ref)
				if err != nil {
					unresolved(fmt.Sprintf(".tls.certificateRefs[%d]", j), reason, err.Error(), sentinelOf(err))
					continue
				}
				ls.tls.Certificates = append(ls.tls.Certificates, cert)
			}
		}
	case ProtocolTLS:
		if mode != gwv1.TLSModePassthrough {
			reject(".tls.mode", gwv1.ListenerReasonUnsupportedValue, "TLS listeners support mode Passthrough only", ErrNotSupported)
		}
	}

	// Allowed routes.
	valid := validKinds(ls.protocol)
	if ar := l.AllowedRoutes; ar != nil {
		if ar.Namespaces != nil && ar.Namespaces.From != nil {
			ls.from = *ar.Namespaces.From
		}
		switch ls.from {
		case gwv1.NamespacesFromSame, gwv1.NamespacesFromAll:
		case gwv1.NamespacesFromSelector:
			var sel labels.Selector
			var err error
			if ar.Namespaces.Selector == nil {
				err = fmt.Errorf("%w: from Selector needs a selector", ErrInvalid)
			} else {
				sel, err = metav1.LabelSelectorAsSelector(ar.Namespaces.Selector)
			}
			if err != nil {
				reject(".allowedRoutes.namespaces.selector", gwv1.ListenerReasonUnsupportedValue, "invalid namespace selector: "+err.Error(), ErrInvalid)
			}
			ls.selector = sel
		default:
			reject(".allowedRoutes.namespaces.from", gwv1.ListenerReasonUnsupportedValue, fmt.Sprintf("from %q is not supported", ls.from), ErrNotSupported)
		}
		if len(ar.Kinds) > 0 {
			ls.kinds = []gwv1.RouteGroupKind{}
			for j, k := range ar.Kinds {
				group := gwv1.Group(gvGroup)
				if k.Group != nil {
					group = *k.Group
				}
				if group == gvGroup && slices.Contains(valid, RouteKind(k.Kind)) {
					if !slices.ContainsFunc(ls.kinds, func(x gwv1.RouteGroupKind) bool { return x.Kind == k.Kind }) {
						ls.kinds = append(ls.kinds, rgk(RouteKind(k.Kind)))
					}
					continue
				}
				unresolved(fmt.Sprintf(".allowedRoutes.kinds[%d]", j), gwv1.ListenerReasonInvalidRouteKinds,
					fmt.Sprintf("route kind %s is not supported on an %s listener", groupKind(string(group), string(k.Kind)), ls.protocol), ErrNotSupported)
			}
		}
	}
	if ls.kinds == nil {
		for _, k := range valid {
			ls.kinds = append(ls.kinds, rgk(k))
		}
	}

	if ls.accepted {
		ls.conds.set(string(gwv1.ListenerConditionAccepted), true, string(gwv1.ListenerReasonAccepted), "Listener accepted")
	}
	ls.conds.set(string(gwv1.ListenerConditionResolvedRefs), resolvedOK, string(resolvedReason), resolvedMsg)
	ls.programmed = ls.accepted && !(ls.tls != nil && len(ls.tls.Certificates) == 0) && len(ls.kinds) > 0
	return ls
}

func rgk(k RouteKind) gwv1.RouteGroupKind {
	g := gwv1.Group(gvGroup)
	return gwv1.RouteGroupKind{Group: &g, Kind: gwv1.Kind(k)}
}

func validKinds(p Protocol) []RouteKind {
	switch p {
	case ProtocolHTTP, ProtocolHTTPS:
		return []RouteKind{KindHTTPRoute, KindGRPCRoute}
	case ProtocolTLS:
		return []RouteKind{KindTLSRoute}
	}
	return nil
}

// groupKind formats a kind as Kubernetes does: Kind for the core group,
// Kind.group otherwise.
func groupKind(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}

// sentinelOf returns the package sentinel err wraps.
func sentinelOf(err error) error {
	for _, s := range []error{ErrNotPermitted, ErrNotFound, ErrNotSupported, ErrConflict} {
		if errors.Is(err, s) {
			return s
		}
	}
	return ErrInvalid
}

// certificate resolves one certificateRef of an HTTPS listener.
func (t *translator) certificate(gw *gwv1.Gateway, ref gwv1.SecretObjectReference) (*Certificate, gwv1.ListenerConditionReason, error) {
	group, kind := "", "Secret"
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	ns := gw.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	name := ns + "/" + string(ref.Name)
	if group != "" || kind != "Secret" {
		return nil, gwv1.ListenerReasonInvalidCertificateRef, fmt.Errorf("certificateRef %s: kind %s: %w: only core Secrets are supported", name, groupKind(group, kind), ErrNotSupported)
	}
	if !t.granted(gvGroup, "Gateway", gw.Namespace, "", "Secret", ns, string(ref.Name)) {
		return nil, gwv1.ListenerReasonRefNotPermitted, fmt.Errorf("certificateRef Secret %s: %w: no ReferenceGrant in %s allows Gateways from %s", name, ErrNotPermitted, ns, gw.Namespace)
	}
	s := t.secrets[nn(ns, string(ref.Name))]
	if s == nil {
		return nil, gwv1.ListenerReasonInvalidCertificateRef, fmt.Errorf("certificateRef Secret %s: %w", name, ErrNotFound)
	}
	crt, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(key) == 0 {
		return nil, gwv1.ListenerReasonInvalidCertificateRef, fmt.Errorf("certificateRef Secret %s: %w: needs data %s and %s", name, ErrInvalid, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		return nil, gwv1.ListenerReasonInvalidCertificateRef, fmt.Errorf("certificateRef Secret %s: %w: %v", name, ErrInvalid, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, gwv1.ListenerReasonInvalidCertificateRef, fmt.Errorf("certificateRef Secret %s: %w: %v", name, ErrInvalid, err)
	}
	sum := sha256.New()
	sum.Write(crt)
	sum.Write([]byte{0})
	sum.Write(key)
	return &Certificate{
		Name: name, DNSNames: slices.Clone(leaf.DNSNames),
		CertPEM: slices.Clone(crt), KeyPEM: slices.Clone(key),
		SHA256: hex.EncodeToString(sum.Sum(nil)),
	}, "", nil
}

// conflicts marks listeners that cannot be told apart: on one port, HTTP
// cannot share with HTTPS or TLS (ProtocolConflict), and two listeners of
// one family with the same hostname conflict (HostnameConflict).
func (t *translator) conflicts(g *gatewayState) {
	family := func(p Protocol) Protocol {
		if p == ProtocolTLS {
			return ProtocolHTTPS
		}
		return p
	}
	for _, a := range g.listeners {
		if !a.accepted {
			continue
		}
		var reason gwv1.ListenerConditionReason
		var other string
		for _, b := range g.listeners {
			if a == b || !b.accepted || a.spec.Port != b.spec.Port {
				continue
			}
			if family(a.protocol) != family(b.protocol) {
				reason, other = gwv1.ListenerReasonProtocolConflict, b.name
				break
			}
			if a.hostname == b.hostname && reason == "" {
				reason, other = gwv1.ListenerReasonHostnameConflict, b.name
			}
		}
		if reason == "" {
			a.conds.set(string(gwv1.ListenerConditionConflicted), false, string(gwv1.ListenerReasonNoConflicts), "No conflicts")
			continue
		}
		msg := fmt.Sprintf("listener conflicts with listener %s on port %d", other, a.spec.Port)
		a.conflicted = true
		a.conds.set(string(gwv1.ListenerConditionConflicted), true, string(reason), msg)
		t.fail("Gateway", g.gw.Namespace, g.gw.Name, fmt.Sprintf("spec.listeners[%d]", a.index), string(reason), msg, ErrConflict)
	}
	for _, l := range g.listeners {
		if l.conflicted {
			l.accepted = false
			l.programmed = false
			for _, c := range l.conds.list {
				if c.Type == string(gwv1.ListenerConditionConflicted) {
					l.conds.set(string(gwv1.ListenerConditionAccepted), false, c.Reason, "Conflicted listeners are not accepted: "+c.Message)
				}
			}
		}
	}
}

// allows reports whether the listener admits a route of kind in namespace ns.
func (t *translator) allows(l *listenerState, kind RouteKind, ns string) bool {
	if !slices.ContainsFunc(l.kinds, func(k gwv1.RouteGroupKind) bool { return RouteKind(k.Kind) == kind }) {
		return false
	}
	switch l.from {
	case gwv1.NamespacesFromAll:
		return true
	case gwv1.NamespacesFromSame:
		return ns == l.gw.gw.Namespace
	case gwv1.NamespacesFromSelector:
		if l.selector == nil {
			return false
		}
		n := t.namespaces[ns]
		var lbls labels.Set
		if n != nil {
			lbls = n.Labels
		}
		return l.selector.Matches(lbls)
	}
	return false
}

// finish builds the Gateway's IR and status once every route is attached.
func (g *gatewayState) finish(t *translator) {
	gw := g.gw
	c := conds{gen: gw.Generation, now: t.now}
	var valid, invalid []string
	for _, l := range g.listeners {
		if l.accepted {
			valid = append(valid, l.name)
		} else {
			invalid = append(invalid, l.name)
		}
	}
	if len(gw.Spec.Addresses) > 0 {
		g.accepted = false
		msg := "spec.addresses is not supported: the address comes from the generated Service's load balancer"
		c.set(string(gwv1.GatewayConditionAccepted), false, string(gwv1.GatewayReasonUnsupportedAddress), msg)
		t.fail("Gateway", gw.Namespace, gw.Name, "spec.addresses", string(gwv1.GatewayReasonUnsupportedAddress), msg, ErrNotSupported)
	}
	switch {
	case !g.class.accepted:
		reason := g.class.reason
		c.set(string(gwv1.GatewayConditionAccepted), false, string(reason), fmt.Sprintf("GatewayClass %s is not accepted: %s", gw.Spec.GatewayClassName, g.class.msg))
		g.accepted = false
	case !g.accepted:
	case len(valid) == 0:
		g.accepted = false
		c.set(string(gwv1.GatewayConditionAccepted), false, string(gwv1.GatewayReasonListenersNotValid), "No valid listeners: "+strings.Join(invalid, ", "))
	case len(invalid) > 0:
		c.set(string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonListenersNotValid), "Invalid listeners: "+strings.Join(invalid, ", "))
	default:
		c.set(string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonAccepted), "Gateway accepted")
	}

	svc := t.service(g)
	addrs := t.addresses(svc)
	var programmed []*listenerState
	for _, l := range g.listeners {
		if g.accepted && l.programmed {
			programmed = append(programmed, l)
		}
	}
	switch {
	case !g.accepted:
		c.set(string(gwv1.GatewayConditionProgrammed), false, string(gwv1.GatewayReasonInvalid), "Gateway is not accepted")
	case len(programmed) == 0:
		c.set(string(gwv1.GatewayConditionProgrammed), false, string(gwv1.GatewayReasonInvalid), "No listener can be programmed")
	case len(addrs) == 0:
		c.set(string(gwv1.GatewayConditionProgrammed), false, string(gwv1.GatewayReasonAddressNotAssigned), fmt.Sprintf("Waiting for a load-balancer address on Service %s/%s", svc.Namespace, svc.Name))
	default:
		c.set(string(gwv1.GatewayConditionProgrammed), true, string(gwv1.GatewayReasonProgrammed), "Gateway programmed")
	}

	st := gwv1.GatewayStatus{Addresses: addrs, Conditions: c.list}
	for _, l := range g.listeners {
		switch {
		case g.accepted && l.programmed:
			l.conds.set(string(gwv1.ListenerConditionProgrammed), true, string(gwv1.ListenerReasonProgrammed), "Listener programmed")
		case !g.accepted:
			l.conds.set(string(gwv1.ListenerConditionProgrammed), false, string(gwv1.ListenerReasonInvalid), "The Gateway is not accepted")
		case !l.accepted:
			l.conds.set(string(gwv1.ListenerConditionProgrammed), false, string(gwv1.ListenerReasonInvalid), "The listener is not accepted")
		case l.tls != nil && len(l.tls.Certificates) == 0:
			l.conds.set(string(gwv1.ListenerConditionProgrammed), false, string(gwv1.ListenerReasonInvalid), "The listener has no valid certificate")
		default:
			l.conds.set(string(gwv1.ListenerConditionProgrammed), false, string(gwv1.ListenerReasonInvalid), "The listener admits no supported route kind")
		}
		st.Listeners = append(st.Listeners, gwv1.ListenerStatus{
			Name:           l.spec.Name,
			SupportedKinds: l.kinds,
			AttachedRoutes: int32(len(l.attachedRoutes)),
			Conditions:     orderConditions(l.conds.list, "Accepted", "Programmed", "ResolvedRefs", "Conflicted"),
		})
	}
	t.status.Gateways = append(t.status.Gateways, GatewayStatus{Namespace: gw.Namespace, Name: gw.Name, Status: st})
	if !g.accepted || len(programmed) == 0 {
		return
	}
	g.ir = &Gateway{Namespace: gw.Namespace, Name: gw.Name, Class: string(gw.Spec.GatewayClassName), Service: svc}
	t.ir.Gateways = append(t.ir.Gateways, g.ir)
	ports := map[int32]*Port{}
	for _, l := range programmed {
		p := ports[int32(l.spec.Port)]
		if p == nil {
			p = &Port{Port: int32(l.spec.Port), Protocol: ProtocolHTTP}
			if l.protocol != ProtocolHTTP {
				p.Protocol = ProtocolHTTPS
			}
			ports[p.Port] = p
		}
		p.Listeners = append(p.Listeners, l.build(programmed))
	}
	for _, p := range ports {
		slices.SortFunc(p.Listeners, func(a, b *Listener) int {
			return cmp.Or(compareHostSpecificity(a.Hostname, b.Hostname), strings.Compare(a.Name, b.Name))
		})
		g.ir.Ports = append(g.ir.Ports, p)
	}
	slices.SortFunc(g.ir.Ports, func(a, b *Port) int { return cmp.Compare(a.Port, b.Port) })
}

// orderConditions puts conditions in a fixed order.
func orderConditions(list []metav1.Condition, order ...string) []metav1.Condition {
	out := slices.Clone(list)
	slices.SortStableFunc(out, func(a, b metav1.Condition) int {
		return cmp.Compare(slices.Index(order, a.Type), slices.Index(order, b.Type))
	})
	return out
}

// build makes the IR listener: virtual hosts with listener isolation
// applied against the other programmed listeners of the same port.
func (l *listenerState) build(programmed []*listenerState) *Listener {
	out := &Listener{Name: l.name, Hostname: l.hostname, Protocol: l.protocol, TLS: l.tls, RateLimit: l.rateLimit}
	var moreSpecific []string
	for _, o := range programmed {
		if o != l && o.spec.Port == l.spec.Port && o.hostname != l.hostname && hostMatches(l.hostname, o.hostname) {
			moreSpecific = append(moreSpecific, o.hostname)
		}
	}
	owned := func(h string) bool {
		return !slices.ContainsFunc(moreSpecific, func(m string) bool { return hostMatches(m, h) })
	}
	if l.protocol == ProtocolTLS {
		// Most specific SNI first; for one hostname the oldest route, then
		// the first by namespace/name, wins.
		slices.SortStableFunc(l.tlsRoutes, func(a, b *tlsEntry) int {
			return cmp.Or(compareHostSpecificity(a.route.Hostname, b.route.Hostname), a.created.Compare(b.created.Time),
				strings.Compare(a.route.Source.Namespace, b.route.Source.Namespace), strings.Compare(a.route.Source.Name, b.route.Source.Name))
		})
		for _, e := range l.tlsRoutes {
			if owned(e.route.Hostname) {
				out.TLSRoutes = append(out.TLSRoutes, e.route)
			}
		}
		return out
	}
	if l.hostname != "" {
		if _, ok := l.vhosts[l.hostname]; !ok {
			l.vhosts[l.hostname] = nil
		}
	}
	hosts := slices.Collect(maps.Keys(l.vhosts))
	slices.SortFunc(hosts, compareHostSpecificity)
	for _, h := range hosts {
		if !owned(h) {
			continue
		}
		entries := l.vhosts[h]
		slices.SortStableFunc(entries, compareRoutes)
		vh := &VirtualHost{Hostname: h}
		for _, e := range entries {
			vh.Routes = append(vh.Routes, e.route)
		}
		out.VirtualHosts = append(out.VirtualHosts, vh)
	}
	return out
}
