// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// The XDP L4 load balancer: IPv4 and IPv6 TCP and UDP to a service
// frontend (VIP, port, protocol) are sent to a backend picked from the
// service's Maglev table by Cilium's flow hash, with the destination
// address and port rewritten (DNAT) and the checksums updated, or, for a
// DSR service, unchanged inside IPIP (IPv6 in IPv6), and passed on to the
// stack, which routes them. Fragments and everything else pass untouched.
//
// Maglev tables live in one array of table_size-slot regions. A service
// names its region; user space writes a changed service's table into a
// free region and then points the service at it (one hash-map update), so
// a packet reads a whole old table or a whole new one. Regions are reused
// only after an RCU grace period, one for a whole batch of changes.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#include <bpf/bpf_endian.h>

#include "common.h"

// Set at load time.
volatile const __u32 table_size = 16381;
volatile const __u32 flow_seed4 = 0;
volatile const __u32 flow_seed6 = 0;
// The outer source addresses of DSR's encapsulated packets: this node's.
volatile const __be32 dsr_source = 0;
volatile const __be32 dsr_source6[4] = {};
// dsr_redirect: DSR packets go out of the interface of their route to the
// backend (bpf_fib_lookup), not to the node's stack.
volatile const __u32 dsr_redirect = 0;
// lb_events_on is set while user space reads decisions.
volatile __u32 lb_events_on;

// A decision: a new flow given a backend, or dropped for want of one.
// Addresses of either family take 16 bytes (IPv4 in the first 4).
struct lb_event {
	__u64 ktime_ns;
	__u32 ifindex;
	__u8 kind; // LB_EVENT_*
	__u8 proto;
	__u8 family; // 4 or 6
	__u8 pad;
	__be32 client[4];
	__be32 vip[4];
	__be32 backend[4]; // 0 when dropped
	__be16 cport;
	__be16 vport;
	__be16 bport;
	__u16 pad2;
};

#define LB_EVENT_NEW_FLOW 1
#define LB_EVENT_NO_BACKEND 2

// Keeps the event's type in the BTF, for bpf2go.
const struct lb_event *unused_lb_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} lb_events SEC(".maps");

struct lb4_key {
	__be32 vip;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct lb6_key {
	__be32 vip[4];
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct lb_service {
	__u32 region; // of lb_maglev
	__u32 backends; // 0: no backend, the packet is dropped
	__u32 flags;    // LB_SVC_*
	__u32 pad;
};

// The service answers directly from its backends: packets go to them
// encapsulated, unchanged inside, and no reply comes back here.
#define LB_SVC_DSR 1
// New flows get a random slot of the table, not the flow hash's.
#define LB_SVC_RANDOM 2

// A backend of either family (an IPv4 address in addr[0]); family 0: the
// id has no backend.
struct lb_backend {
	__be32 addr[4];
	__be16 port;
	__u8 family;
	__u8 pad;
	// gen tells this backend from others that had its id before.
	__u32 gen;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb4_key);
	__type(value, struct lb_service);
	__uint(max_entries, 1);
} lb4_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb6_key);
	__type(value, struct lb_service);
	__uint(max_entries, 1);
} lb6_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_backend);
	__uint(max_entries, 1);
} lb_backends SEC(".maps");

// Two slots an element: array elements take a multiple of 8 bytes, so a
// lone 4-byte slot would take 8. Memory-mapped, the map is one packed
// array of 4-byte slots, which user space writes directly.
struct maglev_pair {
	__u32 id[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct maglev_pair);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
} lb_maglev SEC(".maps");

