// Package ipam manages the pod address pools of ENI-mode nodes: it keeps each node's pool of VPC addresses
// between watermarks through package eni, hands addresses to pods, and plans capacity. It is what Cilium's
// operator does with ipam.mode eni (awsEnablePrefixDelegation, awsReleaseExcessIPs, minAllocate, preAllocate)
// and what the AWS VPC CNI's ipamd does with its warm targets, as a library a custom controller can embed.
//
// Issue #3 specifies it.
//
// # Pool manager
//
// [Manager] is a runner (Start(ctx)) that reconciles many nodes, on demand changes ([Manager.SetNode]) and on
// a resync interval, nodes with the largest deficit first. It learns a node from one DescribeInstance (and
// describes it again every Resync) and otherwise keeps its view current from the answers of its own calls, so
// a burst of pods costs assignments, not describes. What a node needs is decided by [Decide], a pure function:
// Needed is max(MinAllocate, used + pending + PreAllocate) within MaxAllocate and the instance's capacity;
// a deficit is filled, with MaxAboveWatermark to spare, on the existing interfaces in device order and then
// on new interfaces created with their addresses in one call, attached at the next free device index and
// marked delete-on-termination. [PoolConfig] also has FirstInterfaceIndex, exclude-interface tags and
// FillInterfaces; [DefaultPoolConfig] is what the targets below are measured with. An interface that fails to
// attach is deleted at once. New interfaces go to ManagerOptions.SubnetIDs in order, else the subnets of the
// node's zone tagged SubnetTags, else the node's own subnet and then the zone's subnet with the most free
// addresses; their security groups are SecurityGroupIDs, else those tagged SecurityGroupTags, else the
// primary interface's.
//
// With ReleaseExcessIPs, addresses beyond Needed + MaxAboveWatermark go back to EC2 once the excess has lasted
// ExcessReleaseDelay, through the node's [Releaser] (its Allocator): a handshake that can never free an
// address handed, or about to be handed, to a pod. A failed release is aborted and retried.
//
// Prefix delegation (/28 prefixes of 16 addresses, Nitro and bare metal instances) avoids two known Cilium
// failures: when a subnet has no free /28, the other eligible subnets are tried first and then secondary
// addresses, for that round only, without disabling prefix delegation for the node (cilium/cilium#46644);
// and a /28 whose 16 addresses are all free is released (cilium/cilium#32209).
//
// # Node-local allocation
//
// [Allocator.Allocate] and [Allocator.Release] keep a restart-safe checkpoint (versioned JSON; temporary
// file, fsync, rename, fsync of the directory) and are idempotent per owner, so a caller that lost an answer
// to a crash retries and gets the same result: after a crash at any point, no address is handed out twice and
// none leaks (TestCrashAnywhere crashes it at every stage of its writes, hundreds of times). The pool comes
// from EC2 through the manager ([Allocator.SetPool]); [Allocator.ReleaseOrphanedOwners] frees the addresses of
// pods deleted while the node agent was down.
//
// # Garbage collection
//
// [GarbageCollector] deletes this cluster's interfaces (tagged [TagCluster]) that stayed available longer
// than a grace period, counted from [TagCreatedAt] or from when it first saw them: the leftovers of a crash
// between create and attach, or of a detach without delete. It never touches an attached interface, another
// cluster's, or one carrying an exclude tag.
//
// # Metrics
//
// The manager and allocators report to an [Observer]. Package ipam/ipammetrics implements it with Prometheus
// (eniway_ipam_available_ips, _used_ips and _needed_ips per node, _interface_creations_total,
// _allocation_duration_seconds) and instruments the Cloud (_ec2_calls_total by action and outcome,
// _ec2_call_duration_seconds) and eni/aws's limiter (_rate_limit_wait_seconds), keeping this package free of
// the Prometheus client.
//
// # Capacity planner
//
// Pure functions ([MaxPods], [Plan], [IAMActions]), also behind go run ./examples/ipam-plan. With prefix
// delegation a node holds whole /28s, so the plan counts max(ceil(total/16), nodes x ceil(max pods/16))
// prefixes; secondary mode has no max-pods cap beyond the formula. ENI primary addresses are not counted (they
// can split /28s; a subnet CIDR reservation avoids that). Instance types whose vCPU count is unknown (every
// row of the embedded snapshot until it is regenerated from a live account) get the 110 cap, and the result
// says it assumed so. Our IAM list differs from Cilium's where our code does: we never call DescribeVpcs. Addresses needed: nodes x max pods x 1.2, and the
// smallest subnet prefix that holds them, counting the 5 addresses AWS reserves in every subnet and, with
// prefix delegation, /28 alignment (the guide's 10 nodes x 110 pods need 1,320 addresses: a /21, since a /22
// holds only 1,019 after the reserved 5). Max pods per instance type, where the +2 is for host-network pods:
//
//	secondary addresses   ENIs x (IPv4 per ENI - 1) + 2
//	prefix delegation     ENIs x (IPv4 per ENI - 1) x 16 + 2, capped at 110 up to 30 vCPUs, 250 above
//
// The guide's m7g.xlarge figure with prefix delegation, "4 ENI x 16 IP/Prefix = 64 pods", is wrong. An ENI
// holds up to (15 - 1) prefixes of 16 addresses, so 4 x 14 x 16 = 896 addresses, and max pods is capped at
// 110 because the instance has 4 vCPUs; with secondary addresses it is 4 x 14 + 2 = 58. The planner gives
// that answer and says why. It also prints the IAM actions each configuration needs, derived from the EC2
// calls the code actually makes. The guide's IAM list is outdated: Cilium 1.18 also needs ec2:DescribeVpcs,
// ec2:DescribeRouteTables and ec2:DescribeInstanceTypes.
//
// # Targets
//
// go run ./examples/ipam-sim runs the real manager and allocators against eni/fake on a virtual clock and
// prints mutating_calls, describe_calls, throttled_calls, time_to_all_ips_s, p99_pod_wait_s,
// subnet_ips_used, leaked_enis, leaked_ips and double_assigned_ips. Cilium 1.18's operator, taking one
// m5.4xlarge from 0 to 110 pods, makes (mutating / describe calls): secondary one pod at a time 119 / 555,
// secondary all at once 15 / 35, prefix delegation one at a time 8 / 40, prefix delegation all at once 3 / 15.
// The targets: with default settings no more mutating calls than that in any scenario, at most 15 mutating and
// 30 describe calls for secondary one at a time, and at most a third of Cilium's describe calls everywhere;
// 100 m5.4xlarge nodes going from 0 to 110 pods together with prefix delegation, under the fake's AWS
// throttling and 50 ms API latency, must give every pod an address within 60 simulated seconds with no
// throttled call; leaks and double assignments are 0 in every run. Measured with [DefaultPoolConfig], AWS's
// throttling on and 50 ms latency (ipamsim.TestTargets, TestFleet, TestFaults):
//
//	scenario (one m5.4xlarge, 0 to 110 pods)   mutating   describe   (Cilium)
//	secondary, one pod at a time                    13          3   (119 / 555)
//	secondary, all at once                          13          3   (15 / 35)
//	prefix delegation, one pod at a time             4          3   (8 / 40)
//	prefix delegation, all at once                   1          3   (3 / 15)
//
// The fleet of 100 nodes with prefix delegation gets every pod an address after 10.1 simulated seconds, with
// 100 mutating and 102 describe calls and none throttled. Runs with injected attach failures, throttling and
// subnet exhaustion recover with no leak and no double assignment, and so do runs where the manager dies
// between creating an interface and attaching it: a new manager finishes the job and the garbage collector
// removes what the dead one left behind (ipamsim.TestCrashBetweenCreateAndAttach).
package ipam
