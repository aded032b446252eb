package xds

import (
	"errors"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// Resources are the Envoy v3 resources of one Gateway (or of every Gateway
// a node serves), each list sorted by resource name.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Secrets   []*tlsv3.Secret
}

// Sentinels wrapped by this package's errors.
var (
	// ErrInvalid: a resource failed validation or the IR is inconsistent.
	ErrInvalid = errors.New("invalid")
)

// ResourceError is a resource that could not be produced: it failed
// Envoy's validation rules (or one of the messages inside it did). The
// resource is left out; Gateway and Source say which object produced it.
type ResourceError struct {
	// Gateway is namespace/name of the Gateway the resource belongs to
	// ("" for a shared cluster or endpoint assignment).
	Gateway string
	// Type is the resource type (Listener, RouteConfiguration, Cluster,
	// ClusterLoadAssignment, Secret) and Name its resource name.
	Type string
	Name string
	// Source names the route or backend the bad part came from, when known.
	Source string
	Err    error
}

func (e *ResourceError) Error() string {
	where := e.Type + " " + e.Name
	if e.Gateway != "" {
		where = "Gateway " + e.Gateway + ": " + where
	}
	if e.Source != "" {
		where += " (from " + e.Source + ")"
	}
	return fmt.Sprintf("xds: %s: %v", where, e.Err)
}

// Unwrap returns ErrInvalid and the validation error.
func (e *ResourceError) Unwrap() []error { return []error{ErrInvalid, e.Err} }