// Connection tracking: a flow (client address and port, frontend,
// protocol) keeps the backend it was given, for as long as that backend
// exists, whatever the service's table says since (a drained backend,
// weight 0, keeps its flows). User space expires entries by their last
// packet; the LRU map evicts the oldest when it is full. One map a family:
// IPv4's keys stay small, which keeps its lookups fast.
struct ct4_key {
	__be32 saddr;
	__be32 vip;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct ct6_key {
	__be32 saddr[4];
	__be32 vip[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct ct_entry {
	__u64 last_seen_ns; // bpf_ktime_get_coarse_ns of the last packet, to a second
	__u32 backend_id;
	__be16 backend_port; // the backend the id stood for
	__u8 state; // CT_*
	__u8 dsr;   // the flow is sent by DSR
	__u32 backend_gen; // lb_backend.gen of the backend
	__be32 backend_addr[4];
	__u32 last_seen_jiffies; // the jiffies last_seen_ns was taken at
};

// last_seen_ns is refreshed at most every CT_REFRESH jiffies: between 0.1
// s (HZ 1000) and 1 s (HZ 100). Reading jiffies is one load (the verifier
// inlines bpf_jiffies64); the clock helper is called only to refresh.
#define CT_REFRESH 100

// States of a flow, as datapath.CTState: what the client's packets have
// said (datapath.NextCTState).
#define CT_OPEN 0    // UDP, or TCP past its SYNs
#define CT_OPENING 1 // TCP that has sent only SYNs
#define CT_CLOSING 2 // TCP that has sent a FIN or RST

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

// ct_next is a flow's state after a packet with TCP flags (0 for UDP);
// tracked: the flow was tracked before, in state prev.
static __always_inline __u8 ct_next(__u8 proto, int tracked, __u8 prev, __u8 flags)
{
	if (proto != IPPROTO_TCP)
		return CT_OPEN;
	if (flags & (TCP_FIN | TCP_RST))
		return CT_CLOSING;
	if ((flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
		return !tracked || prev == CT_CLOSING ? CT_OPENING : prev;
	if (tracked && prev == CT_CLOSING)
		return CT_CLOSING;
	return CT_OPEN;
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ct4_key);
	__type(value, struct ct_entry);
	__uint(max_entries, 1);
} lb4_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ct6_key);
	__type(value, struct ct_entry);
	__uint(max_entries, 1);
} lb6_ct SEC(".maps");

// Reverse NAT: a reply from a backend to a client gets the frontend back
// as its source. Written with each new flow; the reply program reads it.
struct rev4_key {
	__be32 client;
	__be32 backend;
	__be16 cport;
	__be16 bport;
	__u8 proto;
	__u8 pad[3];
};

struct rev4_val {
	__be32 vip;
	__be16 vport;
	__u16 pad;
};

struct rev6_key {
	__be32 client[4];
	__be32 backend[4];
	__be16 cport;
	__be16 bport;
	__u8 proto;
	__u8 pad[3];
};

struct rev6_val {
	__be32 vip[4];
	__be16 vport;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct rev4_key);
	__type(value, struct rev4_val);
	__uint(max_entries, 1);
} lb4_rev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct rev6_key);
	__type(value, struct rev6_val);
	__uint(max_entries, 1);
} lb6_rev SEC(".maps");

enum {
	LB_PASS = 0,      // not for a service (or not parsed): passed untouched
	LB_FORWARD = 1,   // sent to a backend, a new flow
	LB_NO_BACKEND = 2, // for a service without backends: dropped
	LB_FRAGMENT = 3,  // a fragment: passed untouched
	LB_ESTABLISHED = 4, // sent to a backend, a tracked flow
	LB_REPLY = 5,     // a backend's reply, its source made the frontend
	LB_DECAP = 6,     // a DSR packet, decapsulated on its backend
	LB_EVENTS_LOST = 7, // decisions the full ring buffer lost
	LB_REDIRECTED = 8,  // DSR packets sent out of their route's interface
	LB_COUNTERS = 9,
};

COUNTERS(lb_stats, LB_COUNTERS);

static __always_inline int lb_count(__u32 counter, int verdict)
{
	return count_in(&lb_stats, counter, verdict);
}

