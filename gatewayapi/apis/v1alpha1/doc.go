// Package v1alpha1 holds eniway's own Gateway API policy types, group
// gateway.eniway.io, version v1alpha1.
//
// LocalRateLimitPolicy limits the request rate of a Gateway (all of it or
// one listener) or of a route (all of it or one named rule), per proxy
// instance: each proxy holds its own token bucket, so with N proxies the
// Gateway admits up to N times the rate. It follows the Gateway API policy
// attachment model (GEP-713): targetRefs name the objects in the policy's
// own namespace, the policy's status has one ancestor entry per target, and
// a policy on a route overrides one on its Gateway, a policy naming a
// section overrides one naming the whole object, and between two policies
// on the same target the older wins (then the first by name).
//
// The deep-copy functions and the CRD (gatewayapi/config/crd) are generated
// by controller-gen; go generate reproduces them.
//
// +kubebuilder:object:generate=true
// +groupName=gateway.eniway.io
package v1alpha1

//go:generate go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0 object crd paths=. output:crd:dir=../../config/crd
