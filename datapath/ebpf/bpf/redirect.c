// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// The proxy redirect: TCP to a frontend (VIP, port) that has a redirect
// is handed, at TC ingress, to a local proxy's listening socket with
// bpf_sk_assign, the eBPF form of TPROXY: the proxy accepts connections
// addressed to a frontend it does not own, and its accepted sockets carry
// the frontend as their local address. XDP cannot do this: it runs
// before a socket buffer exists, and only a socket buffer can be assigned
// to a socket. The frontend's address must be delivered locally (a local
// route for it), which the caller sets up.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "common.h"

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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct redirect4_key);
	__type(value, struct redirect4_val);
	__uint(max_entries, 1);
} redirect4 SEC(".maps");

enum {
	RD_PASS = 0,       // not for a redirected frontend
	RD_ASSIGNED = 1,   // handed to the proxy's socket
	RD_NO_PROXY = 2,   // for a redirected frontend, but no proxy listens: passed
	RD_FAILED = 3,     // bpf_sk_assign refused: dropped
	RD_COUNTERS = 4,
};

COUNTERS(redirect_stats, RD_COUNTERS);

SEC("tc")
int tc_redirect(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct packet p;
	if (parse_l2(data, end, &p) < 0 || p.proto != bpf_htons(ETH_P_IP))
		return count_in(&redirect_stats, RD_PASS, TC_ACT_OK);
	struct iphdr *ip = p.l3;
	if ((void *)(ip + 1) > end || ip->ihl < 5 || ip->protocol != IPPROTO_TCP)
		return count_in(&redirect_stats, RD_PASS, TC_ACT_OK);
	struct tcphdr *tcp = (void *)ip + ip->ihl * 4;
	if ((void *)(tcp + 1) > end)
		return count_in(&redirect_stats, RD_PASS, TC_ACT_OK);

	struct redirect4_key key = {.vip = ip->daddr, .port = tcp->dest, .proto = IPPROTO_TCP};
	struct redirect4_val *to = bpf_map_lookup_elem(&redirect4, &key);
	if (!to)
		return count_in(&redirect_stats, RD_PASS, TC_ACT_OK);

	// A connection the proxy accepted already: its own socket.
	struct bpf_sock_tuple tuple = {};
	tuple.ipv4.saddr = ip->saddr;
	tuple.ipv4.daddr = ip->daddr;
	tuple.ipv4.sport = tcp->source;
	tuple.ipv4.dport = tcp->dest;
	struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (sk && sk->state == BPF_TCP_LISTEN) {
		// A listener on the frontend itself is not the proxy's.
		bpf_sk_release(sk);
		sk = 0;
	}
	if (!sk) {
		// A new connection: the proxy's listener.
		tuple.ipv4.daddr = to->addr;
		tuple.ipv4.dport = to->port;
		sk = bpf_skc_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
		if (!sk)
			return count_in(&redirect_stats, RD_NO_PROXY, TC_ACT_OK);
		if (sk->state != BPF_TCP_LISTEN) {
			bpf_sk_release(sk);
			return count_in(&redirect_stats, RD_NO_PROXY, TC_ACT_OK);
		}
	}
	long err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (err)
		return count_in(&redirect_stats, RD_FAILED, TC_ACT_SHOT);
	return count_in(&redirect_stats, RD_ASSIGNED, TC_ACT_OK);
}

char _license[] SEC("license") = "Dual BSD/GPL";
