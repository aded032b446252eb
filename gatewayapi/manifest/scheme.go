package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1a2 "sigs.k8s.io/gateway-api/apis/v1alpha2"
	gwv1a3 "sigs.k8s.io/gateway-api/apis/v1alpha3"
	gwv1b1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/eniway/eniway/gatewayapi"
	"github.com/eniway/eniway/gatewayapi/apis/v1alpha1"
)

// scheme holds the types decoded: core/v1, discovery.k8s.io/v1, every
// version of gateway.networking.k8s.io that gateway-api v1.6.3 has Go types
// for, and eniway's gateway.eniway.io/v1alpha1 policies. It is built once, on first use, and only read after that.
var scheme = sync.OnceValue(func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, install := range []func(*runtime.Scheme) error{
		corev1.AddToScheme,
		discoveryv1.AddToScheme,
		gwv1.Install,
		gwv1b1.Install,
		gwv1a2.Install,
		gwv1a3.Install,
		v1alpha1.AddToScheme,
	} {
		if err := install(s); err != nil {
			panic(fmt.Sprintf("manifest: build scheme: %v", err))
		}
	}
	return s
})

// consumedKind reports whether the translator reads objects of gk (they go
// in the Input) and whether they are cluster-scoped.
func consumedKind(gk schema.GroupKind) (consumed, clusterScoped bool) {
	switch gk.Group {
	case gwv1.GroupName:
		switch gk.Kind {
		case "GatewayClass":
			return true, true
		case "Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute", "ReferenceGrant":
			return true, false
		}
	case corev1.GroupName:
		switch gk.Kind {
		case "Namespace":
			return true, true
		case "Service", "Secret", "ConfigMap":
			return true, false
		}
	case discoveryv1.GroupName:
		return gk.Kind == "EndpointSlice", false
	case v1alpha1.GroupName:
		return gk.Kind == v1alpha1.KindLocalRateLimitPolicy, false
	}
	return false, false
}

// v1Object is what every consumed v1 type is.
type v1Object interface {
	runtime.Object
	metav1.Object
}

// toV1 converts an object of an older Gateway API version to its v1 type.
// Most are Go type definitions of the v1 struct and convert as pointers;
// v1alpha2 TLSRoute has its own spec struct and converts through JSON,
// strictly, so that a field v1 lacks is an error rather than lost.
func toV1(obj runtime.Object) (v1Object, error) {
	switch o := obj.(type) {
	case *gwv1b1.GatewayClass:
		return (*gwv1.GatewayClass)(o), nil
	case *gwv1b1.Gateway:
		return (*gwv1.Gateway)(o), nil
	case *gwv1b1.HTTPRoute:
		return (*gwv1.HTTPRoute)(o), nil
	case *gwv1b1.ReferenceGrant:
		return (*gwv1.ReferenceGrant)(o), nil
	case *gwv1a2.ReferenceGrant:
		return (*gwv1.ReferenceGrant)(o), nil
	case *gwv1a2.GRPCRoute:
		return (*gwv1.GRPCRoute)(o), nil
	case *gwv1a3.TLSRoute:
		return (*gwv1.TLSRoute)(o), nil
	case *gwv1a2.TLSRoute:
		b, err := json.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("convert TLSRoute to v1: %w", err)
		}
		out := new(gwv1.TLSRoute)
		strict, err := kjson.UnmarshalStrict(b, out)
		if err == nil {
			err = errors.Join(strict...)
		}
		if err != nil {
			return nil, fmt.Errorf("convert TLSRoute to v1: %w", err)
		}
		return out, nil
	case v1Object:
		return o, nil
	}
	return nil, fmt.Errorf("unexpected type %T", obj)
}

// add appends a v1 object to the matching slice of in.
func add(in *gatewayapi.Input, obj v1Object) {
	switch o := obj.(type) {
	case *gwv1.GatewayClass:
		in.GatewayClasses = append(in.GatewayClasses, o)
	case *gwv1.Gateway:
		in.Gateways = append(in.Gateways, o)
	case *gwv1.HTTPRoute:
		in.HTTPRoutes = append(in.HTTPRoutes, o)
	case *gwv1.GRPCRoute:
		in.GRPCRoutes = append(in.GRPCRoutes, o)
	case *gwv1.TLSRoute:
		in.TLSRoutes = append(in.TLSRoutes, o)
	case *gwv1.ReferenceGrant:
		in.ReferenceGrants = append(in.ReferenceGrants, o)
	case *corev1.Namespace:
		in.Namespaces = append(in.Namespaces, o)
	case *corev1.Service:
		in.Services = append(in.Services, o)
	case *corev1.Secret:
		in.Secrets = append(in.Secrets, o)
	case *corev1.ConfigMap:
		in.ConfigMaps = append(in.ConfigMaps, o)
	case *discoveryv1.EndpointSlice:
		in.EndpointSlices = append(in.EndpointSlices, o)
	case *v1alpha1.LocalRateLimitPolicy:
		in.LocalRateLimitPolicies = append(in.LocalRateLimitPolicies, o)
	}
}
