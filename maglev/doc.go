// Package maglev computes Maglev lookup tables (Eisenbud et al., "Maglev: A
// Fast and Reliable Software Network Load Balancer", NSDI 2016) for
// consistent-hash load balancing, the way Cilium's kube-proxy replacement
// programs them for loadBalancer.algorithm: maglev, and the flow hash its
// datapath uses to read them.
//
// # Model
//
// A service with N backends gets a table of M slots, M prime. Each backend's
// identity (address, port, protocol, cluster ID) is hashed with murmur3
// x64_128 under the seed into an offset and a skip, which define its
// permutation of the slots: offset, offset+skip, offset+2*skip, ... mod M.
// Populating the table gives every slot to one backend, in proportion to the
// weights, such that a small change to the backend set moves few slots. The
// datapath hashes a packet's flow ([Seed.FlowHash]) and sends it to the
// backend in slot hash mod M ([Lookup]). Nodes that compute the same table
// send a flow to the same backend, so a flow survives being rerouted to
// another node, and a backend change breaks few flows.
//
// Tables hold backend IDs. IDs only label slots: the table depends on the
// backends' identities and weights, the table size and the seed, never on
// IDs or on the order backends are given in. Weight 0 drains a backend: it
// owns no slot. A [Builder] fills a caller-provided []uint32 and keeps O(N)
// scratch plus an M-bit occupancy bitmap between builds (never Cilium's
// N*M permutation array), so a reused Builder allocates nothing.
//
// # ModeCilium
//
// [ModeCilium], the zero value, builds the table github.com/cilium/cilium's
// pkg/maglev (v1.17 and later) builds for the same backends, weights, table
// size and maglev.hashSeed, slot for slot: the same hash input (the frozen
// string "[10.0.0.1:80/TCP,State:active]", with "@<cluster>" after the
// address for ClusterMesh backends), the same sort order, the same
// permutations, the same turn order and the same float64 weight counters. It
// also reproduces Cilium's quirks: weights are uint16 (larger ones are
// rejected), and weights are ignored when their integer mean is at most 1,
// so weights {1, 2} give the same table as {1, 1}. Backends with weight 0
// are left out, as Cilium's reconciler leaves out backends that are not
// active. The test modules internal/ciliumdiff (Cilium v1.20.2) and
// internal/ciliumdiff117 (v1.17.6) compare this mode with Cilium's own
// package over 653 random backend sets, seeds, table sizes and weights each,
// and the package tests check Cilium's own golden vector.
//
// # ModeNative
//
// [ModeNative] uses the same permutations over a fixed 24-byte binary key and
// populates the table differently:
//
//   - Exact shares. Each backend gets a quota of M*w/W slots rounded by
//     largest remainder, so every backend is within one slot of its exact
//     share and weights are always honoured. ModeCilium strays by up to 3
//     slots with weights 1..100 at N=1000, ignores weights as above, and
//     gives every weighted backend at least one slot, even one whose share is
//     below a slot (ModeNative may give such a backend none).
//   - Ownership by preference rank. Maglev lets a backend whose turn comes
//     skip occupied slots until it finds a free one, so who owns a slot is a
//     race, and removing one backend reshuffles that race for everyone.
//     ModeNative has every backend still short of its quota look at one slot
//     of its permutation per round and claim it if it is free: a slot goes to
//     the backend that ranks it highest among those still short of slots.
//     With unequal weights, backends look at slots at a pace proportional to
//     their weight, in exact integer virtual time that depends only on each
//     backend's own weight.
//   - Integer arithmetic only: tables are identical on every CPU.
//
// With equal weights both modes give every backend floor(M/N) or ceil(M/N)
// slots. ModeNative tables differ from Cilium's, so use ModeCilium wherever
// a Cilium agent must agree.
//
// # Table size and seed
//
// M must be a prime in [MinTableSize, MaxTableSize] (251 to 131071); Cilium
// accepts only [CiliumTableSizes], and defaults to 16381 ([DefaultTableSize]).
// Keep M at least 100 times N: the Maglev paper's advice, which keeps
// shares within about 1% and disruption near its minimum;
// [RecommendedTableSize] picks such a size. The seed is Cilium's
// maglev.hashSeed, 12 bytes in base64 ([DefaultHashSeed] is Cilium's
// default): bytes 0-3 seed the permutations, 4-7 and 8-11 the IPv4 and IPv6
// flow hashes. Every node of a cluster must use the same seed.
//
// # Flow hash
//
// [Seed.FlowHash] is the kernel jhash over the client address, both ports and
// the protocol, exactly as Cilium's BPF code computes it on a little-endian
// CPU; the destination address is not hashed, so a client reaches the same
// backend through every VIP of a service. A zero client port gives
// Cilium's session affinity by client IP.
//
// # Errors
//
// Bad configuration yields a [*ConfigError] and a bad backend a
// [*BackendError], naming the field and, for backends, the index; both wrap
// the sentinels in errors.go. A failed Build leaves the Builder usable.
//
// # Performance
//
// Measured on this project's 2-core CI machine (Intel Xeon), go test -bench
// in one run (make bench): CPU time per build with equal weights, reused
// builder and table, next to Cilium v1.20.2's GetLookupTable on the same
// backends (Cilium spreads its permutations over all CPUs, so CPU time is
// the fair measure; its wall time is half).
//
//	M      N     Cilium CPU   retained  ModeCilium  ModeNative  speed-up  scratch (ModeCilium)
//	16381  10    2.05 ms      21 MB     0.37 ms     0.38 ms       5.5x    3 KB
//	16381  100   15.3 ms      21 MB     0.40 ms     0.56 ms        39x    12 KB
//	16381  1000  134 ms       131 MB    0.55 ms     0.92 ms       245x    103 KB
//	16381  5000  677 ms       656 MB    1.39 ms     1.43 ms       489x    453 KB
//	65521  10    7.62 ms      343 MB    1.31 ms     1.52 ms       5.8x    9 KB
//	65521  100   54.7 ms      343 MB    1.56 ms     1.96 ms        35x    18 KB
//	65521  1000  534 ms       524 MB    1.88 ms     2.22 ms       283x    109 KB
//	65521  5000  2506 ms      2621 MB   2.55 ms     3.26 ms       982x    459 KB
//
// Both builders of this package allocate nothing per build (0 allocs/op);
// Cilium allocates 65 to 29915 times per build. Below N=1000 the speed-up
// shrinks because the cost of both is then dominated by populating the
// table, about M*ln(M) slot probes whatever N is. Weighted builds (weights
// 1..100, M=65521) take 4.0 and 6.3 ms in ModeCilium, 6.2 and 9.7 ms in
// ModeNative, at N=100 and 1000. A lookup (flow hash and one table read)
// takes 45 ns.
//
// # Disruption
//
// The share of the table that moves when one backend is removed, one is
// added, or one backend's weight halves, at M=65521, averaged over 8 seeds
// and 10 choices of backend each (BenchmarkDisruption; the minimum
// possible with equal weights is 1/N, 1/(N+1) and 1/(2N)):
//
//	weights         N     removed              added                weight halved
//	                      Cilium    Native     Cilium    Native     Cilium    Native
//	equal           100   1.57%     1.29%      1.56%     1.28%      0.98%     0.72%
//	equal           1000  0.67%     0.43%      0.68%     0.44%      0.55%     0.25%
//	random 1..100   100   1.32%     0.95%      2.29%     1.94%      0.88%     0.54%
//	random 1..100   1000  1.40%     0.43%      1.12%     0.36%      1.23%     0.27%
//
// ModeNative moves less in every case measured: 16 to 69% less on removal
// and addition, 26 to 78% less when a weight halves.
//
// # Concurrency
//
// A Builder is not safe for concurrent use; use one per goroutine. Configs,
// Seeds, tables and the package functions are safe to share.
package maglev
