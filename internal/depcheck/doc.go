// Package depcheck holds a test of the repository's import graph: the pure
// packages (maglev now; the ipam planner and gatewayapi as they land) must
// not pull in the AWS SDK, the kernel libraries, Kubernetes or Envoy, so
// that users pay only for what they import.
package depcheck