// The kernel's jhash, as Cilium's __hash_from_tuple_v4 and _v6 use it.
#define rol32(w, s) (((w) << (s)) | ((w) >> (32 - (s))))
#define JHASH_INITVAL 0xdeadbeef

#define jhash_mix(a, b, c)                      \
	{                                       \
		a -= c; a ^= rol32(c, 4); c += b;   \
		b -= a; b ^= rol32(a, 6); a += c;   \
		c -= b; c ^= rol32(b, 8); b += a;   \
		a -= c; a ^= rol32(c, 16); c += b;  \
		b -= a; b ^= rol32(a, 19); a += c;  \
		c -= b; c ^= rol32(b, 4); b += a;   \
	}

static __always_inline __u32 jhash_final(__u32 a, __u32 b, __u32 c)
{
	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	return c;
}

static __always_inline __u32 jhash_3words(__u32 a, __u32 b, __u32 c, __u32 initval)
{
	a += JHASH_INITVAL + (3 << 2) + initval;
	b += JHASH_INITVAL + (3 << 2) + initval;
	c += JHASH_INITVAL + (3 << 2) + initval;
	return jhash_final(a, b, c);
}

// hash6 is Cilium's __hash_from_tuple_v6: the source address, both ports
// as one word and the protocol.
static __always_inline __u32 hash6(const __be32 *saddr, __u32 ports, __u8 proto)
{
	__u32 a = saddr[0], b = saddr[1], c = saddr[2];
	jhash_mix(a, b, c);
	a += saddr[3];
	b += ports;
	c += proto;
	jhash_mix(a, b, c);
	a += flow_seed6;
	return jhash_final(a, b, c);
}

// csum_replace updates a 16-bit ones' complement checksum for a 32-bit
// field changing from `from` to `to` (RFC 1624, equation 3).
static __always_inline __u16 csum_replace(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;
	sum += (__u16)~(from & 0xffff) + (__u16)~(from >> 16);
	sum += (to & 0xffff) + (to >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

// flow is a parsed TCP or UDP packet of either family.
struct flow {
	void *l3;
	__be16 *ports; // source, destination
	__u8 family;   // 4 or 6
	__u8 proto;
	__u8 flags; // TCP flags, 0 for UDP
};

static __always_inline void addr_copy(__be32 *dst, const __be32 *src)
{
	dst[0] = src[0];
	dst[1] = src[1];
	dst[2] = src[2];
	dst[3] = src[3];
}

// lb_event reports a decision when a reader listens.
static __always_inline void lb_event(struct xdp_md *ctx, __u8 kind, struct flow *f, struct lb_backend *be)
{
	if (!lb_events_on)
		return;
	struct lb_event *e = bpf_ringbuf_reserve(&lb_events, sizeof(*e), 0);
	if (!e) {
		lb_count(LB_EVENTS_LOST, 0);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ktime_ns = bpf_ktime_get_ns();
	e->ifindex = ctx->ingress_ifindex;
	e->kind = kind;
	e->proto = f->proto;
	e->family = f->family;
	if (f->family == 4) {
		struct iphdr *ip = f->l3;
		e->client[0] = ip->saddr;
		e->vip[0] = ip->daddr;
	} else {
		struct ipv6hdr *ip6 = f->l3;
		addr_copy(e->client, ip6->saddr.in6_u.u6_addr32);
		addr_copy(e->vip, ip6->daddr.in6_u.u6_addr32);
	}
	e->cport = f->ports[0];
	e->vport = f->ports[1];
	if (be) {
		addr_copy(e->backend, be->addr);
		e->bport = be->port;
	}
	bpf_ringbuf_submit(e, 0);
}

// l4_check is where the TCP or UDP checksum of a whole header is, or 0 for
// a UDP packet without one (IPv4 only: IPv6 requires it).
static __always_inline __u16 *l4_check(__u8 proto, __be16 *ports, void *end)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)ports;
		if ((void *)(tcp + 1) > end)
			return 0;
		return &tcp->check;
	}
	struct udphdr *udp = (void *)ports;
	if ((void *)(udp + 1) > end || !udp->check)
		return 0;
	return &udp->check;
}

