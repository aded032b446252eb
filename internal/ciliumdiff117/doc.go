// Package ciliumdiff117 runs the maglev differential tests against Cilium
// v1.17, the oldest release whose tables ModeCilium promises to match
// (internal/ciliumdiff covers the newest). Cilium froze its Maglev hash
// input in v1.17, so every release since must give the same tables; this
// module checks the low end of that range. It is a separate module so that
// the library never depends on Cilium.
package ciliumdiff117
