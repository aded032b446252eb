// Package depcheck holds a test of the repository's import graph: maglev,
// ipam (its planner and allocator) and the eni interfaces must not pull in
// the AWS SDK, the kernel libraries, Kubernetes or Envoy, and the gatewayapi
// translator may use the Kubernetes and Gateway API types but no client,
// controller, SDK, kernel library or Envoy; the xDS translator (l7/xds) and
// the embedded data plane (l7/proxy) use Envoy's types but no Kubernetes
// client, SDK or kernel library; so that users pay only for what they
// import. The SDK lives in eni/aws alone.
package depcheck