// l4_fix stores a UDP or TCP checksum: UDP's 0 means none, so it is sent as 0xffff.
static __always_inline void l4_fix(__u8 proto, __u16 *check, __u16 c)
{
	*check = (proto == IPPROTO_UDP && !c) ? 0xffff : c;
}

// rewrite4 sets an address and a port of an IPv4 TCP or UDP packet whose
// headers are known to be whole, updating the checksums.
static __always_inline void rewrite4(struct iphdr *ip, __be16 *ports, void *end, __be32 *addr, __be16 *port,
				     __be32 new_addr, __be16 new_port)
{
	__be32 old_addr = *addr;
	__be16 old_port = *port;
	*addr = new_addr;
	ip->check = csum_replace(ip->check, old_addr, new_addr);
	*port = new_port;
	__u16 *check = l4_check(ip->protocol, ports, end);
	if (!check)
		return;
	__u16 c = csum_replace(*check, old_addr, new_addr);
	l4_fix(ip->protocol, check, csum_replace(c, old_port, new_port));
}

// rewrite6 sets an address and a port of an IPv6 TCP or UDP packet whose
// headers are known to be whole, updating the checksum (IPv6 has none of
// its own).
static __always_inline void rewrite6(__u8 proto, __be16 *ports, void *end, __be32 *addr, __be16 *port,
				     const __be32 *new_addr, __be16 new_port)
{
	__u16 *check = l4_check(proto, ports, end);
	__u16 c = check ? *check : 0;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		c = csum_replace(c, addr[i], new_addr[i]);
		addr[i] = new_addr[i];
	}
	c = csum_replace(c, *port, new_port);
	*port = new_port;
	if (check)
		l4_fix(proto, check, c);
}

// ipv4_csum is the checksum of a 20-byte IPv4 header.
static __always_inline __u16 ipv4_csum(struct iphdr *ip)
{
	__u32 sum = 0;
	__u16 *w = (__u16 *)ip;
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

// encap4 puts an outer IPv4 header (dsr_source to the backend, protocol
// IPIP) between the Ethernet header and the packet, which must be
// untagged. It returns -1 when it cannot.
static __always_inline int encap4(struct xdp_md *ctx, __be32 backend)
{
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *outer = data + sizeof(struct ethhdr);
	struct iphdr *inner = (void *)(outer + 1);
	if ((void *)(inner + 1) > end)
		return -1;
	__builtin_memmove(eth, data + sizeof(struct iphdr), sizeof(struct ethhdr));
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = inner->tos;
	outer->tot_len = bpf_htons(bpf_ntohs(inner->tot_len) + sizeof(struct iphdr));
	outer->id = 0;
	outer->frag_off = bpf_htons(0x4000); // DF
	outer->ttl = 64;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = dsr_source;
	outer->daddr = backend;
	outer->check = ipv4_csum(outer);
	return 0;
}

// encap6 puts an outer IPv6 header (dsr_source6 to the backend, next
// header IPv6) between the Ethernet header and the packet, which must be
// untagged. It returns -1 when it cannot.
static __always_inline int encap6(struct xdp_md *ctx, const __be32 *backend)
{
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct ipv6hdr)))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *outer = data + sizeof(struct ethhdr);
	struct ipv6hdr *inner = (void *)(outer + 1);
	if ((void *)(inner + 1) > end)
		return -1;
	__builtin_memmove(eth, data + sizeof(struct ipv6hdr), sizeof(struct ethhdr));
	// Version and traffic class, no flow label.
	*(__be32 *)outer = *(__be32 *)inner & bpf_htonl(0xfff00000);
	outer->payload_len = bpf_htons(bpf_ntohs(inner->payload_len) + sizeof(struct ipv6hdr));
	outer->nexthdr = IPPROTO_IPV6;
	outer->hop_limit = 64;
	// Read through the volatile: the value is set at load time.
	outer->saddr.in6_u.u6_addr32[0] = dsr_source6[0];
	outer->saddr.in6_u.u6_addr32[1] = dsr_source6[1];
	outer->saddr.in6_u.u6_addr32[2] = dsr_source6[2];
	outer->saddr.in6_u.u6_addr32[3] = dsr_source6[3];
	addr_copy(outer->daddr.in6_u.u6_addr32, backend);
	return 0;
}

