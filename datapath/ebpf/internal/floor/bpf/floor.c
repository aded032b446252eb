// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// The floor of BenchmarkLB/dnat/established: the least a load balancer can
// do for a tracked flow. Untagged IPv4 TCP only, one LRU hash lookup of
// the flow, the destination rewritten with its checksums; no counters, no
// clock, no backend check, no IPv6, no VLAN. BenchmarkLBFloor runs it on
// the same frame, so the load balancer's figure can be read against what
// the machine gives at the time.

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

SEC("xdp")
int xdp_floor(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_TCP)
		return XDP_PASS;
	struct floor_key k = {.saddr = ip->saddr, .vip = ip->daddr, .sport = tcp->source, .dport = tcp->dest, .proto = IPPROTO_TCP};
	struct floor_val *v = bpf_map_lookup_elem(&floor_ct, &k);
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

char _license[] SEC("license") = "Dual BSD/GPL";
