// Package examples holds no library code: the directory holds runnable programs that show eniway's packages
// at work, each in its own subdirectory as a main package, run with go run ./examples/<name>.
//
// Today there are eight:
//
//   - examples/maglev builds the Maglev lookup table of a service with package maglev and prints it with its
//     balance and disruption statistics (go run ./examples/maglev);
//   - examples/ipam-plan runs the capacity planner of package ipam: subnet sizes, max pods per instance type
//     with the reasoning, and the IAM actions a configuration needs;
//   - examples/fake-ec2 serves an in-memory EC2 (eni/fake) over the EC2 Query protocol (eni/fake/wire), so
//     the AWS CLI, the AWS SDKs or eni/aws can be pointed at it;
//   - examples/ipam-sim runs the real ipam manager against eni/fake on a virtual clock and prints its EC2 call
//     counts, time to all addresses, pod wait, leaks and double assignments (-json for JSON);
//   - examples/gateway-translate translates Gateway API manifests (files or directories, such as the guide's)
//     with package gatewayapi, without a cluster, and prints the routing model and every object's status;
//   - examples/gateway-controller runs the Gateway API controller (gatewayapi/controller) against a cluster
//     with the ADS server (l7/ads) as its sink;
//   - examples/gateway-proxy runs the embedded data plane (l7/proxy), from manifests without a cluster or as
//     an ADS client of gateway-controller;
//   - examples/datapath-agent runs a node's datapath (package datapath) from a file: the XDP prefilter with the
//     load balancer chained behind it, the reply program and the proxy redirect, pinned so that a restarted
//     agent takes over without a drop, or with -fake the in-memory backends; SIGHUP applies what changed.
//
// Every example stays thin, in the order flags, construct, Start(ctx): the logic lives in the library, where
// it is tested, and an example only wires it together. CI builds every example and runs it (servers for three
// seconds), so an example that no longer compiles or no longer runs fails the build.
package examples