// parse finds the IP header and the ports of a whole TCP or UDP header
// that is not a fragment; it returns the counter of a packet to pass
// untouched otherwise (-1 when found). IPv6 extension headers are not
// walked: a packet whose first next header is not TCP or UDP passes, a
// fragment header counted as a fragment.
static __always_inline int parse(struct xdp_md *ctx, struct flow *f)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct packet p;
	if (parse_l2(data, end, &p) < 0)
		return LB_PASS;
	void *l4;
	if (p.proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = p.l3;
		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return LB_PASS;
		if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
			return LB_PASS;
		if (ip->frag_off & bpf_htons(0x3fff)) // MF or an offset
			return LB_FRAGMENT;
		f->family = 4;
		f->proto = ip->protocol;
		l4 = (void *)ip + ip->ihl * 4;
	} else if (p.proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = p.l3;
		if ((void *)(ip6 + 1) > end)
			return LB_PASS;
		if (ip6->nexthdr == IPPROTO_FRAGMENT)
			return LB_FRAGMENT;
		if (ip6->nexthdr != IPPROTO_TCP && ip6->nexthdr != IPPROTO_UDP)
			return LB_PASS;
		f->family = 6;
		f->proto = ip6->nexthdr;
		l4 = ip6 + 1;
	} else {
		return LB_PASS;
	}
	// The ports lie at the same place in TCP and UDP headers; the whole
	// header must be there before anything is rewritten.
	__u32 l4len = f->proto == IPPROTO_TCP ? sizeof(struct tcphdr) : sizeof(struct udphdr);
	if (l4 + l4len > end)
		return LB_PASS;
	f->l3 = p.l3;
	f->ports = l4;
	f->flags = f->proto == IPPROTO_TCP ? ((__u8 *)l4)[13] : 0;
	return -1;
}

// track updates a tracked flow's entry after a packet and says whether
// its backend still is the one it was given (be, looked up by the caller).
static __always_inline int ct_keep(struct ct_entry *ct, struct lb_backend *be, struct flow *f, __u32 jiffies)
{
	if (!be || be->gen != ct->backend_gen || !be->family)
		return 0;
	// A write a second at most: the entry's cache line stays clean
	// under a stream of packets.
	if (jiffies - ct->last_seen_jiffies > CT_REFRESH) {
		ct->last_seen_ns = bpf_ktime_get_coarse_ns();
		ct->last_seen_jiffies = jiffies;
	}
	__u8 state = ct_next(f->proto, 1, ct->state, f->flags);
	if (state != ct->state)
		ct->state = state;
	return 1;
}

// pick reads the backend of a new flow from svc's Maglev table, at the
// slot of the flow's hash or a random one, reporting the decision; it
// returns 0 when there is none.
static __always_inline struct lb_backend *pick(struct xdp_md *ctx, struct lb_service *svc, __u32 hash, struct flow *f,
					       __u32 *idp)
{
	if (svc->backends == 0)
		goto none;
	if (svc->flags & LB_SVC_RANDOM)
		hash = bpf_get_prandom_u32();
	__u32 slot = svc->region * table_size + hash % table_size;
	__u32 pair = slot >> 1;
	struct maglev_pair *pr = bpf_map_lookup_elem(&lb_maglev, &pair);
	if (!pr)
		goto none;
	__u32 id = pr->id[slot & 1];
	struct lb_backend *be = bpf_map_lookup_elem(&lb_backends, &id);
	if (!be || be->family != f->family)
		goto none;
	lb_event(ctx, LB_EVENT_NEW_FLOW, f, be);
	*idp = id;
	return be;
none:
	lb_event(ctx, LB_EVENT_NO_BACKEND, f, 0);
	return 0;
}

