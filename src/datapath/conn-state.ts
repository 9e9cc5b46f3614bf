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
