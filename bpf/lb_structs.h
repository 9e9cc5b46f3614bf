/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Structs shared by the datapath and the agent. The TypeScript codecs in
 * src/datapath/codecs.ts mirror these; test/layout checks them against the
 * BTF of the built object, so a change here must be made there too.
 *
 * Addresses and ports are in network byte order, except where a field says
 * otherwise. Every struct is padded explicitly: no hidden holes.
 */
#ifndef LB_STRUCTS_H
#define LB_STRUCTS_H

#include <linux/types.h>
#include "lb_consts.h"

/* lb_services key: what a client connects to. */
struct lb_service_key {
	__be32 vip;
	__be16 port;
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
};

/* lb_services value. */
struct lb_service {
	__u32 id;		/* index into lb_sched, lb_rr, lb_svc_stats */
};

/* lb_backends value, indexed by backend id. 8 bytes: read untorn. */
struct lb_backend {
	__be32 ip;
	__be16 port;
	__u16 pad;
};

/* lb_neigh value, keyed by a backend's IPv4 address. */
struct lb_neigh {
	__u8 mac[6];
	__u16 pad;
};

/*
 * A flow's addresses as a packet carries them. Keys both flow tables:
 *  - lb_ct:   the client's packet, src = client, dst = VIP;
 *  - lb_snat: the backend's reply, src = backend, dst = SNAT address.
 * The lb_snat value is the lb_ct key of the flow owning that SNAT tuple.
 */
struct lb_flow_key {
	__be32 src_ip;
	__be32 dst_ip;
	__be16 src_port;
	__be16 dst_port;
	__u8 proto;
	__u8 pad[3];
};

/*
 * lb_ct value: one connection, with everything needed to rewrite both
 * directions, so a peer balancer could adopt it as plain data.
 * Timestamps are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_coarse_ns:
 * at most one tick behind the agent's clock).
 */
struct lb_conn {
	__u64 last_seen_ns;
	__u64 created_ns;
	__be32 client_ip;
	__be32 vip;
	__be32 backend_ip;
	__be32 snat_ip;
	__be16 client_port;
	__be16 vport;
	__be16 backend_port;
	__be16 snat_port;
	__u8 client_mac[6];	/* next hop towards the client */
	__u8 proto;
	__u8 pad;
	__u32 service_id;
	__u32 backend_id;
	__u32 state;		/* enum lb_conn_state bits */
	__u32 pad2;
};

/*
 * lb_snat_pool value (single key 0): where new flows get their source
 * tuple. Ports are in host byte order, inclusive.
 */
struct lb_snat_pool {
	__be32 addrs[LB_MAX_SNAT_ADDRS];
	__u32 addr_count;
	__u16 port_min;
	__u16 port_max;
	/* A closed flow's tuple may be taken by a new flow once it has been
	 * idle this long: long enough for the last ACK to pass. */
	__u64 reuse_after_ns;
};

/* Per-CPU traffic counters of one service or one backend. */
struct lb_traffic {
	__u64 packets_in;	/* client -> backend */
	__u64 bytes_in;
	__u64 packets_out;	/* backend -> client */
	__u64 bytes_out;
	__u64 new_flows;
};

/*
 * The agent's records below are never read by the datapath. They are what
 * the agent knows about the state it published, kept beside it in pinned
 * maps so that a restarted agent (or `down`, or `status`) can read it back
 * from the kernel instead of trusting memory or a state file.
 */

/* lb_svc_meta value, by service id: identity and table of a service. */
struct lb_service_meta {
	__be32 vip;
	__be16 port;
	__u8 proto;
	__u8 scheduler;		/* enum lb_scheduler */
	__u32 table_map_id;	/* id of the inner lb_sched map published */
	__u32 pad;
	__u64 table_digest;	/* digest of the inputs the table was built from */
	char name[LB_SERVICE_NAME_LEN];
};

/* lb_be_meta value, by backend id: identity and settings of a backend. */
struct lb_backend_meta {
	__be32 ip;
	__be16 port;
	__u16 weight;
	__u32 service_id;
	__u8 admin;		/* enum lb_backend_admin */
	__u8 pad[3];
};

/* lb_announced value, keyed by address: an address the agent added. */
struct lb_announced {
	__u32 ifindex;
	__u32 pad;
};

/* lb_agent value (key 0): the restart-only settings the datapath runs with. */
struct lb_agent_record {
	char ifname[LB_IFNAME_LEN];
	__u32 ifindex;
	__u8 xdp_mode;		/* enum lb_xdp_mode, as configured */
	__u8 attached_mode;	/* enum lb_xdp_mode, as attached (never AUTO) */
	__u16 pad;
};

/*
 * lb_be_runtime value, by backend id: what the agent's loops know about a
 * backend, written when it changes (never per packet), so that `status`
 * shows it whether the agent runs or not. Times are CLOCK_MONOTONIC ns.
 */
struct lb_backend_runtime {
	__u64 changed_ns;	/* when health or resolution last changed */
	__u32 active_conns;	/* live flows at the last conntrack GC pass */
	__u8 health;		/* enum lb_health */
	__u8 resolution;	/* enum lb_resolution */
	__u16 pad;
};

/*
 * lb_agent_run value (key 0): the running agent's own record — who it is,
 * its last reload and its last conntrack GC pass. Replaced whole on every
 * change (a hash element: readers never see half of one).
 */
struct lb_agent_run {
	__u64 started_ns;	/* CLOCK_MONOTONIC when the agent started */
	__u64 proc_start_ticks;	/* /proc/PID/stat starttime: tells the agent from a reused pid */
	__u32 pid;
	__u8 reload_result;	/* enum lb_reload_result of the last reload */
	__u8 pad[3];
	__u64 reload_ns;	/* when the last reload ended */
	__u64 applied_ns;	/* when a reload last applied (or confirmed) the config */
	__u64 config_digest;	/* digest of the live config (src/agent/config-digest.ts) */
	__u32 reload_operations;	/* map operations of the last reload */
	__u32 reloads_applied;	/* reloads since start, by result */
	__u32 reloads_rejected;
	__u32 reloads_failed;
	__u64 gc_passes;	/* conntrack GC passes since start */
	__u64 gc_ns;		/* when the last pass ended */
	__u64 gc_duration_ns;
	__u32 gc_scanned;	/* lb_ct entries the last pass read */
	__u32 gc_expired;	/* removed as idle past their timeout */
	__u32 gc_removed;	/* removed otherwise: released, disabled backends, orphan tuples */
	__u32 gc_entries;	/* lb_ct entries left after it */
};

#endif /* LB_STRUCTS_H */
