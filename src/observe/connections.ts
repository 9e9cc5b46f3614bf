/*
 * The `conntrack` listing as plain data: one row per lb_ct entry (a flow,
 * keyed by the client's tuple), with the service it belongs to. Times are
 * CLOCK_MONOTONIC ns, comparable with `takenAtNs`.
 */
import type { ConnStateName } from '../datapath/conn-state.js';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface Connection {
  /** Service name from the agent's record (undefined: a service no longer configured). */
  readonly service: string | undefined;
  readonly protocol: 'tcp' | 'udp';
  readonly client: Endpoint;
  readonly vip: Endpoint;
  readonly snat: Endpoint;
  readonly backend: Endpoint;
  readonly state: ConnStateName;
  readonly createdNs: bigint;
  readonly lastSeenNs: bigint;
}

export interface ConnectionListing {
  readonly takenAtNs: bigint;
  /** The rows read (at most the limit). */
  readonly connections: readonly Connection[];
  /** Entries that matched the filter. */
  readonly matched: number;
  /** Every lb_ct entry. */
  readonly total: number;
}
