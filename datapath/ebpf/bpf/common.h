// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// Parsing shared by the datapath's programs.

#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

// packet is what parse_l2 found: the network protocol (network byte
// order) and where its header starts.
struct packet {
	__be16 proto;
	void *l3;
};

// parse_l2 reads the Ethernet header and up to two VLAN tags (802.1ad
// outer, 802.1Q inner). It returns -1 when the frame is cut short.
static __always_inline int parse_l2(void *data, void *end, struct packet *p)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return -1;
	p->proto = eth->h_proto;
	p->l3 = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (p->proto != bpf_htons(ETH_P_8021Q) && p->proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *vh = p->l3;
		if ((void *)(vh + 1) > end)
			return -1;
		p->proto = vh->proto;
		p->l3 = vh + 1;
	}
	return 0;
}

// COUNTERS declares a per-CPU array of n packet counters.
#define COUNTERS(name, n)                            \
	struct {                                     \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__type(key, __u32);                  \
		__type(value, __u64);                \
		__uint(max_entries, n);              \
	} name SEC(".maps")

// count_in adds one to counter of a COUNTERS map and returns verdict.
static __always_inline int count_in(void *counters, __u32 counter, int verdict)
{
	__u64 *n = bpf_map_lookup_elem(counters, &counter);
	if (n)
		*n += 1;
	return verdict;
}
