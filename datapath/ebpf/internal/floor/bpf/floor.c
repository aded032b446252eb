// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// The floors of BenchmarkLB/dnat/established and dsr/established: the
// least a load balancer can do for a tracked flow. Untagged IPv4 TCP only,
// one LRU hash lookup of the flow, then the destination rewritten with its
// checksums (xdp_floor) or an outer IPIP header put in front (xdp_floor_ipip);
// no counters, no clock, no backend check, no IPv6, no VLAN.
// BenchmarkLBFloor runs them on the same frame, so the load balancer's
// figures can be read against what the machine gives at the time.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct floor_key {
	__be32 saddr;
	__be32 vip;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct floor_val {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct floor_key);
	__type(value, struct floor_val);
	__uint(max_entries, 262144);
} floor_ct SEC(".maps");

static __always_inline __u16 floor_csum(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;
	sum += (__u16)~(from & 0xffff) + (__u16)~(from >> 16);
	sum += (to & 0xffff) + (to >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

// floor_flow finds the tracked flow of an untagged IPv4 TCP frame, or 0.
static __always_inline struct floor_val *floor_flow(struct xdp_md *ctx, struct iphdr **ipp, struct tcphdr **tcpp)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_TCP)
		return 0;
	struct floor_key k = {.saddr = ip->saddr, .vip = ip->daddr, .sport = tcp->source, .dport = tcp->dest, .proto = IPPROTO_TCP};
	*ipp = ip;
	*tcpp = tcp;
	return bpf_map_lookup_elem(&floor_ct, &k);
}

SEC("xdp")
int xdp_floor(struct xdp_md *ctx)
{
	struct iphdr *ip;
	struct tcphdr *tcp;
	struct floor_val *v = floor_flow(ctx, &ip, &tcp);
	if (!v)
		return XDP_PASS;
	__be32 old = ip->daddr;
	ip->daddr = v->addr;
	ip->check = floor_csum(ip->check, old, v->addr);
	__u16 c = floor_csum(tcp->check, old, v->addr);
	tcp->check = floor_csum(c, tcp->dest, v->port);
	tcp->dest = v->port;
	return XDP_PASS;
}

SEC("xdp")
int xdp_floor_ipip(struct xdp_md *ctx)
{
	struct iphdr *ip;
	struct tcphdr *tcp;
	struct floor_val *v = floor_flow(ctx, &ip, &tcp);
	if (!v)
		return XDP_PASS;
	__be32 backend = v->addr;
	void *data, *end;
	struct ethhdr *eth;
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	struct iphdr *outer = data + sizeof(struct ethhdr);
	struct iphdr *inner = (void *)(outer + 1);
	if ((void *)(inner + 1) > end)
		return XDP_DROP;
	__builtin_memmove(eth, data + sizeof(struct iphdr), sizeof(struct ethhdr));
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = 0;
	outer->tot_len = bpf_htons(bpf_ntohs(inner->tot_len) + sizeof(struct iphdr));
	outer->id = 0;
	outer->frag_off = 0;
	outer->ttl = 64;
	outer->protocol = IPPROTO_IPIP;
	outer->saddr = inner->daddr;
	outer->daddr = backend;
	outer->check = 0;
	__u32 sum = 0;
	__u16 *w = (__u16 *)outer;
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	outer->check = (__u16)~sum;
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
