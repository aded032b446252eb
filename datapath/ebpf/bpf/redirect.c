// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// The proxy redirect: TCP to a frontend (VIP, port) that has a redirect
// is handed, at TC ingress, to a local proxy's listening socket with
// bpf_sk_assign, the eBPF form of TPROXY: the proxy accepts connections
// addressed to a frontend it does not own, and its accepted sockets carry
// the frontend as their local address. XDP cannot do this: it runs
// before a socket buffer exists, and only a socket buffer can be assigned
// to a socket. The frontend's address must be delivered locally (a local
// route for it), which the caller sets up. IPv4 frontends go to IPv4
// proxies, IPv6 frontends to IPv6 proxies.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "common.h"

// IPv6 extension headers the program skips to find TCP.
#define RD_NEXTHDR_HOP 0
#define RD_NEXTHDR_ROUTING 43
#define RD_NEXTHDR_DEST 60
// At most this many of them: hop-by-hop, destination options, routing,
// destination options again, the order RFC 8200 gives before the upper
// layer. A packet with more, or with any other next header (a fragment
// header, ESP, AH, UDP...), passes untouched.
#define RD_MAX_EXTHDRS 4
// How much of a packet whose headers are not all in the socket buffer's
// linear data is pulled into it, at most.
#define RD_PULL 256

// redirect_events_on is set while user space reads decisions.
volatile __u32 redirect_events_on;

struct redirect4_key {
	__be32 vip;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

// The proxy's listener: an address (0 for any) and a port.
struct redirect4_val {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct redirect6_key {
	__be32 vip[4];
	__be16 port;
	__u8 proto;
	__u8 pad;
};

// The proxy's listener: an IPv6 address (:: for any) and a port.
struct redirect6_val {
	__be32 addr[4];
	__be16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct redirect4_key);
	__type(value, struct redirect4_val);
	__uint(max_entries, 1);
} redirect4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct redirect6_key);
	__type(value, struct redirect6_val);
	__uint(max_entries, 1);
} redirect6 SEC(".maps");

enum {
	RD_PASS = 0,        // not for a redirected frontend
	RD_ASSIGNED = 1,    // handed to the proxy's socket
	RD_NO_PROXY = 2,    // for a redirected frontend, but no proxy listens: passed
	RD_FAILED = 3,      // bpf_sk_assign refused: dropped
	RD_EVENTS_LOST = 4, // decisions the full ring buffer lost
	RD_COUNTERS = 5,
};

COUNTERS(redirect_stats, RD_COUNTERS);

// A decision: a new connection handed to the proxy's listener, one that
// found no proxy listening, or an assignment the kernel refused.
// Addresses of either family take 16 bytes (IPv4 in the first 4).
struct redirect_event {
	__u64 ktime_ns;
	__u32 ifindex;
	__u8 kind; // RD_EVENT_*
	__u8 family; // 4 or 6
	__u16 pad;
	__be32 client[4];
	__be32 vip[4];
	__be32 proxy[4];
	__be16 cport;
	__be16 vport;
	__be16 pport;
	__u16 pad2;
};

#define RD_EVENT_NEW_CONNECTION 1
#define RD_EVENT_NO_PROXY 2
#define RD_EVENT_FAILED 3

// Keeps the event's type in the BTF, for bpf2go.
const struct redirect_event *unused_redirect_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} redirect_events SEC(".maps");

// conn is a TCP segment's connection: its tuple as the socket lookup
// takes it, and once its frontend is found to be redirected, the proxy.
struct conn {
	struct bpf_sock_tuple tuple;
	__u8 family; // 4 or 6
	__be32 proxy[4];
	__be16 pport;
};

enum {
	RD_PARSE_OTHER = 0, // not TCP over IP: passes
	RD_PARSE_TCP = 1,   // a TCP segment, its tuple filled in
	RD_PARSE_SHORT = 2, // headers past the linear data (or cut short)
};

// rd_parse reads the connection of a TCP segment.
static __always_inline int rd_parse(struct __sk_buff *skb, struct conn *c)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct packet p;
	if (parse_l2(data, end, &p) < 0)
		return RD_PARSE_SHORT;
	struct tcphdr *tcp;
	if (p.proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = p.l3;
		if ((void *)(ip + 1) > end)
			return RD_PARSE_SHORT;
		// A fragment after the first has no TCP header.
		if (ip->ihl < 5 || ip->protocol != IPPROTO_TCP || (ip->frag_off & bpf_htons(0x1fff)))
			return RD_PARSE_OTHER;
		tcp = (void *)ip + ip->ihl * 4;
		if ((void *)(tcp + 1) > end)
			return RD_PARSE_SHORT;
		c->family = 4;
		c->tuple.ipv4.saddr = ip->saddr;
		c->tuple.ipv4.daddr = ip->daddr;
		c->tuple.ipv4.sport = tcp->source;
		c->tuple.ipv4.dport = tcp->dest;
		return RD_PARSE_TCP;
	}
	if (p.proto != bpf_htons(ETH_P_IPV6))
		return RD_PARSE_OTHER;
	struct ipv6hdr *ip6 = p.l3;
	if ((void *)(ip6 + 1) > end)
		return RD_PARSE_SHORT;
	__u8 next = ip6->nexthdr;
	void *l4 = ip6 + 1;
