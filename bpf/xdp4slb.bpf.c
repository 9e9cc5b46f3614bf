// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xdp4slb datapath: one-armed IPv4 Full-NAT for TCP and UDP.
 *
 *   client -> VIP:vport          becomes  SNAT:port -> backend:port   (XDP_TX)
 *   backend -> SNAT:port         becomes  VIP:vport -> client:port    (XDP_TX)
 *
 * Anything not addressed to one of our VIPs or SNAT addresses, and anything
 * we do not balance (ICMP, ports without a service), is passed to the host
 * untouched. Helpers return an enum lb_action; only lb_xdp turns it into
 * an XDP verdict.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lb_maps.h"
#include "lb_parse.h"
#include "lb_stats.h"
#include "lb_sched.h"
#include "lb_snat.h"
#include "lb_conntrack.h"
#include "lb_nat.h"

enum lb_action {
	LB_ACT_PASS,
	LB_ACT_TX,
	LB_ACT_DROP,
};

/* A packet addressed to us, parsed down to its transport header. */
struct lb_packet {
	struct ethhdr *eth;
	struct iphdr *ip;
	struct lb_l4 l4;
	struct lb_flow_key key;
	__u32 bytes;
};

static __always_inline enum lb_action lb_drop(enum lb_counter why)
{
	lb_count(why);
	return LB_ACT_DROP;
}

static __always_inline void lb_forward_to_backend(struct lb_packet *p, const struct lb_conn *conn,
						  const __u8 *backend_mac)
{
	struct lb_rewrite rw = {
		.saddr = conn->snat_ip,
		.daddr = conn->backend_ip,
		.sport = conn->snat_port,
		.dport = conn->backend_port,
		.dst_mac = backend_mac,
	};

	lb_nat_rewrite(p->eth, p->ip, &p->l4, &rw);
}

/* A flow's first packet: choose a backend and a SNAT tuple, record both. */
static __always_inline enum lb_action lb_new_flow(struct lb_packet *p, __u32 service_id,
						  struct lb_conn *replaced, __u64 now)
{
	struct lb_snat_alloc alloc = {};
	struct lb_choice choice;
	struct lb_conn conn;
	int why;

	why = lb_choose_backend(service_id, &p->key, &choice);
	if (why)
		return lb_drop(why);

	/* A SYN reusing a closing flow's client port starts afresh. */
	if (replaced)
		lb_snat_release(replaced);

	alloc.reply.src_ip = choice.backend.ip;
	alloc.reply.src_port = choice.backend.port;
	alloc.reply.proto = p->key.proto;
	alloc.owner = p->key;
	alloc.now = now;
	alloc.hash = lb_hash_flow(&p->key);
	why = lb_snat_allocate(&alloc);
	if (why)
		return lb_drop(why);

	__builtin_memset(&conn, 0, sizeof(conn));
	conn.last_seen_ns = now;
	conn.created_ns = now;
	conn.client_ip = p->key.src_ip;
	conn.vip = p->key.dst_ip;
	conn.backend_ip = choice.backend.ip;
	conn.snat_ip = alloc.reply.dst_ip;
	conn.client_port = p->key.src_port;
	conn.vport = p->key.dst_port;
	conn.backend_port = choice.backend.port;
	conn.snat_port = alloc.reply.dst_port;
	__builtin_memcpy(conn.client_mac, p->eth->h_source, ETH_ALEN);
	conn.proto = p->key.proto;
	conn.service_id = service_id;
	conn.backend_id = choice.backend_id;
	conn.state = p->l4.tcp ? LB_CT_SYN_SEEN : LB_CT_UDP;

	if (bpf_map_update_elem(&lb_ct, &p->key, &conn, BPF_ANY)) {
		bpf_map_delete_elem(&lb_snat, &alloc.reply);
		return lb_drop(LB_CNT_DROP_CONNTRACK_FULL);
	}
	lb_account(&conn, LB_DIR_IN, p->bytes, 1);
	lb_forward_to_backend(p, &conn, choice.neigh.mac);
	return LB_ACT_TX;
}

/*
 * Flow lookup comes first: an established packet needs no service lookup.
 * The service is looked up only for packets that may start a flow.
 */
