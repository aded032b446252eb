package gatewayapi_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/eniway/eniway/gatewayapi"
)

// picker draws small choices from fuzz bytes.
type picker struct{ b []byte }

func (p *picker) n(k int) int {
	if len(p.b) == 0 || k <= 0 {
		return 0
	}
	v := int(p.b[0]) % k
	p.b = p.b[1:]
	return v
}

func pick[T any](p *picker, opts ...T) T { return opts[p.n(len(opts))] }

// fuzzInput builds an object set from data: pools of names, hostnames,
// paths and kinds small enough that objects refer to each other often,
// including invalid values.
func fuzzInput(data []byte) *gatewayapi.Input {
	p := &picker{b: data}
	nss := []string{"default", "infra", "team-a", "team-b"}
	hosts := []string{"", "a.example.com", "*.example.com", "*.a.example.com", "b.example.com", "example.com", "*", "Bad_Host", "10.0.0.1"}
	paths := []string{"/", "/api", "/api/v1", "/api/", "api", "//x", "/(", "/a.b"}
	in := &gatewayapi.Input{}
	for i := range 1 + p.n(2) {
		in.GatewayClasses = append(in.GatewayClasses, &gwv1.GatewayClass{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c%d", i)},
			Spec:       gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(pick(p, gatewayapi.DefaultControllerName, "other.io/x"))},
		})
		if p.n(2) == 0 {
			ns := gwv1.Namespace("infra")
			in.GatewayClasses[i].Spec.ParametersRef = &gwv1.ParametersReference{Kind: "ConfigMap", Name: "params", Namespace: &ns}
		}
	}
	for i := range 1 + p.n(3) {
		gw := &gwv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: pick(p, nss...), Name: fmt.Sprintf("gw%d", i%2), Generation: int64(p.n(3))},
			Spec:       gwv1.GatewaySpec{GatewayClassName: gwv1.ObjectName(fmt.Sprintf("c%d", p.n(3)))},
		}
		if p.n(2) == 0 {
			gw.Spec.Infrastructure = &gwv1.GatewayInfrastructure{
				Labels:      map[gwv1.LabelKey]gwv1.LabelValue{"team": "a"},
				Annotations: map[gwv1.AnnotationKey]gwv1.AnnotationValue{"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
			}
		}
		if p.n(2) == 0 {
			gw.Annotations = map[string]string{"service.beta.kubernetes.io/aws-load-balancer-type": "nlb", "other": "x"}
		}
		for j := range 1 + p.n(4) {
			l := gwv1.Listener{
				Name:     gwv1.SectionName(fmt.Sprintf("l%d", j%3)),
				Port:     gwv1.PortNumber(pick(p, 80, 443, 8080, 0)),
				Protocol: gwv1.ProtocolType(pick(p, "HTTP", "HTTPS", "TLS", "TCP")),
			}
			if h := pick(p, hosts...); h != "" {
				l.Hostname = ptr.To(gwv1.Hostname(h))
			}
			from := gwv1.FromNamespaces(pick(p, "Same", "All", "Selector", "Bogus"))
			l.AllowedRoutes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &from}}
			if from == "Selector" && p.n(2) == 0 {
				l.AllowedRoutes.Namespaces.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
			}
			if p.n(3) == 0 {
				l.AllowedRoutes.Kinds = []gwv1.RouteGroupKind{{Kind: gwv1.Kind(pick(p, "HTTPRoute", "GRPCRoute", "TLSRoute", "Foo"))}}
			}
			if l.Protocol != "HTTP" || p.n(4) == 0 {
				l.TLS = &gwv1.ListenerTLSConfig{Mode: ptr.To(gwv1.TLSModeType(pick(p, "Terminate", "Passthrough"))),
					CertificateRefs: []gwv1.SecretObjectReference{{Name: "cert", Namespace: ptr.To(gwv1.Namespace(pick(p, nss...)))}}}
			}
			gw.Spec.Listeners = append(gw.Spec.Listeners, l)
		}
		in.Gateways = append(in.Gateways, gw)
	}
	for i := range p.n(6) {
		r := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{
			Namespace: pick(p, nss...), Name: fmt.Sprintf("r%d", i%4),
			CreationTimestamp: metav1.NewTime(time.Unix(int64(p.n(3)), 0)),
		}}
		for range 1 + p.n(2) {
			ref := gwv1.ParentReference{Name: gwv1.ObjectName(fmt.Sprintf("gw%d", p.n(2))), Namespace: ptr.To(gwv1.Namespace(pick(p, nss...)))}
			if p.n(3) == 0 {
				ref.SectionName = ptr.To(gwv1.SectionName(fmt.Sprintf("l%d", p.n(4))))
			}
			if p.n(4) == 0 {
				ref.Port = ptr.To(gwv1.PortNumber(pick(p, 80, 443)))
			}
			r.Spec.ParentRefs = append(r.Spec.ParentRefs, ref)
		}
		for range p.n(3) {
			r.Spec.Hostnames = append(r.Spec.Hostnames, gwv1.Hostname(pick(p, hosts[1:]...)))
		}
		for range p.n(3) {
			rule := gwv1.HTTPRouteRule{}
			for range p.n(3) {
				m := gwv1.HTTPRouteMatch{Path: &gwv1.HTTPPathMatch{
					Type:  ptr.To(gwv1.PathMatchType(pick(p, "PathPrefix", "Exact", "RegularExpression"))),
					Value: ptr.To(pick(p, paths...)),
				}}
				if p.n(2) == 0 {
					m.Headers = []gwv1.HTTPHeaderMatch{{Name: "x-a", Value: "1"}, {Name: "X-A", Value: "2"}}
				}
				if p.n(3) == 0 {
					m.Method = ptr.To(gwv1.HTTPMethodGet)
				}
				rule.Matches = append(rule.Matches, m)
			}
			for range p.n(3) {
				switch p.n(5) {
				case 0:
					rule.Filters = append(rule.Filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwv1.HTTPURLRewriteFilter{
						Path: &gwv1.HTTPPathModifier{Type: gwv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptr.To("/new")}}})
				case 1:
					rule.Filters = append(rule.Filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gwv1.HTTPRequestRedirectFilter{
						StatusCode: ptr.To(pick(p, 301, 302, 304))}})
				case 2:
					rule.Filters = append(rule.Filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwv1.HTTPHeaderFilter{
						Set: []gwv1.HTTPHeader{{Name: "a", Value: "1"}}, Add: []gwv1.HTTPHeader{{Name: gwv1.HTTPHeaderName(pick(p, "b", "A", "bad header")), Value: "2"}}}})
				case 3:
					rule.Filters = append(rule.Filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterRequestMirror, RequestMirror: &gwv1.HTTPRequestMirrorFilter{
						BackendRef: gwv1.BackendObjectReference{Name: "svc", Port: ptr.To(gwv1.PortNumber(80))}, Percent: ptr.To(int32(p.n(150)))}})
				default:
					rule.Filters = append(rule.Filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterCORS})
				}
			}
			for range p.n(4) {
				ref := gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{
					BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(pick(p, "svc", "missing")), Port: ptr.To(gwv1.PortNumber(pick(p, 80, 81)))},
					Weight:                 ptr.To(int32(p.n(4))),
				}}
				if p.n(3) == 0 {
					ref.Namespace = ptr.To(gwv1.Namespace(pick(p, nss...)))
				}
				if p.n(5) == 0 {
					ref.Kind = ptr.To(gwv1.Kind("Pod"))
				}
				rule.BackendRefs = append(rule.BackendRefs, ref)
			}
			r.Spec.Rules = append(r.Spec.Rules, rule)
		}
		in.HTTPRoutes = append(in.HTTPRoutes, r)
	}
	for range p.n(3) {
		in.ReferenceGrants = append(in.ReferenceGrants, &gwv1.ReferenceGrant{
			ObjectMeta: metav1.ObjectMeta{Namespace: pick(p, nss...), Name: "g"},
			Spec: gwv1.ReferenceGrantSpec{
				From: []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: gwv1.Kind(pick(p, "HTTPRoute", "Gateway")), Namespace: gwv1.Namespace(pick(p, nss...))}},
				To:   []gwv1.ReferenceGrantTo{{Kind: gwv1.Kind(pick(p, "Service", "Secret"))}},
			},
		})
	}
	if p.n(2) == 0 {
		in.ConfigMaps = append(in.ConfigMaps, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "params"},
			Data: map[string]string{
				pick(p, "serviceType", "serviceAnnotations", "serviceLabels", "bogus"): pick(p, "LoadBalancer", "a: b", "[", "x: {y: z}"),
			},
		})
	}
	for _, ns := range nss {
		in.Namespaces = append(in.Namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": pick(p, "a", "b")}}})
		if p.n(2) == 0 {
			in.Services = append(in.Services, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "svc"},
				Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, AppProtocol: ptr.To(pick(p, "http", "kubernetes.io/h2c", "weird"))}}},
			})
			in.EndpointSlices = append(in.EndpointSlices, &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: "svc-x", Labels: map[string]string{discoveryv1.LabelServiceName: "svc"}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080))}},
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1", pick(p, "10.0.0.2", "bogus", "10.0.0.1")}}},
			})
		}
	}
	return in
}

