// SPDX-License-Identifier: (MIT OR GPL-2.0)
//
// xdpmux XDP program: redirects the frames that the dataplane claims
// (non-fragmented IPv4/IPv6 UDP or TCP whose (protocol, destination port) is
// in the `claimed` map) to the AF_XDP socket of the receive queue, through the
// `xsks` XSKMAP indexed by rx_queue_index. Everything else (ARP, ICMP,
// fragments, unclaimed ports, unparseable frames) gets XDP_PASS, so the host
// stays reachable. See doc.go.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_QUEUES 64
#define MAX_CLAIMS 65536
#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT 4

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define ETH_P_QINQ1_ 0x9100

#define IP_MF_ 0x2000
#define IP_OFFSET_ 0x1FFF

// config flag bits
#define CONFIG_DROP_CLAIMED 1u

struct claim_key {
	__u8 proto; // IPPROTO_UDP or IPPROTO_TCP
	__u8 pad;   // always zero
	__u16 port; // destination port, network byte order
};

struct queue_counters {
	__u64 redirected; // claimed, socket present: bpf_redirect_map returned XDP_REDIRECT
	__u64 passed;     // XDP_PASS: not claimed, not parseable, or claimed without a socket
	__u64 dropped;    // claimed and dropped (drop-claimed mode)
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_CLAIMS);
	__type(key, struct claim_key);
	__type(value, __u8);
} claimed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct queue_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config SEC(".maps");

struct vlan_hdr_ {
	__be16 tci;
	__be16 encap_proto;
};

struct ipv6_opt_hdr_ {
	__u8 nexthdr;
	__u8 hdrlen;
};

static __always_inline int is_vlan(__u16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q_) ||
	       proto == bpf_htons(ETH_P_8021AD_) ||
	       proto == bpf_htons(ETH_P_QINQ1_);
}

static __always_inline int pass(struct queue_counters *c)
{
	if (c)
		c->passed++;
	return XDP_PASS;
}

SEC("xdp")
int xdpmux(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 queue = ctx->rx_queue_index;
	struct queue_counters *c = bpf_map_lookup_elem(&counters, &queue);

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return pass(c);

	__u16 proto = eth->h_proto;
	void *cur = eth + 1;

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (!is_vlan(proto))
			break;
		struct vlan_hdr_ *vh = cur;
		if ((void *)(vh + 1) > data_end)
			return pass(c);
		proto = vh->encap_proto;
		cur = vh + 1;
	}

	__u8 l4proto;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = cur;
		if ((void *)(iph + 1) > data_end)
			return pass(c);
		__u32 ihl = iph->ihl;
		if (ihl < 5)
			return pass(c);
		if (iph->frag_off & bpf_htons(IP_MF_ | IP_OFFSET_))
			return pass(c);
		l4proto = iph->protocol;
		cur = (void *)iph + ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;
		if ((void *)(ip6 + 1) > data_end)
			return pass(c);
		l4proto = ip6->nexthdr;
		cur = ip6 + 1;
#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT; i++) {
			if (l4proto != IPPROTO_HOPOPTS && l4proto != IPPROTO_ROUTING &&
			    l4proto != IPPROTO_DSTOPTS)
				break;
			struct ipv6_opt_hdr_ *oh = cur;
			if ((void *)(oh + 1) > data_end)
				return pass(c);
			l4proto = oh->nexthdr;
			cur = (void *)oh + ((__u32)oh->hdrlen + 1) * 8;
		}
		// A fragment header, or a chain longer than MAX_IPV6_EXT, ends
		// here with a next header that is not UDP/TCP: passed below.
	} else {
		return pass(c);
	}

	if (l4proto != IPPROTO_UDP && l4proto != IPPROTO_TCP)
		return pass(c);

	// UDP and TCP both carry the destination port at offset 2.
	__be16 *ports = cur;
	if ((void *)(ports + 2) > data_end)
		return pass(c);

	struct claim_key key = {
		.proto = l4proto,
		.pad = 0,
		.port = ports[1],
	};
	if (!bpf_map_lookup_elem(&claimed, &key))
		return pass(c);

	__u32 zero = 0;
	__u32 *flags = bpf_map_lookup_elem(&config, &zero);
	if (flags && (*flags & CONFIG_DROP_CLAIMED)) {
		if (c)
			c->dropped++;
		return XDP_DROP;
	}

	long ret = bpf_redirect_map(&xsks, queue, XDP_PASS);
	if (c) {
		if (ret == XDP_REDIRECT)
			c->redirected++;
		else
			c->passed++;
	}
	return ret;
}

char _license[] SEC("license") = "Dual MIT/GPL";