// dsr_out sends an encapsulated DSR packet (outer header of family) on,
// counted under counter: with dsr_redirect, out of the interface of its
// route, addressed to the next hop, when the route and the next hop's
// neighbour entry are known; to the node's stack otherwise.
static __always_inline int dsr_out(struct xdp_md *ctx, __u8 family, __u32 counter)
{
	if (!dsr_redirect)
		return lb_count(counter, XDP_PASS);
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct bpf_fib_lookup fib = {};
	fib.ifindex = ctx->ingress_ifindex;
	if (family == 4) {
		struct iphdr *outer = (void *)(eth + 1);
		if ((void *)(outer + 1) > end)
			return lb_count(counter, XDP_PASS);
		fib.family = AF_INET;
		fib.tos = outer->tos;
		fib.l4_protocol = IPPROTO_IPIP;
		fib.tot_len = bpf_ntohs(outer->tot_len);
		fib.ipv4_src = outer->saddr;
		fib.ipv4_dst = outer->daddr;
	} else {
		struct ipv6hdr *outer = (void *)(eth + 1);
		if ((void *)(outer + 1) > end)
			return lb_count(counter, XDP_PASS);
		fib.family = AF_INET6;
		fib.l4_protocol = IPPROTO_IPV6;
		fib.tot_len = bpf_ntohs(outer->payload_len) + sizeof(*outer);
		addr_copy(fib.ipv6_src, outer->saddr.in6_u.u6_addr32);
		addr_copy(fib.ipv6_dst, outer->daddr.in6_u.u6_addr32);
	}
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return lb_count(counter, XDP_PASS);
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	lb_count(LB_REDIRECTED, 0);
	return lb_count(counter, bpf_redirect(fib.ifindex, 0));
}

static __always_inline int lb4(struct xdp_md *ctx, struct flow *f)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = f->l3;
	__be16 *ports = f->ports;
	// A tracked flow first: one lookup, and the service is not looked at
	// (deleting a service removes its flows).
	// Timeouts are seconds: ticks and the coarse clock are enough.
	__u32 jiffies = bpf_jiffies64();
	struct ct4_key ck = {.saddr = ip->saddr, .vip = ip->daddr, .sport = ports[0], .dport = ports[1], .proto = f->proto};
	struct lb_backend *be = 0;
	__u32 counter = LB_ESTABLISHED;
	__u32 dsr = 0;
	struct ct_entry *ct = bpf_map_lookup_elem(&lb4_ct, &ck);
	if (ct) {
		__u32 id = ct->backend_id;
		be = bpf_map_lookup_elem(&lb_backends, &id);
		if (ct_keep(ct, be, f, jiffies))
			dsr = ct->dsr;
		else
			be = 0;
	}
	if (!be) {
		struct lb4_key key = {.vip = ip->daddr, .port = ports[1], .proto = f->proto};
		struct lb_service *svc = bpf_map_lookup_elem(&lb4_services, &key);
		if (!svc)
			return lb_count(LB_PASS, XDP_PASS);
		dsr = svc->flags & LB_SVC_DSR;
		// Cilium's flow hash: jhash_3words(saddr, both ports as one word, protocol).
		__u32 hash = jhash_3words(ip->saddr, *(__u32 *)ports, f->proto, flow_seed4);
		__u32 id;
		be = pick(ctx, svc, hash, f, &id);
		if (!be)
			return lb_count(LB_NO_BACKEND, XDP_DROP);
		struct ct_entry e = {.last_seen_ns = bpf_ktime_get_coarse_ns(), .last_seen_jiffies = jiffies, .backend_id = id, .backend_port = be->port,
				     .state = ct_next(f->proto, 0, 0, f->flags), .dsr = dsr, .backend_gen = be->gen};
		e.backend_addr[0] = be->addr[0];
		bpf_map_update_elem(&lb4_ct, &ck, &e, BPF_ANY);
		if (!dsr) {
			struct rev4_key rk = {.client = ip->saddr, .backend = be->addr[0], .cport = ports[0], .bport = be->port, .proto = f->proto};
			struct rev4_val rv = {.vip = ip->daddr, .vport = ports[1]};
			bpf_map_update_elem(&lb4_rev, &rk, &rv, BPF_ANY);
		}
		counter = LB_FORWARD;
	}
	if (dsr) {
		// Only an untagged frame makes room for the outer header.
		if ((void *)ip != data + sizeof(struct ethhdr))
			return lb_count(LB_PASS, XDP_PASS);
		if (encap4(ctx, be->addr[0]) < 0)
			return lb_count(LB_NO_BACKEND, XDP_DROP);
		return dsr_out(ctx, 4, counter);
	}
	rewrite4(ip, ports, end, &ip->daddr, &ports[1], be->addr[0], be->port);
	return lb_count(counter, XDP_PASS);
}

