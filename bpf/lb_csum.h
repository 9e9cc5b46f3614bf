/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Incremental Internet checksum updates (RFC 1624, eqn. 3):
 *   HC' = ~(~HC + ~m + m')
 * summed over every changed word. Fields are taken as they lie in memory:
 * the one's complement sum does not depend on byte order as long as all
 * words are read the same way. The cost is fixed, whatever the packet size.
 */
#ifndef LB_CSUM_H
#define LB_CSUM_H

#include <linux/types.h>

/* Accumulates ~old + new for each changed field; folded once at the end. */
static __always_inline void lb_csum_diff32(__u64 *acc, __u32 old, __u32 new)
{
	*acc += (__u32)~old;
	*acc += new;
}

static __always_inline void lb_csum_diff16(__u64 *acc, __u16 old, __u16 new)
{
	*acc += (__u16)~old;
	*acc += new;
}

static __always_inline __u16 lb_csum_fold(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

static __always_inline __sum16 lb_csum_apply(__sum16 check, __u64 acc)
{
	return (__sum16)~lb_csum_fold((__u16)~check + acc);
}

#endif /* LB_CSUM_H */