// FuzzTranslate checks that translation of random object sets never
// panics, is deterministic, and only reports *ObjectErrors.
func FuzzTranslate(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte("the guide's gateway with a canary route and a header route"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzInput(data)
		a, errA := gatewayapi.Translate(in, gatewayapi.Options{})
		b, errB := gatewayapi.Translate(fuzzInput(data), gatewayapi.Options{})
		ja, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Fatalf("translation is not deterministic:\n%s\n%s", ja, jb)
		}
		if fmt.Sprint(errA) != fmt.Sprint(errB) {
			t.Fatalf("errors differ:\n%v\n%v", errA, errB)
		}
		if err := a.IR.Validate(); err != nil {
			t.Fatalf("Translate produced an invalid IR: %v", err)
		}
		for _, g := range a.IR.Gateways {
			for _, port := range g.Ports {
				for _, l := range port.Listeners {
					for _, vh := range l.VirtualHosts {
						for _, r := range vh.Routes {
							n := 0
							if r.Action.Redirect != nil {
								n++
							}
							if r.Action.Direct != nil {
								n++
							}
							if len(r.Action.Backends) > 0 {
								n++
							}
							if n != 1 {
								t.Fatalf("route %+v has %d actions, want exactly 1", r.Source, n)
							}
						}
					}
				}
			}
		}
	})
}
