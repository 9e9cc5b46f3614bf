/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * SNAT tuple allocation. A tuple (proto, SNAT address, SNAT port, backend
 * address, backend port) belongs to the flow that inserted it into lb_snat
 * with BPF_NOEXIST: the kernel makes that insert atomic, so two CPUs can
 * never get the same tuple. Attempts are spread over the pool by hashing
 * the flow and the attempt number; a busy tuple whose flow is closed and
 * idle for reuse_after_ns is taken over (see lb_snat_take_over).
 *
 * The retry loop runs under bpf_loop(): an unrolled loop followed by the
 * whole NAT path multiplies the verifier's states.
 */
#ifndef LB_SNAT_H
#define LB_SNAT_H

#include <linux/errno.h>
#include "lb_maps.h"
#include "lb_hash.h"
#include "lb_conntrack.h"

struct lb_snat_alloc {
	struct lb_flow_key reply;	/* in: backend side and proto; out: the tuple */
	struct lb_flow_key owner;	/* the new flow's lb_ct key */
	__u64 now;
	__u32 hash;
	int result;			/* 0, or the lb_counter of the failure */
};

/*
 * @reply's tuple is in use: hand it to the new flow if its flow is closed
 * and has been idle long enough for stragglers (the last ACK) to pass.
 */
static __always_inline int lb_snat_take_over(struct lb_snat_alloc *a, __u64 reuse_after_ns)
{
	struct lb_flow_key *prev_owner;
	struct lb_conn *prev;
	__u32 state;

	prev_owner = bpf_map_lookup_elem(&lb_snat, &a->reply);
	if (!prev_owner)
		return 0;
	prev = bpf_map_lookup_elem(&lb_ct, prev_owner);
	if (!prev || !lb_conn_is_client_flow(prev, prev_owner))
		return 0;	/* orphan tuple: the GC frees it */
	state = prev->state;
	if (!lb_conn_closed(state) || !lb_conn_owns_reply(prev, &a->reply))
		return 0;
	if (a->now - prev->last_seen_ns < reuse_after_ns)
		return 0;
	if (!lb_conn_release(prev, state))
		return 0;
	return bpf_map_update_elem(&lb_snat, &a->reply, &a->owner, BPF_EXIST) == 0;
}

static long lb_snat_attempt(__u32 attempt, void *ctx)
{
	struct lb_snat_alloc *a = ctx;
	struct lb_snat_pool *pool;
	__u32 zero = 0, h, range, port, idx;
	long err;

	pool = bpf_map_lookup_elem(&lb_snat_pool, &zero);
	if (!pool || pool->addr_count == 0 || pool->addr_count > LB_MAX_SNAT_ADDRS ||
	    pool->port_max < pool->port_min) {
		a->result = LB_CNT_DROP_SNAT_EXHAUSTED;
		return 1;
	}
	range = (__u32)pool->port_max - pool->port_min + 1;
	h = lb_mix32(a->hash + attempt * 0x9e3779b9u);
	port = pool->port_min + h % range;
	idx = (h >> 16) % pool->addr_count;
	/* clang drops the mask as redundant after the addr_count check; the
	 * verifier needs it to bound the array index. */
	asm volatile("" : "+r"(idx));
	a->reply.dst_ip = pool->addrs[idx & (LB_MAX_SNAT_ADDRS - 1)];
	a->reply.dst_port = bpf_htons((__u16)port);

	err = bpf_map_update_elem(&lb_snat, &a->reply, &a->owner, BPF_NOEXIST);
	if (err == 0) {
		a->result = 0;
		return 1;
	}
	if (err == -EEXIST) {
		if (lb_snat_take_over(a, pool->reuse_after_ns)) {
			a->result = 0;
			return 1;
		}
		return 0;
	}
	a->result = LB_CNT_DROP_CONNTRACK_FULL;	/* -E2BIG/-ENOMEM: the table is full */
	return 1;
}

static __always_inline int lb_snat_allocate(struct lb_snat_alloc *a)
{
	a->result = LB_CNT_DROP_SNAT_EXHAUSTED;
	bpf_loop(LB_SNAT_ATTEMPTS, lb_snat_attempt, a, 0);
	return a->result;
}

/* Give back the tuple of a flow whose lb_ct entry is being replaced. */
static __always_inline void lb_snat_release(struct lb_conn *conn)
{
	struct lb_flow_key reply;
	__u32 state = conn->state;

	if (state & LB_CT_RELEASED)
		return;
	if (!lb_conn_release(conn, state))
		return;
	lb_conn_reply_key(conn, &reply);
	bpf_map_delete_elem(&lb_snat, &reply);
}

#endif /* LB_SNAT_H */
