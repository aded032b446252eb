// Package ebpf is the kernel backend of package datapath: BPF programs
// loaded with github.com/cilium/ebpf and attached with bpf_link.
//
// The programs' C is in bpf/, compiled by bpf2go with clang 16 from
// Debian 12; the objects and their Go bindings are committed, and go
// generate reproduces them byte for byte (make generate checks it). Off
// Linux the constructors return datapath.ErrNotSupported.
//
// # Prefilter
//
// NewPrefilter loads the XDP prefilter. Each family's deny list has two
// LPM tries and an array names the one packets read; a batch is written
// whole into the other trie, then the index is switched with one 4-byte
// write, so a packet is checked against the list before the batch or
// after it, never a mix. Before the next batch writes into the trie that
// was just retired, the prefilter waits for an RCU grace period
// (membarrier(MEMBARRIER_CMD_GLOBAL), which calls synchronize_rcu), so
// that no packet still reading it sees a half-written list; batches
// closer together than that pay the wait (a few milliseconds), single
// batches do not. A batch that fails midway has written only into the
// trie no packet reads; the prefilter keeps track of what it holds and
// the next batch corrects it.
//
// Attach attaches the program to an interface through a bpf_link, in the
// driver (native XDP) when the driver supports it and in generic mode
// otherwise, and reports which.
//
// With PrefilterOptions.PinPath (a directory on a bpffs, one per network
// namespace), the tries, the counters, the state (the active trie and the
// revision, kept in the programs' global variables and pinned as
// prefilter_state, since bpffs refuses the name .bss) and each
// interface's link are pinned. A prefilter opened on pins takes over the
// deny list, the revision and the counters; its Attach loads the pinned
// link and replaces its program with link.Update, atomically, so an agent
// restart or upgrade neither drops an allowed packet nor lets a denied
// one through (TestPrefilterRestart). Close leaves pins and program in
// place; Remove detaches and unpins.
//
// An interface runs one XDP program. To run the prefilter and the load
// balancer on the same one, attach the prefilter and Chain the load
// balancer's Program behind it: packets the prefilter passes are
// tail-called into it (TestPrefilterChainsLB).
//
// # Load balancer
//
// NewLoadBalancer loads the XDP load balancer (see package datapath). With
// LBOptions.PinPath its maps, a record of the services (lb_services_meta:
// each service's mode and backends with weights, which no program reads)
// and each interface's link are pinned. A load balancer opened on pins
// rebuilds its services from the record and the backends map, keeps the
// backend ids and generations (so tracked flows keep their backends), waits
// one RCU grace period, and then makes the program's maps agree with the
// record: a service whose region holds another table gets its table
// written, a service the record lacks is removed with its flows, and
// backends no service names are cleared. Upsert and Delete write the
// record first, so this finishes a batch an earlier load balancer was
// applying when it stopped (TestLBRecoverFinishesBatches). Its Attach
// calls replace the programs of pinned links with link.Update
// (TestLBRestart).
package ebpf
