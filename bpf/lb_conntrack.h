/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Connection state. State bits are only added, with an atomic OR, and only
 * when missing (most packets change nothing and write nothing).
 * Which timeout applies is derived from the bits by the agent's GC:
 * closing bits -> tcp_closing, ESTABLISHED -> tcp_established, else tcp_syn.
 */
#ifndef LB_CONNTRACK_H
#define LB_CONNTRACK_H

#include "lb_maps.h"
#include "lb_parse.h"

/*
 * Timestamps use the coarse monotonic clock: the same CLOCK_MONOTONIC time
 * base the agent's GC reads, at most one tick behind, and a fraction of the
 * cost of bpf_ktime_get_ns() on the per-packet path.
 */
static __always_inline __u64 lb_now(void)
{
	return bpf_ktime_get_coarse_ns();
}

/*
 * Is @conn the flow of client tuple @key? Hash map elements are reused right
 * after a delete, so an element found by lookup can turn into another flow
 * under us; checking its identity keeps such a packet from being misrouted.
 */
static __always_inline int lb_conn_is_client_flow(const struct lb_conn *conn,
						  const struct lb_flow_key *key)
{
	return conn->client_ip == key->src_ip && conn->vip == key->dst_ip &&
	       conn->client_port == key->src_port && conn->vport == key->dst_port &&
	       conn->proto == key->proto;
}

/* FIN both ways or RST: nothing more will be exchanged. */
static __always_inline int lb_conn_closed(__u32 state)
{
	return (state & LB_CT_RST) ||
	       (state & (LB_CT_FIN_CLIENT | LB_CT_FIN_BACKEND)) ==
		       (LB_CT_FIN_CLIENT | LB_CT_FIN_BACKEND);
}

static __always_inline void lb_conn_add_state(struct lb_conn *conn, __u32 bits)
{
	if ((conn->state & bits) != bits)
		__sync_fetch_and_or(&conn->state, bits);
}

static __always_inline __u32 lb_tcp_bits_from_client(const struct tcphdr *tcp, __u32 state)
{
	__u32 bits = 0;

	if (tcp->rst)
		bits |= LB_CT_RST;
	if (tcp->fin)
		bits |= LB_CT_FIN_CLIENT;
	if (tcp->ack && !tcp->syn && (state & LB_CT_SYNACK_SEEN))
		bits |= LB_CT_ESTABLISHED;
	return bits;
}

static __always_inline __u32 lb_tcp_bits_from_backend(const struct tcphdr *tcp)
{
	__u32 bits = 0;

	if (tcp->rst)
		bits |= LB_CT_RST;
	if (tcp->fin)
		bits |= LB_CT_FIN_BACKEND;
	if (tcp->syn && tcp->ack)
		bits |= LB_CT_SYNACK_SEEN;
	return bits;
}

/* The lb_snat key under which @conn's backend replies arrive. */
static __always_inline void lb_conn_reply_key(const struct lb_conn *conn, struct lb_flow_key *key)
{
	key->src_ip = conn->backend_ip;
	key->dst_ip = conn->snat_ip;
	key->src_port = conn->backend_port;
	key->dst_port = conn->snat_port;
	key->proto = conn->proto;
	key->pad[0] = key->pad[1] = key->pad[2] = 0;
}

/* Does @conn still own the SNAT tuple @reply arrived on? */
static __always_inline int lb_conn_owns_reply(const struct lb_conn *conn,
					      const struct lb_flow_key *reply)
{
	return !(conn->state & LB_CT_RELEASED) && conn->snat_ip == reply->dst_ip &&
	       conn->snat_port == reply->dst_port && conn->backend_ip == reply->src_ip &&
	       conn->backend_port == reply->src_port;
}

/*
 * Take @conn's SNAT tuple away from it. Exactly one CPU wins the
 * compare-and-swap on the state word; only the winner may touch the tuple.
 */
static __always_inline int lb_conn_release(struct lb_conn *conn, __u32 seen_state)
{
	return __sync_val_compare_and_swap(&conn->state, seen_state,
					   seen_state | LB_CT_RELEASED) == seen_state;
}

/*
 * How soon after the client's reset a SYN counts as the fast retransmission
 * of a refused handshake (lb_conn_restart_refused). Linux resends the SYN
 * about two jiffies after resetting (at most ~20 ms, plus a round trip);
 * its next retransmission waits a full timeout (1 s), by which time a fresh
 * choice is the better bet (see below).
 */
#define LB_REFUSED_SYN_RETRY_NS (250ULL * 1000 * 1000)

/*
 * A SYN meets @conn, a handshake the backend never answered with SYN+ACK and
 * the client reset just now. That is what a backend refusing a SYN on a
 * reused SNAT tuple looks like: it still holds the tuple's previous
 * connection in TIME_WAIT, finds the SYN not newer than it (random
 * timestamp offsets per connection make that a coin toss), answers with the
 * old connection's ACK; the client resets, which ends the TIME_WAIT, and
 * resends the SYN within milliseconds. On the same backend and tuple that
 * SYN meets nothing old and is accepted; a fresh choice could meet another
 * TIME_WAIT, and a second refusal costs the client a full retransmission
 * timeout (1 s, then 2 s). So the flow restarts in place, keeping backend
 * and tuple. A backend that keeps TIME_WAIT against resets (tcp_rfc1337)
 * refuses the same tuple again: the client's next SYN comes after
 * LB_REFUSED_SYN_RETRY_NS and gets a fresh choice. Exactly one CPU wins the
 * compare-and-swap; the state bits start afresh.
 */
static __always_inline int lb_conn_restart_refused(struct lb_conn *conn, __u64 now)
{
	const __u32 handshake_bits = LB_CT_SYN_SEEN | LB_CT_SYNACK_SEEN | LB_CT_ESTABLISHED |
				     LB_CT_CLOSING_MASK | LB_CT_RELEASED | LB_CT_UDP;
	__u32 state = conn->state;

	if ((state & handshake_bits) != (LB_CT_SYN_SEEN | LB_CT_RST))
		return 0;
	if (now - conn->last_seen_ns > LB_REFUSED_SYN_RETRY_NS)
		return 0;
	if (__sync_val_compare_and_swap(&conn->state, state, LB_CT_SYN_SEEN) != state)
		return 0;
	conn->created_ns = now;
	return 1;
}

#endif /* LB_CONNTRACK_H */
