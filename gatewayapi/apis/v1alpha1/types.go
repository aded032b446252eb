package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// GroupName is the API group of eniway's policy types.
const GroupName = "gateway.eniway.io"

// GroupVersion is the group and version of this package's types.
var GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

// AddToScheme registers this package's types with a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &LocalRateLimitPolicy{}, &LocalRateLimitPolicyList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Kind of LocalRateLimitPolicy.
const KindLocalRateLimitPolicy = "LocalRateLimitPolicy"

// LocalRateLimitPolicy limits the rate of requests to a Gateway or route
// with a token bucket in each proxy instance.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
type LocalRateLimitPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LocalRateLimitPolicySpec `json:"spec"`
	Status gwv1.PolicyStatus        `json:"status,omitempty"`
}

// LocalRateLimitPolicySpec is the limit and what it applies to.
type LocalRateLimitPolicySpec struct {
	// TargetRefs are the Gateways, HTTPRoutes and GRPCRoutes (in the
	// policy's namespace) the limit applies to; sectionName narrows a
	// Gateway target to one listener and a route target to one named rule.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	TargetRefs []gwv1.LocalPolicyTargetReferenceWithSectionName `json:"targetRefs"`

	// Requests is how many requests each Interval admits.
	// +kubebuilder:validation:Minimum=1
	Requests uint32 `json:"requests"`

	// Interval is the refill period of the bucket, a Gateway API duration
	// such as 1s or 1m (default 1s).
	// +optional
	Interval *gwv1.Duration `json:"interval,omitempty"`

	// Burst is the bucket size: how many requests may arrive at once
	// (default Requests).
	// +optional
	// +kubebuilder:validation:Minimum=1
	Burst *uint32 `json:"burst,omitempty"`

	// ResponseStatus is the status code of rejected requests (default 429).
	// +optional
	// +kubebuilder:validation:Minimum=400
	// +kubebuilder:validation:Maximum=599
	ResponseStatus *int32 `json:"responseStatus,omitempty"`
}

// LocalRateLimitPolicyList is a list of LocalRateLimitPolicy.
//
// +kubebuilder:object:root=true
type LocalRateLimitPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LocalRateLimitPolicy `json:"items"`
}
