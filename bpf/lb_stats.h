/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Per-CPU counters: no atomics, summed by the agent at read time. */
#ifndef LB_STATS_H
#define LB_STATS_H

#include "lb_maps.h"

static __always_inline void lb_count(enum lb_counter which)
{
	__u32 idx = which;
	__u64 *v = bpf_map_lookup_elem(&lb_counters, &idx);

	if (v)
		*v += 1;
}

enum lb_direction {
	LB_DIR_IN,	/* client -> backend */
	LB_DIR_OUT,	/* backend -> client */
};

static __always_inline void lb_traffic_add(void *map, __u32 id, enum lb_direction dir,
					   __u32 bytes, int new_flow)
{
	struct lb_traffic *t = bpf_map_lookup_elem(map, &id);

	if (!t)
		return;
	if (dir == LB_DIR_IN) {
		t->packets_in += 1;
		t->bytes_in += bytes;
	} else {
		t->packets_out += 1;
		t->bytes_out += bytes;
	}
	if (new_flow)
		t->new_flows += 1;
}

static __always_inline void lb_account(const struct lb_conn *conn, enum lb_direction dir,
				       __u32 bytes, int new_flow)
{
	lb_traffic_add(&lb_svc_stats, conn->service_id, dir, bytes, new_flow);
	lb_traffic_add(&lb_be_stats, conn->backend_id, dir, bytes, new_flow);
}

#endif /* LB_STATS_H */
