/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The Full-NAT rewrite: both addresses, both ports and both MACs, with the
 * IPv4 and TCP/UDP checksums updated incrementally.
 */
#ifndef LB_NAT_H
#define LB_NAT_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include "lb_csum.h"
#include "lb_parse.h"

struct lb_rewrite {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	const __u8 *dst_mac;
};

static __always_inline void lb_nat_rewrite(struct ethhdr *eth, struct iphdr *ip,
					   const struct lb_l4 *l4, const struct lb_rewrite *rw)
{
	__u64 ip_acc = 0, l4_acc;

	lb_csum_diff32(&ip_acc, ip->saddr, rw->saddr);
	lb_csum_diff32(&ip_acc, ip->daddr, rw->daddr);
	ip->check = lb_csum_apply(ip->check, ip_acc);
	ip->saddr = rw->saddr;
	ip->daddr = rw->daddr;

	/* The L4 checksum covers the pseudo-header addresses and the ports. */
	l4_acc = ip_acc;
	lb_csum_diff16(&l4_acc, *l4->sport, rw->sport);
	lb_csum_diff16(&l4_acc, *l4->dport, rw->dport);
	if (l4->tcp) {
		*l4->check = lb_csum_apply(*l4->check, l4_acc);
	} else if (*l4->check) {
		/* UDP: 0 means "no checksum" and stays 0; a computed 0 is sent as all ones. */
		__sum16 check = lb_csum_apply(*l4->check, l4_acc);

		*l4->check = check ? check : (__sum16)0xffff;
	}
	*l4->sport = rw->sport;
	*l4->dport = rw->dport;

	/* We received the frame, so its destination MAC is ours: it becomes the source. */
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, rw->dst_mac, ETH_ALEN);
}

#endif /* LB_NAT_H */
