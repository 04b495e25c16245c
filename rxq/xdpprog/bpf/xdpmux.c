// SPDX-License-Identifier: (MIT OR GPL-2.0)
//
// xdpmux XDP program: redirects the frames that the dataplane claims to the
// AF_XDP socket of the receive queue, through the `xsks` XSKMAP indexed by
// rx_queue_index. A frame is claimed only if all of these hold:
//
//   1. its destination MAC is the interface's own unicast MAC (config map):
//      broadcast, multicast and frames for other MACs (macvlan/ipvlan
//      children) always go to the kernel; xdpmux never claims them;
//   2. it is well-formed non-fragmented IPv4/IPv6 UDP or TCP exactly as
//      dataplane/packet.Parse accepts it (lengths, IHL, TCP data offset,
//      up to 2 VLAN tags, up to 8 IPv6 extension headers including AH);
//   3. (protocol, family, destination address, destination port) is in the
//      `claimed` map;
//   4. no kernel socket in the device's namespace owns the frame's 4-tuple
//      (bpf_sk_lookup_udp / bpf_skc_lookup_tcp: connected, bound,
//      listening, request and time-wait sockets), so a port bound through
//      xdpmux never takes a connection the kernel owns.
//
// Everything else gets XDP_PASS, so the host stays reachable. See doc.go.
//
// Two entry points do exactly that: `xdpmux`, and `xdpmux_nichash`, which
// first asks the driver for the hash the NIC computed (the device-bound
// kfunc bpf_xdp_metadata_rx_hash; the program must be loaded bound to the
// device) and puts it, with a flag saying whether the driver gave one, in
// 8 bytes of XDP metadata before the packet (struct nic_meta). AF_XDP
// copies the metadata into the UMEM just before the frame; rxq.ReadMeta
// reads it there.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_QUEUES 64
#define MAX_CLAIMS 65536
#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT 8 // dataplane/packet.MaxExtHeaders

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define ETH_P_QINQ1_ 0x9100

#define IP_MF_ 0x2000
#define IP_OFFSET_ 0x1FFF

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_ 51
#define IPPROTO_DSTOPTS_ 60

#define FAMILY_IPV4 4
#define FAMILY_IPV6 6

// config flag bits
#define CONFIG_DROP_CLAIMED 1u

// struct nic_meta flag word: bit 0 set when the driver gave a hash, bits
// 1-15 the driver's enum xdp_rss_hash_type, bits 16-31 META_MAGIC, so that
// bytes the program did not write are not taken for metadata
// (rxq.MetaValid, rxq.MetaMagic).
#define META_VALID 1u
#define META_RSS_TYPE_SHIFT 1
#define META_RSS_TYPE_MASK 0x7fffu
#define META_MAGIC 0x786d0000u

// The metadata xdpmux_nichash writes before the packet (rxq.NICHash).
struct nic_meta {
	__u32 hash;  // the NIC's RSS hash; 0 unless flags has META_VALID
	__u32 flags; // META_* bits
};

// enum xdp_rss_hash_type of the kernel (include/net/xdp.h); not in uapi.
enum xdp_rss_hash_type {
	XDP_RSS_TYPE_NONE = 0,
};

// The device-bound kfunc (net/core/xdp.c): 0 and the hash, or -EOPNOTSUPP
// when the driver has no xmo_rx_hash, -ENODATA when it has none for this
// frame.
extern int bpf_xdp_metadata_rx_hash(const struct xdp_md *ctx, __u32 *hash,
				    enum xdp_rss_hash_type *rss_type) __ksym;

struct claim_key {
	__u8 proto;     // IPPROTO_UDP or IPPROTO_TCP
	__u8 family;    // FAMILY_IPV4 or FAMILY_IPV6
	__u16 port;     // destination port, network byte order
	__be32 addr[4]; // destination address, network order; IPv4 in addr[0], rest zero
};

struct config_value {
	__u32 flags;   // CONFIG_* bits
	__u32 mac_lo;  // bytes 0-3 of the interface's MAC, as in the frame
	__u16 mac_hi;  // bytes 4-5
	__u16 pad;
};