#pragma unroll
	for (int i = 0; i < RD_MAX_EXTHDRS; i++) {
		if (next != RD_NEXTHDR_HOP && next != RD_NEXTHDR_ROUTING && next != RD_NEXTHDR_DEST)
			break;
		struct ipv6_opt_hdr *h = l4;
		if ((void *)(h + 1) > end)
			return RD_PARSE_SHORT;
		next = h->nexthdr;
		l4 += (h->hdrlen + 1) * 8;
	}
	if (next != IPPROTO_TCP)
		return RD_PARSE_OTHER;
	tcp = l4;
	if ((void *)(tcp + 1) > end)
		return RD_PARSE_SHORT;
	c->family = 6;
	__builtin_memcpy(c->tuple.ipv6.saddr, &ip6->saddr, 16);
	__builtin_memcpy(c->tuple.ipv6.daddr, &ip6->daddr, 16);
	c->tuple.ipv6.sport = tcp->source;
	c->tuple.ipv6.dport = tcp->dest;
	return RD_PARSE_TCP;
}

// rd_lookup finds the socket of tuple t (of family 4 or 6), listening or
// not, in the packet's network namespace; the caller releases it.
static __always_inline struct bpf_sock *rd_lookup(struct __sk_buff *skb, struct bpf_sock_tuple *t, __u8 family)
{
	if (family == 4)
		return bpf_skc_lookup_tcp(skb, t, sizeof(t->ipv4), BPF_F_CURRENT_NETNS, 0);
	return bpf_skc_lookup_tcp(skb, t, sizeof(t->ipv6), BPF_F_CURRENT_NETNS, 0);
}

// rd_event reports a decision when a reader listens.
static __always_inline void rd_event(struct __sk_buff *skb, __u8 kind, struct conn *c)
{
	if (!redirect_events_on)
		return;
	struct redirect_event *e = bpf_ringbuf_reserve(&redirect_events, sizeof(*e), 0);
	if (!e) {
		count_in(&redirect_stats, RD_EVENTS_LOST, 0);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ktime_ns = bpf_ktime_get_ns();
	e->ifindex = skb->ingress_ifindex;
	e->kind = kind;
	e->family = c->family;
	if (c->family == 4) {
		e->client[0] = c->tuple.ipv4.saddr;
		e->vip[0] = c->tuple.ipv4.daddr;
		e->cport = c->tuple.ipv4.sport;
		e->vport = c->tuple.ipv4.dport;
	} else {
		__builtin_memcpy(e->client, c->tuple.ipv6.saddr, 16);
		__builtin_memcpy(e->vip, c->tuple.ipv6.daddr, 16);
		e->cport = c->tuple.ipv6.sport;
		e->vport = c->tuple.ipv6.dport;
	}
	__builtin_memcpy(e->proxy, c->proxy, 16);
	e->pport = c->pport;
	bpf_ringbuf_submit(e, 0);
}

// rd_find reads the redirect of c's frontend into c; it returns 0 when
// the frontend has none.
static __always_inline int rd_find(struct conn *c)
{
	if (c->family == 4) {
		struct redirect4_key k = {.vip = c->tuple.ipv4.daddr, .port = c->tuple.ipv4.dport, .proto = IPPROTO_TCP};
		struct redirect4_val *v = bpf_map_lookup_elem(&redirect4, &k);
		if (!v)
			return 0;
		c->proxy[0] = v->addr;
		c->pport = v->port;
		return 1;
	}
	struct redirect6_key k = {.port = c->tuple.ipv6.dport, .proto = IPPROTO_TCP};
	__builtin_memcpy(k.vip, c->tuple.ipv6.daddr, 16);
	struct redirect6_val *v = bpf_map_lookup_elem(&redirect6, &k);
	if (!v)
		return 0;
	__builtin_memcpy(c->proxy, v->addr, 16);
	c->pport = v->port;
	return 1;
}

SEC("tc")
int tc_redirect(struct __sk_buff *skb)
{
	struct conn c = {};
	int parsed = rd_parse(skb, &c);
	if (parsed == RD_PARSE_SHORT && skb->len > skb->data_end - skb->data) {
		// The headers go on past the linear data: pull them in.
		if (bpf_skb_pull_data(skb, skb->len < RD_PULL ? skb->len : RD_PULL) == 0)
			parsed = rd_parse(skb, &c);
	}
	if (parsed != RD_PARSE_TCP || !rd_find(&c))
		return count_in(&redirect_stats, RD_PASS, TC_ACT_OK);

	// A connection the proxy accepted already (or is accepting): its own
	// socket.
	int listener = 0;
	struct bpf_sock *sk = rd_lookup(skb, &c.tuple, c.family);
	if (sk && sk->state == BPF_TCP_LISTEN) {
		// A listener on the frontend itself is not the proxy's.
		bpf_sk_release(sk);
		sk = 0;
	}
	if (!sk) {
		// A new connection: the proxy's listener.
		struct bpf_sock_tuple t = c.tuple;
		if (c.family == 4) {
			t.ipv4.daddr = c.proxy[0];
			t.ipv4.dport = c.pport;
		} else {
			__builtin_memcpy(t.ipv6.daddr, c.proxy, 16);
			t.ipv6.dport = c.pport;
		}
		sk = rd_lookup(skb, &t, c.family);
		if (sk && sk->state != BPF_TCP_LISTEN) {
			bpf_sk_release(sk);
			sk = 0;
		}
		if (!sk) {
			rd_event(skb, RD_EVENT_NO_PROXY, &c);
			return count_in(&redirect_stats, RD_NO_PROXY, TC_ACT_OK);
		}
		listener = 1;
	}
	long err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (err) {
		rd_event(skb, RD_EVENT_FAILED, &c);
		return count_in(&redirect_stats, RD_FAILED, TC_ACT_SHOT);
	}
	if (listener)
		rd_event(skb, RD_EVENT_NEW_CONNECTION, &c);
	return count_in(&redirect_stats, RD_ASSIGNED, TC_ACT_OK);
}

char _license[] SEC("license") = "Dual BSD/GPL";
