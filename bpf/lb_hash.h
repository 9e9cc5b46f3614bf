/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Flow hashing for consistent-hash schedulers and SNAT port spreading.
 * A fixed seed keeps choices identical across balancers with the same
 * tables (DESIGN.md §4).
 */
#ifndef LB_HASH_H
#define LB_HASH_H

#include <linux/types.h>
#include "lb_structs.h"

#define LB_HASH_SEED 0x2c1b3c6du

/* The murmur3 finaliser: full avalanche in a few cycles. */
static __always_inline __u32 lb_mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 lb_hash_addr(__be32 addr)
{
	return lb_mix32(addr ^ LB_HASH_SEED);
}

static __always_inline __u32 lb_hash_flow(const struct lb_flow_key *f)
{
	__u32 h = lb_mix32(f->src_ip ^ LB_HASH_SEED);

	h = lb_mix32(h ^ f->dst_ip);
	h = lb_mix32(h ^ (((__u32)f->src_port << 16) | f->dst_port));
	return lb_mix32(h ^ f->proto);
}

#endif /* LB_HASH_H */
