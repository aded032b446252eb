// Package eniway is a Go library for Kubernetes networking on AWS in the style of Cilium's ENI mode with the
// Gateway API: pods get real VPC addresses from Elastic Network Interfaces (ENIs), an eBPF datapath filters,
// load-balances and redirects traffic on each node, and a Gateway API implementation routes HTTP and gRPC
// through an L7 proxy programmed over xDS.
//
// It is a library to embed in your own controllers and node agents, not an operator or a CNI plugin. Every
// long-running part is a runner with a blocking Start(ctx) error, which satisfies controller-runtime's
// manager.Runnable without importing it; configuration is an options struct whose zero value is valid; there
// is no global state and no init-time registration. This package holds no code: it documents how the packages
// fit together.
//
// # The traffic path
//
// A request from a client to a pod crosses these stages, in this order:
//
//  1. AWS Network Load Balancer. The AWS Load Balancer Controller provisions it from the Service that package
//     gatewayapi generates for each Gateway (annotations for type nlb, target type ip, internet-facing,
//     cross-zone), and it delivers the client's connection to a node.
//  2. XDP prefilter. In the node's network driver, before the kernel allocates a socket buffer, packets whose
//     source lies in a deny-listed IPv4 or IPv6 CIDR are dropped (native XDP, or generic XDP where the driver
//     refuses native mode).
//  3. Maglev L4 load balancing. The frontend (VIP, port, protocol) is looked up in the service table and a
//     backend is picked from a Maglev lookup table built by package maglev, indexed by the same flow hash as
//     Cilium's datapath, so every node picks the same backend for a flow and a change in the backend set
//     moves few flows. Established flows are served from conntrack. Backends are reached by DNAT, or by DSR
//     with IPIP encapsulation.
//  4. Transparent redirect to the local L7 proxy. Traffic for a Gateway's frontend is handed, addresses
//     unchanged, to the local proxy's listening socket with bpf_sk_assign at TC ingress (TCX on kernels 6.6
//     and later, clsact before): TPROXY done in eBPF. This has to happen at TC, not XDP: an XDP program runs
//     before a socket buffer exists and cannot assign a socket, so the "XDP TPROXY" of some deployment guides
//     is not physically possible.
//  5. Gateway API routing. The proxy (any Envoy programmed over xDS, or eniway's embedded Go data plane,
//     which executes the same xDS) matches HTTPRoute and GRPCRoute rules in Gateway API precedence order,
//     applies their filters and picks a backend by weight.
//  6. Pod IPs on ENIs. Backend endpoints are pod addresses that live directly on the nodes' ENIs, as
//     secondary IPv4 addresses or inside /28 prefixes, so the proxy reaches them by native VPC routing: no
//     overlay, no encapsulation, and the EC2 source/destination check can stay on.
//
// Every flow is observable: the datapath reports drops and load-balancing and redirect decisions, the proxy
// reports access-log events, and package observe joins them into one stream.
//
// # Packages
//
//   - [github.com/eniway/eniway/eni]: the EC2 side of ENI mode: small interfaces for describing instances,
//     subnets and ENIs and for creating, attaching and deleting ENIs and assigning addresses and /28
//     prefixes, plus instance limits. Backends eni/aws (the AWS SDK for Go v2) and eni/fake (an in-memory EC2
//     with EC2's semantics and throttling, also served over the EC2 Query protocol).
//   - [github.com/eniway/eniway/ipam]: node address pools kept between watermarks through package eni, pod
//     address allocation with a crash-safe checkpoint, leaked-ENI garbage collection, and a capacity planner.
//   - [github.com/eniway/eniway/maglev]: Maglev lookup tables, identical slot for slot to Cilium's in its
//     compatible mode, and the flow hash Cilium's datapath uses to pick a slot.
//   - [github.com/eniway/eniway/datapath]: map-shaped interfaces for the prefilter, the service load
//     balancer, conntrack, the proxy redirect, attachment, counters and events. Backends datapath/ebpf (XDP
//     and TC programs through cilium/ebpf) and datapath/fake (the same semantics in Go).
//   - [github.com/eniway/eniway/gatewayapi]: Gateway API objects, from YAML files (gatewayapi/manifest) or a
//     live cluster (gatewayapi/controller, a controller-runtime reconciler), to a validated intermediate
//     representation (IR) of listeners, virtual hosts, routes and weighted backends, with spec-exact status
//     conditions; gatewayapi/apis/v1alpha1 holds eniway's LocalRateLimitPolicy.
//   - [github.com/eniway/eniway/l7]: the IR to Envoy xDS resources, an ADS server that pushes only what
//     changed, and the embedded Go data plane.
//   - [github.com/eniway/eniway/observe]: flow events from the datapath and the proxy.
//   - [github.com/eniway/eniway/examples]: runnable programs, one per subdirectory.
//   - internal: [github.com/eniway/eniway/internal/testutils] holds the privileged-test gates (root, kernel
//     version, BPF, features) and the network-namespace helpers every kernel test builds on;
//     internal/benchutil holds shared measurement helpers; internal/maglevtest generates maglev test inputs;
//     internal/ciliumdiff and internal/ciliumdiff117 are separate, test-only Go modules that check package
//     maglev against Cilium's own pkg/maglev (v1.20.2 and v1.17.6), so this module never depends on Cilium;
//     internal/kubetest runs tests against a real kube-apiserver and etcd (envtest) with the Gateway API
//     CRDs, built from the Go module proxy by .ci/kube-assets (hack/kubeassets pins the versions).
//
// Today maglev, eni (with eni/aws, eni/fake, eni/fake/wire and eni/enitest), ipam (with ipam/ipamsim and
// ipam/ipammetrics), gatewayapi (with its manifest loader, controller and policy API), the examples
// maglev, ipam-plan, ipam-sim, fake-ec2 and gateway-translate, and the internal packages have code. The
// other packages hold only their documentation, which says what they will contain; issues #5 (l7) and #6
// (datapath) specify them.
//
// # Pure translators and runners
//
// Code that computes is kept apart from code that acts. These are pure: they do no I/O, never log, never
// start goroutines, and give the same output for the same input: package maglev, the capacity planner in
// package ipam, the Gateway API to IR translation in package gatewayapi, and the IR to xDS translation in
// package l7. They are tested with golden files and fuzzing. Everything that talks to EC2, the kernel or the
// Kubernetes API, or that waits, retries or watches, lives in runner types with Start(ctx).
//
// maglev, the ipam planner and gatewayapi import neither the AWS SDK nor kernel libraries, so a program pays
// only for the parts it imports.
//
// # Backends and conformance
//
// An interface lives in its parent package and its implementations in subpackages: eni/aws and eni/fake
// implement the interfaces of package eni, datapath/ebpf and datapath/fake those of package datapath. Each
// interface has one conformance suite that the in-memory backend runs on every go test and the real backend
// runs where it can: eni/aws through the real SDK against the EC2 wire emulator, datapath/ebpf as root in a
// fresh network namespace. A fake that drifts from the real backend is a bug.
//
// # Privileged tests
//
// Tests that need root, a recent kernel or BPF skip themselves when the machine cannot run them, through the
// gates in internal/testutils. Setting the environment variable ENIWAY_REQUIRE_PRIVILEGED to a true value
// ("1", "true") turns those skips into failures, so a privileged CI job cannot pass by skipping.
package eniway
