/*
 * What a connection's state bits (enum lb_conn_state) mean for its expiry:
 * the timeout that applies (DESIGN.md §2 conntrack.timeouts).
 */
import { LB_CT_CLOSING_MASK, LbConnState } from './codecs.js';

export type ConnTimeoutClass = 'tcp_syn' | 'tcp_established' | 'tcp_closing' | 'udp';

export function connTimeoutClass(state: number): ConnTimeoutClass {
  if (state & LbConnState.UDP) return 'udp';
  if (state & LB_CT_CLOSING_MASK) return 'tcp_closing';
  if (state & LbConnState.ESTABLISHED) return 'tcp_established';
  return 'tcp_syn';
}

export type ConnStateName = 'syn_sent' | 'syn_recv' | 'established' | 'closing' | 'closed' | 'reset' | 'released' | 'udp';

/**
 * The state bits as one word for people (status, conntrack listing), from
 * the balancer's view: a SYN seen (syn_sent), answered (syn_recv),
 * established, a FIN from one side (closing) or both (closed), an RST
 * (reset); an entry whose SNAT tuple went to another flow is released.
 */
export function connStateName(state: number): ConnStateName {
  if (state & LbConnState.RELEASED) return 'released';
  if (state & LbConnState.UDP) return 'udp';
  if (state & LbConnState.RST) return 'reset';
  const fins = state & (LbConnState.FIN_CLIENT | LbConnState.FIN_BACKEND);
  if (fins === (LbConnState.FIN_CLIENT | LbConnState.FIN_BACKEND)) return 'closed';
  if (fins !== 0) return 'closing';
  if (state & LbConnState.ESTABLISHED) return 'established';
  if (state & LbConnState.SYNACK_SEEN) return 'syn_recv';
  return 'syn_sent';
}
