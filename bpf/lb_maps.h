/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Every map of the datapath, with its owner. Config-owned maps are written
 * only by the agent's plan/apply; runtime-owned maps only by the agent's
 * loops and by this program (DESIGN.md §1).
 *
 * Hash maps are BPF_F_NO_PREALLOC: their elements are freed after an RCU
 * grace period, so a packet holding a pointer to an element that is being
 * replaced or deleted still reads that element whole. A preallocated hash
 * map reuses the memory at once, and a reader could see another flow's data.
 * Sizes are defaults; the agent sets them from the config before load.
 */
#ifndef LB_MAPS_H
#define LB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lb_structs.h"

/* Config: every VIP and SNAT address, so one lookup tells "not ours". */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LB_DEFAULT_MAX_ADDRS);
	__type(key, __be32);
	__type(value, __u32);	/* enum lb_addr_role bits */
} lb_addrs SEC(".maps");

/* Config: (VIP, port, protocol) -> service id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LB_DEFAULT_MAX_SERVICES);
	__type(key, struct lb_service_key);
	__type(value, struct lb_service);
} lb_services SEC(".maps");

/*
 * Config: scheduler table of each service, one inner array per service
 * (slot 0 header, then backend ids). A table is never edited in place: the
 * agent fills a new inner map completely and then swaps the outer slot,
 * which the kernel does atomically, so no packet sees a half-written table.
 * BPF_F_INNER_MAP lets each service's table have its own length.
 */
struct lb_sched_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, LB_DEFAULT_MAX_SERVICES);
	__type(key, __u32);
	__array(values, struct lb_sched_table);
} lb_sched SEC(".maps");

/* Runtime: round-robin position per service id, shared by all CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_DEFAULT_MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u64);
} lb_rr SEC(".maps");

/* Config: backend id -> address and port. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_DEFAULT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_backend);
} lb_backends SEC(".maps");

/* Runtime (neighbour loop): backend address -> MAC, read per packet. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LB_DEFAULT_MAX_NEIGHBORS);
	__type(key, __be32);
	__type(value, struct lb_neigh);
} lb_neigh SEC(".maps");

/*
 * Runtime: connections by the client's tuple. A plain hash, not LRU: when
 * it is full new flows are refused and counted, established ones go on.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LB_DEFAULT_MAX_FLOWS);
	__type(key, struct lb_flow_key);
	__type(value, struct lb_conn);
} lb_ct SEC(".maps");

/*
 * Runtime: SNAT tuples in use, keyed as the backend's reply carries them,
 * valued by the owning flow's lb_ct key. Inserting here with BPF_NOEXIST is
 * what allocates a tuple, so it must never be LRU (an eviction would hand a
 * live tuple to a second flow).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LB_DEFAULT_MAX_FLOWS);
	__type(key, struct lb_flow_key);
	__type(value, struct lb_flow_key);
} lb_snat SEC(".maps");

/* Config: the SNAT pool (single key 0), replaced whole on change. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_snat_pool);
} lb_snat_pool SEC(".maps");

/* Runtime: traffic per service id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_DEFAULT_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct lb_traffic);
} lb_svc_stats SEC(".maps");

/* Runtime: traffic per backend id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_DEFAULT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_traffic);
} lb_be_stats SEC(".maps");

/* Runtime: global drop/pass counters indexed by enum lb_counter. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lb_counters SEC(".maps");

/*
 * The agent's records (lb_structs.h): written by plan/apply, never read by
 * the program. They live here so that one object defines every pinned map.
 */

/* Agent: service id -> what was published for it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LB_DEFAULT_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct lb_service_meta);
} lb_svc_meta SEC(".maps");

/* Agent: backend id -> what was published for it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LB_DEFAULT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_backend_meta);
} lb_be_meta SEC(".maps");

/* Agent: addresses it added to the interface (vip_announce: arp). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LB_DEFAULT_MAX_ADDRS);
	__type(key, __be32);
	__type(value, struct lb_announced);
} lb_announced SEC(".maps");

/* Agent: the restart-only settings (single key 0). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_agent_record);
} lb_agent SEC(".maps");

/*
 * Agent (loops): backend id -> health, resolution and active connections.
 * A hash, so a record is replaced whole and costs memory only for backends
 * that exist; bounded by the config like lb_be_meta.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LB_DEFAULT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_backend_runtime);
} lb_be_runtime SEC(".maps");

/* Agent: its process, last reload and last GC pass (single key 0). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_agent_run);
} lb_agent_run SEC(".maps");

#endif /* LB_MAPS_H */
