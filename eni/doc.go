// Package eni is the EC2 side of ENI-mode address management: what a node's pool of pod addresses needs from
// Amazon EC2, behind small interfaces, with instance limits and errors a caller can act on.
//
// Issue #3 specifies it. In place: the interfaces and value types, the sentinel errors with the AWS error
// codes they map to, eni/fake (an in-memory EC2), eni/fake/wire (the EC2 Query protocol over any Cloud),
// eni/aws (the AWS SDK backend) and the conformance suite eni/enitest that runs against the fake and against
// eni/aws through the wire emulator, the instance-limits cache ([LimitsCache]) over an embedded snapshot
// table ([SnapshotLimits]) with the generator that rewrites it, and the standalone go run ./examples/fake-ec2.
//
// # Interfaces
//
// Small interfaces of one to three methods ([InstanceDescriber], [InstanceTypeDescriber], [ENIDescriber],
// [NetworkDescriber], [ENILifecycle], [ENIModifier], [AddressAssigner], [Tagger]), composed by embedding
// into [Cloud]. Implementations must be safe for concurrent use. They cover:
//
//   - describe: an instance and its attached ENIs; subnets with CIDR, availability zone, tags and free
//     address count; security groups; route tables; instance types;
//   - ENI lifecycle: create, attach (with device index and network card index), modify
//     (delete-on-termination), detach, delete;
//   - addresses: assign and unassign secondary private IPv4 addresses and /28 IPv4 prefixes;
//   - tags: tag resources. Tags mark the ENIs eniway manages (cluster name, node) so that leaked ones can be
//     garbage-collected by package ipam.
//
// Addresses and prefixes are netip.Addr and netip.Prefix at every API; conversion happens at the SDK call.
// AWS error codes that a caller must act on map to package sentinels, tested with errors.Is:
// InsufficientFreeAddressesInSubnet ([ErrInsufficientFreeAddresses]), InsufficientCidrBlocks
// ([ErrInsufficientCIDRBlocks]), PrivateIpAddressLimitExceeded ([ErrAddressLimitExceeded]),
// AttachmentLimitExceeded ([ErrAttachmentLimitExceeded]), RequestLimitExceeded ([ErrThrottled]),
// InvalidNetworkInterfaceID.NotFound ([ErrENINotFound]), InvalidInstanceID.NotFound
// ([ErrInstanceNotFound]) and more (see [SentinelForCode]); every not-found sentinel wraps [ErrNotFound].
// A failure EC2 reported is an [*APIError] keeping the code and message.
//
// # Instance limits
//
// Per instance type: maximum ENIs, IPv4 addresses per ENI, IPv6 addresses, hypervisor and bare metal (prefix
// delegation needs a Nitro instance). The source of truth is DescribeInstanceTypes: [LimitsCache] caches what
// it answered and asks again, rate-limited, when an unknown type appears. The embedded snapshot
// (limits_snapshot.json, 764 types, read with [SnapshotLimits]) is the fallback and allows offline planning.
// Its rows were seeded from EC2's published limits as Cilium v1.17.6 recorded them, not from a live account,
// so its vCPU counts are 0 (unknown); go run ./eni/internal/genlimits rewrites it from DescribeInstanceTypes
// through eni/aws, vCPUs included. Facts the table and the fake must honour:
// m5.large has 3 ENIs of 10 IPv4 addresses, m7g.xlarge 4 of 15, m5.4xlarge 8 of 30. The primary address takes
// one of an ENI's slots, and each /28 prefix takes one slot of a secondary address, so an ENI holds at most
// (IPv4 per ENI - 1) prefixes, not a fixed 16 as the guide says.
//
// The guide's Helm values set eni.updateEC2AdapterLimitViaAPI: Cilium 1.18 removed that flag together with
// its static limits table. Here, as in Cilium 1.18, the API is authoritative and the table a fallback.
//
// # Backends
//
// eni/aws (import it as eniaws) implements the interfaces with github.com/aws/aws-sdk-go-v2/service/ec2: the
// default credential chain (IRSA works), pagination, the SDK's retryer, and one client-side token-bucket
// limiter shared by all calls, configurable, with defaults safely under AWS's per-account buckets.
//
// eni/fake is an in-memory EC2 with EC2's real semantics, not a call recorder: a VPC and subnets with real
// CIDRs and the 5 addresses AWS reserves in each; per-instance ENI limits and per-ENI address limits by
// instance type; device indexes; /28 prefixes aligned and allocated from the subnet, so fragmentation really
// produces InsufficientCidrBlocks; subnet exhaustion; detach before delete; optional eventual consistency (a
// new ENI invisible to Describe for a while); configurable latency on an injectable clock; per-method fault
// hooks; per-action call counters. Per-action token buckets match AWS's published throttling and return
// RequestLimitExceeded:
//
//	mutating ENI and address actions                    bucket 100, refill  5/s
//	AttachNetworkInterface, DetachNetworkInterface      bucket  50, refill  5/s
//	filtered Describe* calls                            bucket 100, refill 20/s
//	unfiltered DescribeNetworkInterfaces and
//	DescribeSecurityGroups                              bucket  50, refill 10/s
//
// An EC2 wire emulator serves the fake's state over the EC2 Query protocol (form-encoded POST, Action,
// Version=2016-11-15, numbered list parameters, XML responses with item lists and nextToken, AWS error XML
// with its HTTP status). eni/aws is tested through the real SDK pointed at it with BaseEndpoint, so
// serialization, pagination, retries and error mapping are exercised for real. It also runs standalone, as go
// run ./examples/fake-ec2, for other tooling to point at.
//
// One conformance suite (enitest) runs against eni/fake directly and against eni/aws over the emulator.
package eni
