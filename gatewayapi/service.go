package gatewayapi

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Labels the generated Service carries.
const (
	// LabelManagedBy marks objects this package generates.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy.
	ManagedByValue = "eniway"
)

// service builds the Service for a Gateway. Annotations come, each layer
// overriding the one before, from the GatewayClass parameters, the Gateway's
// own service.beta.kubernetes.io/ and service.kubernetes.io/ annotations (as
// the guide writes them) and spec.infrastructure.annotations; labels from
// the parameters and spec.infrastructure.labels, plus the Gateway name,
// class and managed-by labels.
func (t *translator) service(g *gatewayState) *Service {
	gw := g.gw
	svc := &Service{
		Namespace: gw.Namespace,
		Name:      serviceName(gw.Name, string(gw.Spec.GatewayClassName)),
		Type:      g.class.serviceType,
		Labels:    map[string]string{},
		Selector:  maps.Clone(t.opts.ServiceSelector),
	}
	maps.Copy(svc.Labels, g.class.labels)
	ann := maps.Clone(g.class.annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	for k, v := range gw.Annotations {
		if isServiceAnnotation(k) {
			ann[k] = v
		}
	}
	if inf := gw.Spec.Infrastructure; inf != nil {
		for k, v := range inf.Annotations {
			ann[string(k)] = string(v)
		}
		for k, v := range inf.Labels {
			svc.Labels[string(k)] = string(v)
		}
	}
	svc.Labels[gwv1.GatewayNameLabelKey] = gw.Name
	svc.Labels[gwv1.GatewayClassNameLabelKey] = string(gw.Spec.GatewayClassName)
	svc.Labels[LabelManagedBy] = ManagedByValue
	if len(ann) > 0 {
		svc.Annotations = ann
	}
	for _, l := range g.listeners {
		if l.programmed && !slices.Contains(svc.Ports, int32(l.spec.Port)) {
			svc.Ports = append(svc.Ports, int32(l.spec.Port))
		}
	}
	slices.Sort(svc.Ports)
	return svc
}

// serviceName is "<gateway>-<class>", the name GEP-1762 recommends for
// resources generated for a Gateway, shortened with a hash suffix to the 63
// characters a Service name may have.
func serviceName(gateway, class string) string {
	n := gateway + "-" + class
	if len(n) <= 63 {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	return n[:54] + "-" + hex.EncodeToString(sum[:4])
}

// addresses reports the generated Service's load-balancer addresses, or
// Options.Addresses when it has none.
func (t *translator) addresses(svc *Service) []gwv1.GatewayStatusAddress {
	var out []gwv1.GatewayStatusAddress
	ip, host := gwv1.IPAddressType, gwv1.HostnameAddressType
	if s := t.services[nn(svc.Namespace, svc.Name)]; s != nil {
		for _, ing := range s.Status.LoadBalancer.Ingress {
			switch {
			case ing.Hostname != "":
				out = append(out, gwv1.GatewayStatusAddress{Type: &host, Value: ing.Hostname})
			case ing.IP != "":
				out = append(out, gwv1.GatewayStatusAddress{Type: &ip, Value: ing.IP})
			}
		}
		if len(out) == 0 && s.Spec.Type == corev1.ServiceTypeClusterIP {
			for _, a := range s.Spec.ClusterIPs {
				if _, err := netip.ParseAddr(a); err == nil {
					out = append(out, gwv1.GatewayStatusAddress{Type: &ip, Value: a})
				}
			}
		}
	}
	if len(out) == 0 {
		for _, a := range t.opts.Addresses {
			out = append(out, gwv1.GatewayStatusAddress{Type: &ip, Value: a.String()})
		}
	}
	return out
}

// Object returns the Service as a Kubernetes object ready to apply.
func (s *Service) Object() *corev1.Service {
	o := &corev1.Service{}
	o.APIVersion, o.Kind = "v1", "Service"
	o.Namespace, o.Name = s.Namespace, s.Name
	o.Labels = maps.Clone(s.Labels)
	o.Annotations = maps.Clone(s.Annotations)
	o.Spec.Type = corev1.ServiceType(s.Type)
	o.Spec.Selector = maps.Clone(s.Selector)
	for _, p := range s.Ports {
		o.Spec.Ports = append(o.Spec.Ports, corev1.ServicePort{
			Name:       "port-" + itoa(p),
			Protocol:   corev1.ProtocolTCP,
			Port:       p,
			TargetPort: intstr.FromInt32(p),
		})
	}
	return o
}
