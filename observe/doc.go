// Package observe makes every flow through eniway observable: it receives the events the datapath and the L7
// proxy emit and joins them into one stream of flow records, the part of the guide's Hubble that eniway
// provides.
//
// This package has no code yet, and no issue specifies it on its own yet: issues #5 and #6 fix what it
// receives, and a later issue will specify the rest. What follows is what is already fixed.
//
// # Inputs
//
// From package datapath (issue #6), an event stream of:
//
//   - drops, with their reason, among them sources dropped by the XDP prefilter's deny list;
//   - load-balancing decisions: the frontend (VIP, port, protocol), the backend chosen, and whether the flow
//     was new (a Maglev pick) or established (a conntrack hit);
//   - redirect decisions: a frontend's connection handed to the local L7 proxy.
//
// Both datapath backends emit the same events, so code built on this package can be tested against
// datapath/fake without root.
//
// From package l7 (issue #5), the access-log events of the embedded data plane: one per request, with the
// route and backend it went to and the response code, including the 500, 503 and 404 answers the routing
// rules prescribe.
//
// # Joining L4 and L7
//
// The redirect to the proxy is transparent (bpf_sk_assign at TC ingress): the proxy's downstream connection
// keeps the client's original addresses and ports, so a request's access-log event and the datapath's
// redirect event for the same connection share one 5-tuple, and a flow can be followed from the NLB to the
// pod without guessing.
//
// # Caveats
//
// The datapath must never wait for a consumer. Events leave the kernel through a bounded buffer; when a
// consumer falls behind, events are lost and the loss is counted, not hidden. Counters (per-CPU packet and
// drop counts in datapath, Prometheus metrics in ipam and l7) stay exact when events are lost, so totals come
// from counters and per-flow detail from events.
//
// Metrics that belong to one package (EC2 calls in ipam, xDS pushes and NACKs in l7) are registered by that
// package; this package does not collect them again.
package observe
