/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Build-time constants shared by the datapath and the agent.
 *
 * Map sizes here are only defaults: the agent sets the real sizes from the
 * config before loading (they are restart-only settings).
 */
#ifndef LB_CONSTS_H
#define LB_CONSTS_H

/* Default capacities (DESIGN.md §4 limits: services >= 4096, SNAT addresses >= 16). */
#define LB_DEFAULT_MAX_SERVICES   4096
#define LB_DEFAULT_MAX_BACKENDS   65536
#define LB_DEFAULT_MAX_FLOWS      1048576
#define LB_DEFAULT_MAX_NEIGHBORS  65536
#define LB_DEFAULT_MAX_ADDRS      8192
#define LB_MAX_SNAT_ADDRS         64

/*
 * Maglev and source-hash lookup tables have this many slots: a prime well
 * above 64 x the 256 backends a service may have, so each backend owns
 * enough slots for even shares, at 64 KiB per consistent-hash service.
 */
#define LB_MAGLEV_TABLE_SIZE      16381

/*
 * Slot 0 of every scheduler table is a header: scheduler in the top 8 bits,
 * number of backend slots that follow in the low 24 bits.
 */
#define LB_SCHED_HDR_LEN_MASK     0x00ffffffu
#define LB_SCHED_HDR_SCHED_SHIFT  24

/* Slots tried after a backend turns out to have no resolved MAC. */
#define LB_PICK_ATTEMPTS          4

/* SNAT tuples tried per new flow before the flow is refused. */
#define LB_SNAT_ATTEMPTS          32

enum lb_scheduler {
	LB_SCHED_ROUND_ROBIN = 0,
	LB_SCHED_WEIGHTED_ROUND_ROBIN = 1,
	LB_SCHED_MAGLEV = 2,
	LB_SCHED_SOURCE_HASH = 3,
};

/* What an address in lb_addrs is to us (bit flags). */
enum lb_addr_role {
	LB_ADDR_VIP = 1,
	LB_ADDR_SNAT = 2,
};

/*
 * TCP/UDP connection state bits in lb_conn.state. Bits are only ever added
 * (atomic OR), so two CPUs updating one flow never lose each other's bit.
 */
enum lb_conn_state {
	LB_CT_SYN_SEEN = 1 << 0,	/* client SYN created the flow */
	LB_CT_SYNACK_SEEN = 1 << 1,	/* backend answered SYN+ACK */
	LB_CT_ESTABLISHED = 1 << 2,	/* client ACKed the SYN+ACK */
	LB_CT_FIN_CLIENT = 1 << 3,
	LB_CT_FIN_BACKEND = 1 << 4,
	LB_CT_RST = 1 << 5,
	/* The SNAT tuple was handed to another flow (or freed by a new SYN):
	 * this entry must no longer forward anything. */
	LB_CT_RELEASED = 1 << 6,
	LB_CT_UDP = 1 << 7,
};

#define LB_CT_CLOSING_MASK (LB_CT_FIN_CLIENT | LB_CT_FIN_BACKEND | LB_CT_RST)

/* A backend's administrative state (config `state`), in lb_be_meta. */
enum lb_backend_admin {
	LB_BE_ACTIVE = 0,
	LB_BE_DRAINING = 1,
	LB_BE_DISABLED = 2,
};

/* The configured xdp_mode, in lb_agent. */
enum lb_xdp_mode {
	LB_XDP_AUTO = 0,
	LB_XDP_NATIVE = 1,
	LB_XDP_GENERIC = 2,
};

/* A backend's health as the agent's checker last saw it, in lb_be_runtime. */
enum lb_health {
	LB_HEALTH_UNKNOWN = 0,		/* checked, no answer yet: takes no new flows */
	LB_HEALTH_HEALTHY = 1,
	LB_HEALTH_UNHEALTHY = 2,
	LB_HEALTH_UNCHECKED = 3,	/* its service has no health check */
};

/* Whether a backend's MAC is known (and why not), in lb_be_runtime. */
enum lb_resolution {
	LB_RES_PENDING = 0,		/* no neighbour refresh has looked yet */
	LB_RES_RESOLVED = 1,		/* lb_neigh holds its next hop's MAC */
	LB_RES_NO_ROUTE = 2,		/* no unicast route to it */
	LB_RES_OTHER_IFACE = 3,		/* routed out of another interface */
	LB_RES_NO_ANSWER = 4,		/* its next hop does not answer ARP */
};

/*
 * Outcome of the agent's last reload, in lb_agent_run: the `result` of its
 * reload log event (applied includes "unchanged": nothing to do).
 */
enum lb_reload_result {
	LB_RELOAD_NONE = 0,		/* none yet */
	LB_RELOAD_APPLIED = 1,
	LB_RELOAD_REJECTED = 2,		/* invalid config or restart-only change: nothing changed */
	LB_RELOAD_FAILED = 3,		/* the kernel refused an operation: rolled back */
};

/* Longest service name plus its NUL (config: at most 63 characters). */
#define LB_SERVICE_NAME_LEN       64
#define LB_IFNAME_LEN             16

/* Global per-CPU counters (lb_counters), indexed by this enum. */
enum lb_counter {
	LB_CNT_DROP_NO_CONNTRACK = 0,	/* non-SYN TCP (or stale reply) without a flow */
	LB_CNT_DROP_FRAGMENT = 1,	/* IPv4 fragment addressed to a VIP or SNAT address */
	LB_CNT_DROP_NO_BACKEND = 2,	/* service has no eligible backend */
	LB_CNT_DROP_NO_MAC = 3,		/* chosen backend's MAC is not resolved */
	LB_CNT_DROP_SNAT_EXHAUSTED = 4,	/* no free SNAT tuple within the attempts */
	LB_CNT_DROP_CONNTRACK_FULL = 5,	/* conntrack or SNAT table at capacity */
	LB_CNT_PASS_MALFORMED = 6,	/* truncated/invalid headers to one of our addresses */
	LB_CNT_MAX = 7,
};

#endif /* LB_CONSTS_H */
