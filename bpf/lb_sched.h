/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Backend choice for a new flow. The agent puts only eligible backends
 * (active, healthy, weight > 0) in a service's table; the program still
 * skips a backend whose MAC is not resolved, so an unresolved backend is
 * never black-holed.
 */
#ifndef LB_SCHED_H
#define LB_SCHED_H

#include "lb_maps.h"
#include "lb_hash.h"

struct lb_choice {
	__u32 backend_id;
	struct lb_backend backend;
	struct lb_neigh neigh;
};

/* Where in the table to start: a shared counter or a hash, per scheduler. */
static __always_inline int lb_sched_position(__u32 sched, __u32 service_id,
					     const struct lb_flow_key *flow, __u32 *pos)
{
	__u64 *counter;

	switch (sched) {
	case LB_SCHED_ROUND_ROBIN:
	case LB_SCHED_WEIGHTED_ROUND_ROBIN:
		/* One atomic counter per service: strict order across CPUs. */
		counter = bpf_map_lookup_elem(&lb_rr, &service_id);
		if (!counter)
			return -1;
		*pos = (__u32)__sync_fetch_and_add(counter, 1);
		return 0;
	case LB_SCHED_SOURCE_HASH:
		*pos = lb_hash_addr(flow->src_ip);
		return 0;
	case LB_SCHED_MAGLEV:
		*pos = lb_hash_flow(flow);
		return 0;
	}
	return -1;
}

/* Returns 0 and fills @out, or the lb_counter naming why no backend fits. */
static __always_inline int lb_choose_backend(__u32 service_id, const struct lb_flow_key *flow,
					     struct lb_choice *out)
{
	__u32 zero = 0, len, pos, i;
	void *table;
	__u32 *hdr;

	table = bpf_map_lookup_elem(&lb_sched, &service_id);
	if (!table)
		return LB_CNT_DROP_NO_BACKEND;
	hdr = bpf_map_lookup_elem(table, &zero);
	if (!hdr)
		return LB_CNT_DROP_NO_BACKEND;
	len = *hdr & LB_SCHED_HDR_LEN_MASK;
	if (len == 0)
		return LB_CNT_DROP_NO_BACKEND;
	if (lb_sched_position(*hdr >> LB_SCHED_HDR_SCHED_SHIFT, service_id, flow, &pos))
		return LB_CNT_DROP_NO_BACKEND;

	for (i = 0; i < LB_PICK_ATTEMPTS; i++) {
		__u32 slot = (pos + i) % len + 1;
		struct lb_backend *be;
		struct lb_neigh *neigh;
		__u32 *id;

		id = bpf_map_lookup_elem(table, &slot);
		if (!id)
			return LB_CNT_DROP_NO_BACKEND;
		be = bpf_map_lookup_elem(&lb_backends, id);
		if (!be)
			return LB_CNT_DROP_NO_BACKEND;
		neigh = bpf_map_lookup_elem(&lb_neigh, &be->ip);
		if (!neigh)
			continue;
		out->backend_id = *id;
		out->backend = *be;
		out->neigh = *neigh;
		return 0;
	}
	return LB_CNT_DROP_NO_MAC;
}

#endif /* LB_SCHED_H */