static __always_inline enum lb_action lb_from_client(struct lb_packet *p)
{
	struct lb_service_key skey = {
		.vip = p->key.dst_ip,
		.port = p->key.dst_port,
		.proto = p->key.proto,
	};
	struct lb_service *svc;
	struct lb_conn *conn;
	struct lb_neigh *neigh;
	struct tcphdr *tcp = p->l4.tcp;
	int syn = tcp && tcp->syn && !tcp->ack;
	int restarted = 0;
	__u64 now = lb_now();

	conn = bpf_map_lookup_elem(&lb_ct, &p->key);
	if (conn && !lb_conn_is_client_flow(conn, &p->key))
		conn = NULL;	/* the element was reused for another flow under us */
	/*
	 * A released entry forwards nothing; a SYN on a closing one starts afresh,
	 * unless it resends a handshake the backend refused (lb_conn_restart_refused).
	 */
	if (!conn || (conn->state & LB_CT_RELEASED) || (syn && (conn->state & LB_CT_CLOSING_MASK))) {
		svc = bpf_map_lookup_elem(&lb_services, &skey);
		if (!svc)
			return LB_ACT_PASS;	/* a port we do not balance: the host's */
		if (tcp && !syn)
			return lb_drop(LB_CNT_DROP_NO_CONNTRACK);
		if (!conn || !lb_conn_restart_refused(conn, now))
			return lb_new_flow(p, svc->id, conn, now);
		restarted = 1;
	}

	neigh = bpf_map_lookup_elem(&lb_neigh, &conn->backend_ip);
	if (!neigh)
		return lb_drop(LB_CNT_DROP_NO_MAC);
	if (tcp)
		lb_conn_add_state(conn, lb_tcp_bits_from_client(tcp, conn->state));
	if (conn->last_seen_ns != now)
		conn->last_seen_ns = now;
	lb_account(conn, LB_DIR_IN, p->bytes, restarted);
	lb_forward_to_backend(p, conn, neigh->mac);
	return LB_ACT_TX;
}

static __always_inline enum lb_action lb_from_backend(struct lb_packet *p)
{
	struct lb_flow_key *owner;
	struct lb_conn *conn;
	struct lb_rewrite rw;
	__u64 now;

	owner = bpf_map_lookup_elem(&lb_snat, &p->key);
	if (!owner)
		return LB_ACT_PASS;	/* the host's own traffic from a SNAT address */
	conn = bpf_map_lookup_elem(&lb_ct, owner);
	if (!conn || !lb_conn_is_client_flow(conn, owner) || !lb_conn_owns_reply(conn, &p->key))
		return lb_drop(LB_CNT_DROP_NO_CONNTRACK);

	if (p->l4.tcp)
		lb_conn_add_state(conn, lb_tcp_bits_from_backend(p->l4.tcp));
	now = lb_now();
	if (conn->last_seen_ns != now)
		conn->last_seen_ns = now;
	lb_account(conn, LB_DIR_OUT, p->bytes, 0);

	rw.saddr = conn->vip;
	rw.daddr = conn->client_ip;
	rw.sport = conn->vport;
	rw.dport = conn->client_port;
	rw.dst_mac = conn->client_mac;
	lb_nat_rewrite(p->eth, p->ip, &p->l4, &rw);
	return LB_ACT_TX;
}

static __always_inline enum lb_action lb_process(struct xdp_md *ctx)
{
	struct lb_cursor cur = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
	};
	struct lb_packet p;
	__u32 *role;
	int res;

	p.bytes = cur.end - cur.pos;
	p.eth = lb_parse_eth(&cur);
	if (!p.eth || p.eth->h_proto != bpf_htons(ETH_P_IP))
		return LB_ACT_PASS;
	p.ip = lb_parse_ipv4_fixed(&cur);
	if (!p.ip)
		return LB_ACT_PASS;

	/* One lookup decides whether the packet is ours at all. */
	role = bpf_map_lookup_elem(&lb_addrs, &p.ip->daddr);
	if (!role)
		return LB_ACT_PASS;

	if (lb_parse_ipv4_rest(&cur, p.ip) != LB_PARSE_OK) {
		lb_count(LB_CNT_PASS_MALFORMED);
		return LB_ACT_PASS;
	}
	/* No fragment can be matched to its flow's backend: never forward one. */
	if (lb_ipv4_is_fragment(p.ip))
		return lb_drop(LB_CNT_DROP_FRAGMENT);
	res = lb_parse_l4(&cur, p.ip, &p.l4);
	if (res == LB_PARSE_SKIP)
		return LB_ACT_PASS;	/* ICMP and others: the host answers */
	if (res != LB_PARSE_OK) {
		lb_count(LB_CNT_PASS_MALFORMED);
		return LB_ACT_PASS;
	}

	p.key.src_ip = p.ip->saddr;
	p.key.dst_ip = p.ip->daddr;
	p.key.src_port = *p.l4.sport;
	p.key.dst_port = *p.l4.dport;
	p.key.proto = p.ip->protocol;
	p.key.pad[0] = p.key.pad[1] = p.key.pad[2] = 0;

	if (*role & LB_ADDR_VIP)
		return lb_from_client(&p);
	return lb_from_backend(&p);
}

SEC("xdp")
int lb_xdp(struct xdp_md *ctx)
{
	switch (lb_process(ctx)) {
	case LB_ACT_TX:
		return XDP_TX;
	case LB_ACT_DROP:
		return XDP_DROP;
	default:
		return XDP_PASS;
	}
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