static __always_inline int lb6(struct xdp_md *ctx, struct flow *f)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = f->l3;
	__be16 *ports = f->ports;
	__be32 *saddr = ip6->saddr.in6_u.u6_addr32, *daddr = ip6->daddr.in6_u.u6_addr32;
	__u32 jiffies = bpf_jiffies64();
	struct ct6_key ck = {.sport = ports[0], .dport = ports[1], .proto = f->proto};
	addr_copy(ck.saddr, saddr);
	addr_copy(ck.vip, daddr);
	struct lb_backend *be = 0;
	__u32 counter = LB_ESTABLISHED;
	__u32 dsr = 0;
	struct ct_entry *ct = bpf_map_lookup_elem(&lb6_ct, &ck);
	if (ct) {
		__u32 id = ct->backend_id;
		be = bpf_map_lookup_elem(&lb_backends, &id);
		if (ct_keep(ct, be, f, jiffies))
			dsr = ct->dsr;
		else
			be = 0;
	}
	if (!be) {
		struct lb6_key key = {.port = ports[1], .proto = f->proto};
		addr_copy(key.vip, daddr);
		struct lb_service *svc = bpf_map_lookup_elem(&lb6_services, &key);
		if (!svc)
			return lb_count(LB_PASS, XDP_PASS);
		dsr = svc->flags & LB_SVC_DSR;
		__u32 id;
		be = pick(ctx, svc, hash6(saddr, *(__u32 *)ports, f->proto), f, &id);
		if (!be)
			return lb_count(LB_NO_BACKEND, XDP_DROP);
		struct ct_entry e = {.last_seen_ns = bpf_ktime_get_coarse_ns(), .last_seen_jiffies = jiffies, .backend_id = id, .backend_port = be->port,
				     .state = ct_next(f->proto, 0, 0, f->flags), .dsr = dsr, .backend_gen = be->gen};
		addr_copy(e.backend_addr, be->addr);
		bpf_map_update_elem(&lb6_ct, &ck, &e, BPF_ANY);
		if (!dsr) {
			struct rev6_key rk = {.cport = ports[0], .bport = be->port, .proto = f->proto};
			addr_copy(rk.client, saddr);
			addr_copy(rk.backend, be->addr);
			struct rev6_val rv = {.vport = ports[1]};
			addr_copy(rv.vip, daddr);
			bpf_map_update_elem(&lb6_rev, &rk, &rv, BPF_ANY);
		}
		counter = LB_FORWARD;
	}
	if (dsr) {
		if ((void *)ip6 != data + sizeof(struct ethhdr))
			return lb_count(LB_PASS, XDP_PASS);
		if (encap6(ctx, be->addr) < 0)
			return lb_count(LB_NO_BACKEND, XDP_DROP);
		return dsr_out(ctx, 6, counter);
	}
	rewrite6(f->proto, ports, end, daddr, &ports[1], be->addr, be->port);
	return lb_count(counter, XDP_PASS);
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	struct flow f;
	int c = parse(ctx, &f);
	if (c >= 0)
		return lb_count(c, XDP_PASS);
	if (f.family == 4)
		return lb4(ctx, &f);
	return lb6(ctx, &f);
}