struct queue_counters {
	__u64 redirected;   // claimed, socket present: bpf_redirect_map returned XDP_REDIRECT
	__u64 passed;       // every XDP_PASS (kernel_owned and not_for_host included)
	__u64 dropped;      // claimed and dropped (drop-claimed mode)
	__u64 kernel_owned; // claimed, but a kernel socket owns the 4-tuple: passed
	__u64 not_for_host; // destination MAC not the interface's unicast MAC: passed
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
	__type(value, struct config_value);
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

// handle is the whole decision, shared by both entry points.
static __always_inline int handle(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 queue = ctx->rx_queue_index;
	struct queue_counters *c = bpf_map_lookup_elem(&counters, &queue);
	__u32 zero = 0;
	struct config_value *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return pass(c);

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return pass(c);
	// Only frames for the interface's own unicast MAC: 6 bytes compared as
	// a u32 and a u16.
	if (*(__u32 *)&eth->h_dest[0] != cfg->mac_lo ||
	    *(__u16 *)&eth->h_dest[4] != cfg->mac_hi) {
		if (c)
			c->not_for_host++;
		return pass(c);
	}

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

	struct claim_key key = {};
	struct bpf_sock_tuple tuple = {};
	__u32 tuple_len;
	__u32 rem; // bytes of the IP packet from cur on
	__u8 l4proto;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = cur;
		if ((void *)(iph + 1) > data_end)
			return pass(c);
		if (iph->version != 4)
			return pass(c);
		__u32 hl = (__u32)iph->ihl * 4;
		__u32 tot = bpf_ntohs(iph->tot_len);
		if (hl < sizeof(*iph) || tot < hl)
			return pass(c);
		if (cur + tot > data_end)
			return pass(c);
		if (iph->frag_off & bpf_htons(IP_MF_ | IP_OFFSET_))
			return pass(c);
		l4proto = iph->protocol;
		key.family = FAMILY_IPV4;
		key.addr[0] = iph->daddr;
		tuple.ipv4.saddr = iph->saddr;
		tuple.ipv4.daddr = iph->daddr;
		tuple_len = sizeof(tuple.ipv4);
		rem = tot - hl;
		cur += hl;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;
		if ((void *)(ip6 + 1) > data_end)
			return pass(c);
		if (ip6->version != 6)
			return pass(c);
		rem = bpf_ntohs(ip6->payload_len);
		if (rem == 0) // jumbogram
			return pass(c);
		cur = ip6 + 1;
		if (cur + rem > data_end)
			return pass(c);
		l4proto = ip6->nexthdr;
		key.family = FAMILY_IPV6;
#pragma unroll
		for (int i = 0; i < 4; i++) {
			key.addr[i] = ip6->daddr.in6_u.u6_addr32[i];
			tuple.ipv6.saddr[i] = ip6->saddr.in6_u.u6_addr32[i];
			tuple.ipv6.daddr[i] = ip6->daddr.in6_u.u6_addr32[i];
		}
		tuple_len = sizeof(tuple.ipv6);
#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT; i++) {
			__u32 hl;
			if (l4proto == IPPROTO_HOPOPTS_ || l4proto == IPPROTO_ROUTING_ ||
			    l4proto == IPPROTO_DSTOPTS_)
				hl = 8;
			else if (l4proto == IPPROTO_AH_)
				hl = 4;
			else
				break; // a fragment header too: never claimed
			if (rem < 8)
				return pass(c);
			struct ipv6_opt_hdr_ *oh = cur;
			if ((void *)(oh + 1) > data_end)
				return pass(c);
			// (hdrlen+1)*8, or (hdrlen+2)*4 for AH
			hl = ((__u32)oh->hdrlen + (hl == 8 ? 1 : 2)) * hl;
			if (hl > rem)
				return pass(c);
			l4proto = oh->nexthdr;
			rem -= hl;
			cur += hl;
		}
		// A fragment header, or a chain longer than MAX_IPV6_EXT, ends
		// here with a next header that is not UDP/TCP: passed below.
	} else {
		return pass(c);
	}

	__be16 *ports = cur;
	if (l4proto == IPPROTO_UDP) {
		struct udphdr *uh = cur;
		if (rem < sizeof(*uh) || (void *)(uh + 1) > data_end)
			return pass(c);
		__u32 ul = bpf_ntohs(uh->len);
		if (ul < sizeof(*uh) || ul > rem)
			return pass(c);
	} else if (l4proto == IPPROTO_TCP) {
		struct tcphdr *th = cur;
		if (rem < sizeof(*th) || (void *)(th + 1) > data_end)
			return pass(c);
		__u32 thl = (__u32)th->doff * 4;
		if (thl < sizeof(*th) || thl > rem)
			return pass(c);
	} else {
		return pass(c);
	}

	key.proto = l4proto;
	key.port = ports[1];
	if (!bpf_map_lookup_elem(&claimed, &key))
		return pass(c);

	// A kernel socket for this 4-tuple, in the device's namespace, keeps
	// its traffic.
	struct bpf_sock *sk;
	if (tuple_len == sizeof(tuple.ipv4)) {
		tuple.ipv4.sport = ports[0];
		tuple.ipv4.dport = ports[1];
	} else {
		tuple.ipv6.sport = ports[0];
		tuple.ipv6.dport = ports[1];
	}
	if (l4proto == IPPROTO_UDP)
		sk = bpf_sk_lookup_udp(ctx, &tuple, tuple_len, BPF_F_CURRENT_NETNS, 0);
	else
		sk = (struct bpf_sock *)bpf_skc_lookup_tcp(ctx, &tuple, tuple_len, BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		bpf_sk_release(sk);
		if (c)
			c->kernel_owned++;
		return pass(c);
	}

	if (cfg->flags & CONFIG_DROP_CLAIMED) {
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

SEC("xdp")
int xdpmux(struct xdp_md *ctx)
{
	return handle(ctx);
}

SEC("xdp")
int xdpmux_nichash(struct xdp_md *ctx)
{
	__u32 hash = 0;
	enum xdp_rss_hash_type rss_type = XDP_RSS_TYPE_NONE;
	int err = bpf_xdp_metadata_rx_hash(ctx, &hash, &rss_type);

	// A driver without metadata support refuses the room: then nothing is
	// written, and the worker, finding no magic, hashes in software.
	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct nic_meta)) == 0) {
		void *data = (void *)(long)ctx->data;
		struct nic_meta *m = (void *)(long)ctx->data_meta;
		if ((void *)(m + 1) <= data) {
			if (err) {
				m->hash = 0;
				m->flags = META_MAGIC;
			} else {
				m->hash = hash;
				m->flags = META_MAGIC | META_VALID |
					   (((__u32)rss_type & META_RSS_TYPE_MASK) << META_RSS_TYPE_SHIFT);
			}
		}
	}
	return handle(ctx);
}

char _license[] SEC("license") = "Dual MIT/GPL";
