// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// The XDP prefilter: drops packets whose source address is in a deny list
// (IPv4 and IPv6 CIDRs, longest-prefix match), passes everything else.
//
// Each family's deny list has two LPM tries; active_trie names the one
// packets read. User space writes a whole new list into the other trie and
// then switches the index, so a packet sees one list or the other, never a
// half-written one.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "common.h"

struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

// max_entries are set from the options at load time.
#define DENY_MAP(name, key_type)                   \
	struct {                                   \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE); \
		__type(key, key_type);             \
		__type(value, __u8);               \
		__uint(max_entries, 1);            \
		__uint(map_flags, BPF_F_NO_PREALLOC); \
	} name SEC(".maps")

DENY_MAP(deny_v4_0, struct lpm_v4_key);
DENY_MAP(deny_v4_1, struct lpm_v4_key);
DENY_MAP(deny_v6_0, struct lpm_v6_key);
DENY_MAP(deny_v6_1, struct lpm_v6_key);

// The trie of each family packets read (0 or 1), and the revision of the
// list it holds: global variables, which a program reads with a plain
// load (no map lookup) and user space writes through a memory mapping.
volatile __u32 active_trie;
volatile __u64 revision;
// events_on is set while user space reads drop events: otherwise a drop
// costs no event.
volatile __u32 events_on;

// A drop event. The ring buffer's size is set from the options at load
// time; when it is full, events are lost and counted.
struct prefilter_event {
	__u64 ktime_ns;
	__u32 ifindex;
	__u16 family; // 4 or 6
	__u16 pad;
	__u8 saddr[16]; // IPv4 in the first 4 bytes
};

// Keeps the event's type in the BTF, for bpf2go to generate its Go twin.
const struct prefilter_event *unused_prefilter_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} prefilter_events SEC(".maps");

// Counters, per CPU.
enum {
	PREFILTER_PASS = 0,     // passed: not IP, or a source not denied
	PREFILTER_DROP_V4 = 1,  // dropped: IPv4 source denied
	PREFILTER_DROP_V6 = 2,  // dropped: IPv6 source denied
	PREFILTER_MALFORMED = 3, // passed: an IP header cut short
	PREFILTER_EVENTS_LOST = 4, // drop events the full ring buffer lost
	PREFILTER_COUNTERS = 5,
};

COUNTERS(prefilter_stats, PREFILTER_COUNTERS);

static __always_inline int count(__u32 counter, int verdict)
{
	return count_in(&prefilter_stats, counter, verdict);
}

// prefilter_next holds the program that takes the packets the prefilter
// passes, such as the load balancer's: an interface runs one XDP program,
// so the prefilter runs first and tail-calls it. Empty, packets go on to
// the stack.
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} prefilter_next SEC(".maps");

// pass counts a passed packet and hands it to the next program, if any.
static __always_inline int pass(struct xdp_md *ctx, __u32 counter)
{
	count(counter, XDP_PASS);
	bpf_tail_call(ctx, &prefilter_next, 0);
	return XDP_PASS;
}

// drop_event reports a drop when a reader listens.
static __always_inline int drop_event(struct xdp_md *ctx, __u16 family, const void *saddr, __u32 len, __u32 counter)
{
	if (events_on) {
		struct prefilter_event *e = bpf_ringbuf_reserve(&prefilter_events, sizeof(*e), 0);
		if (!e) {
			count(PREFILTER_EVENTS_LOST, 0);
		} else {
			e->ktime_ns = bpf_ktime_get_ns();
			e->ifindex = ctx->ingress_ifindex;
			e->family = family;
			e->pad = 0;
			__builtin_memset(e->saddr, 0, sizeof(e->saddr));
			if (len == 4)
				__builtin_memcpy(e->saddr, saddr, 4);
			else
				__builtin_memcpy(e->saddr, saddr, 16);
			bpf_ringbuf_submit(e, 0);
		}
	}
	return count(counter, XDP_DROP);
}

SEC("xdp")
int xdp_prefilter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct packet p;
	if (parse_l2(data, end, &p) < 0)
		return pass(ctx, PREFILTER_PASS);

	__u32 active = active_trie;

	if (p.proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = p.l3;
		if ((void *)(ip + 1) > end)
			return pass(ctx, PREFILTER_MALFORMED);
		struct lpm_v4_key key = {.prefixlen = 32};
		__builtin_memcpy(key.addr, &ip->saddr, 4);
		void *hit = active ? bpf_map_lookup_elem(&deny_v4_1, &key) : bpf_map_lookup_elem(&deny_v4_0, &key);
		if (hit)
			return drop_event(ctx, 4, key.addr, 4, PREFILTER_DROP_V4);
		return pass(ctx, PREFILTER_PASS);
	}
	if (p.proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = p.l3;
		if ((void *)(ip6 + 1) > end)
			return pass(ctx, PREFILTER_MALFORMED);
		struct lpm_v6_key key = {.prefixlen = 128};
		__builtin_memcpy(key.addr, &ip6->saddr, 16);
		void *hit = active ? bpf_map_lookup_elem(&deny_v6_1, &key) : bpf_map_lookup_elem(&deny_v6_0, &key);
		if (hit)
			return drop_event(ctx, 6, key.addr, 16, PREFILTER_DROP_V6);
		return pass(ctx, PREFILTER_PASS);
	}
	return pass(ctx, PREFILTER_PASS);
}

char _license[] SEC("license") = "Dual BSD/GPL";