// xdp_lb_reply runs where backends' replies come in: a reply of a flow
// the load balancer sent gets the frontend back as its source.
SEC("xdp")
int xdp_lb_reply(struct xdp_md *ctx)
{
	void *end = (void *)(long)ctx->data_end;
	struct flow f;
	int c = parse(ctx, &f);
	if (c >= 0)
		return lb_count(c, XDP_PASS);
	__be16 *ports = f.ports;
	if (f.family == 4) {
		struct iphdr *ip = f.l3;
		struct rev4_key rk = {.client = ip->daddr, .backend = ip->saddr, .cport = ports[1], .bport = ports[0], .proto = f.proto};
		struct rev4_val *rv = bpf_map_lookup_elem(&lb4_rev, &rk);
		if (!rv)
			return lb_count(LB_PASS, XDP_PASS);
		rewrite4(ip, ports, end, &ip->saddr, &ports[0], rv->vip, rv->vport);
		return lb_count(LB_REPLY, XDP_PASS);
	}
	struct ipv6hdr *ip6 = f.l3;
	struct rev6_key rk = {.cport = ports[1], .bport = ports[0], .proto = f.proto};
	addr_copy(rk.client, ip6->daddr.in6_u.u6_addr32);
	addr_copy(rk.backend, ip6->saddr.in6_u.u6_addr32);
	struct rev6_val *rv = bpf_map_lookup_elem(&lb6_rev, &rk);
	if (!rv)
		return lb_count(LB_PASS, XDP_PASS);
	rewrite6(f.proto, ports, end, ip6->saddr.in6_u.u6_addr32, &ports[0], rv->vip, rv->vport);
	return lb_count(LB_REPLY, XDP_PASS);
}

// xdp_dsr_decap runs on a DSR backend: an IPIP (or IPv6-in-IPv6) packet
// loses its outer header, and the packet inside goes on to the stack (to
// the frontend address the backend owns). The kernel's own tunnel
// devices do the same, where the kernel has them.
SEC("xdp")
int xdp_dsr_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return lb_count(LB_PASS, XDP_PASS);
	int outer_len;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *outer = (void *)(eth + 1);
		if ((void *)(outer + 1) > end || outer->protocol != IPPROTO_IPIP || outer->ihl != 5 ||
		    (outer->frag_off & bpf_htons(0x3fff)))
			return lb_count(LB_PASS, XDP_PASS);
		outer_len = sizeof(struct iphdr);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *outer = (void *)(eth + 1);
		if ((void *)(outer + 1) > end || outer->nexthdr != IPPROTO_IPV6)
			return lb_count(LB_PASS, XDP_PASS);
		outer_len = sizeof(struct ipv6hdr);
	} else {
		return lb_count(LB_PASS, XDP_PASS);
	}
	struct ethhdr copy;
	__builtin_memcpy(&copy, eth, sizeof(copy));
	if (bpf_xdp_adjust_head(ctx, outer_len))
		return lb_count(LB_PASS, XDP_PASS);
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return lb_count(LB_NO_BACKEND, XDP_DROP);
	__builtin_memcpy(eth, &copy, sizeof(copy));
	return lb_count(LB_DECAP, XDP_PASS);
}

char _license[] SEC("license") = "Dual BSD/GPL";
