package gatewaytest

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/eniway/eniway/gatewayapi"
)

// ScaleInput builds n HTTPRoutes spread over 5 Gateways and 50 namespaces,
// 3 rules each (a prefix, an exact path with a header, a 90/10 split), with
// one Service and EndpointSlice (3 endpoints) per route backend.
func ScaleInput(n int) *gatewayapi.Input {
	const gateways, namespaces = 5, 50
	in := &gatewayapi.Input{}
	in.GatewayClasses = append(in.GatewayClasses, &gwv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: "eniway"},
		Spec:       gwv1.GatewayClassSpec{ControllerName: gatewayapi.DefaultControllerName},
	})
	all := gwv1.NamespacesFromAll
	for g := range gateways {
		in.Gateways = append(in.Gateways, &gwv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: fmt.Sprintf("gw-%d", g)},
			Spec: gwv1.GatewaySpec{
				GatewayClassName: "eniway",
				Listeners: []gwv1.Listener{{
					Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType,
					AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &all}},
				}},
			},
		})
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ns := fmt.Sprintf("team-%d", i%namespaces)
		name := fmt.Sprintf("route-%d", i)
		svc := func(suffix string) gwv1.HTTPBackendRef {
			return gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{
				BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name + suffix), Port: ptr.To(gwv1.PortNumber(8080))},
				Weight:                 ptr.To(int32(90)),
			}}
		}
		canary := svc("-canary")
		canary.Weight = ptr.To(int32(10))
		in.HTTPRoutes = append(in.HTTPRoutes, &gwv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(base.Add(time.Duration(i) * time.Second))},
			Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{
					Namespace: ptr.To(gwv1.Namespace("infra")), Name: gwv1.ObjectName(fmt.Sprintf("gw-%d", i%gateways)),
				}}},
				Hostnames: []gwv1.Hostname{gwv1.Hostname(fmt.Sprintf("app-%d.example.com", i%(n/10+1)))},
				Rules: []gwv1.HTTPRouteRule{
					{
						Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchPathPrefix), Value: ptr.To("/" + name)}}},
						BackendRefs: []gwv1.HTTPBackendRef{svc("")},
					},
					{
						Matches: []gwv1.HTTPRouteMatch{{
							Path:    &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchExact), Value: ptr.To("/" + name + "/exact")},
							Headers: []gwv1.HTTPHeaderMatch{{Name: "X-User-Type", Value: "beta"}},
						}},
						Filters: []gwv1.HTTPRouteFilter{{
							Type:                  gwv1.HTTPRouteFilterRequestHeaderModifier,
							RequestHeaderModifier: &gwv1.HTTPHeaderFilter{Add: []gwv1.HTTPHeader{{Name: "X-Route", Value: name}}},
						}},
						BackendRefs: []gwv1.HTTPBackendRef{svc("")},
					},
					{
						Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr.To(gwv1.PathMatchPathPrefix), Value: ptr.To("/" + name + "/v2")}}},
						BackendRefs: []gwv1.HTTPBackendRef{svc(""), canary},
					},
				},
			},
		})
		for _, s := range []string{name, name + "-canary"} {
			in.Services = append(in.Services, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: s},
				Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}},
			})
			slice := &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: s + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: s}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080))}},
			}
			for e := range 3 {
				slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
					Addresses: []string{fmt.Sprintf("10.%d.%d.%d", i%200, (i/200)%250, e+len(s)%7*3)},
				})
			}
			in.EndpointSlices = append(in.EndpointSlices, slice)
		}
	}
	return in
}
