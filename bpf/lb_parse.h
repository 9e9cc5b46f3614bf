/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Header parsing with a cursor: one bounds-checked step per layer, each
 * pointer checked against the packet end right after it is computed.
 */
#ifndef LB_PARSE_H
#define LB_PARSE_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

/* Kernel-internal in <net/ip.h>, not in the UAPI headers. */
#define LB_IP_MF     0x2000
#define LB_IP_OFFSET 0x1fff

struct lb_cursor {
	void *pos;
	void *end;
};

/* The transport header fields the balancer reads or rewrites. */
struct lb_l4 {
	__be16 *sport;		/* ports sit at offsets 0 and 2 in TCP and UDP */
	__be16 *dport;
	__sum16 *check;
	struct tcphdr *tcp;	/* NULL for UDP */
};

enum lb_parse_result {
	LB_PARSE_OK = 0,
	LB_PARSE_SHORT = 1,	/* header cut off or lengths inconsistent */
	LB_PARSE_SKIP = 2,	/* well-formed, but not something we handle */
};

static __always_inline struct ethhdr *lb_parse_eth(struct lb_cursor *c)
{
	struct ethhdr *eth = c->pos;

	if ((void *)(eth + 1) > c->end)
		return NULL;
	c->pos = eth + 1;
	return eth;
}

/* The fixed 20 bytes only: enough to see the destination address. */
static __always_inline struct iphdr *lb_parse_ipv4_fixed(struct lb_cursor *c)
{
	struct iphdr *ip = c->pos;

	if ((void *)(ip + 1) > c->end)
		return NULL;
	return ip;
}

/*
 * Validate the rest of the IPv4 header (length from ihl, so options are
 * legal) and move the cursor past it.
 */
static __always_inline int lb_parse_ipv4_rest(struct lb_cursor *c, struct iphdr *ip)
{
	__u32 hdr_len = ip->ihl * 4;
	__u32 avail = c->end - (void *)ip;
	__u32 tot_len = bpf_ntohs(ip->tot_len);

	if (ip->version != 4 || hdr_len < sizeof(*ip))
		return LB_PARSE_SHORT;
	if ((void *)ip + hdr_len > c->end)
		return LB_PARSE_SHORT;
	if (tot_len < hdr_len || tot_len > avail)
		return LB_PARSE_SHORT;
	c->pos = (void *)ip + hdr_len;
	return LB_PARSE_OK;
}

static __always_inline int lb_ipv4_is_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(LB_IP_MF | LB_IP_OFFSET)) != 0;
}

/* TCP or UDP header; the IP total length must cover it too. */
static __always_inline int lb_parse_l4(struct lb_cursor *c, const struct iphdr *ip,
				       struct lb_l4 *l4)
{
	void *ip_end = (void *)ip + bpf_ntohs(ip->tot_len);

	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = c->pos;

		if ((void *)(tcp + 1) > c->end || (void *)(tcp + 1) > ip_end)
			return LB_PARSE_SHORT;
		if (tcp->doff < 5)
			return LB_PARSE_SHORT;
		l4->sport = &tcp->source;
		l4->dport = &tcp->dest;
		l4->check = &tcp->check;
		l4->tcp = tcp;
		return LB_PARSE_OK;
	}
	if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = c->pos;

		if ((void *)(udp + 1) > c->end || (void *)(udp + 1) > ip_end)
			return LB_PARSE_SHORT;
		l4->sport = &udp->source;
		l4->dport = &udp->dest;
		l4->check = &udp->check;
		l4->tcp = NULL;
		return LB_PARSE_OK;
	}
	return LB_PARSE_SKIP;
}

#endif /* LB_PARSE_H */
