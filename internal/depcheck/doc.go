// Package depcheck holds a test of the repository's import graph: maglev,
// ipam (its planner and allocator) and the eni interfaces, and gatewayapi
// when it lands, must not pull in the AWS SDK, the kernel libraries,
// Kubernetes or Envoy, so that users pay only for what they import; the
// SDK lives in eni/aws alone.
package depcheck
