/**
 * LiveState: what the kernel's config-owned maps hold, read back by
 * src/datapath/read-live-state.ts into plain data of the same vocabulary as
 * DesiredState, so the planner can compare the two without touching the
 * kernel. Numeric ids are the map indexes the datapath uses.
 *
 * The agent's records (lb_svc_meta, lb_be_meta, lb_announced) say what was
 * published; the `published` flags say whether the maps the packets read
 * still agree with those records, so an entry changed or deleted behind the
 * agent's back shows up as a repair.
 */
import type { BackendAdminState, Protocol, SchedulerName, ServiceId } from '../model/desired-state.js';

export interface LiveService {
  /** Index into lb_sched, lb_rr, lb_svc_stats. */
  readonly num: number;
  readonly id: ServiceId;
  readonly name: string;
  readonly vip: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly scheduler: SchedulerName;
  /** Digest of the inputs the published table was built from (tableDigest()). */
  readonly tableDigest: string;
  /** lb_services maps the service's key to `num`. */
  readonly published: boolean;
  /** lb_sched[num] holds the table recorded for it. */
  readonly tablePublished: boolean;
}

export interface LiveBackend {
  /** Index into lb_backends and lb_be_stats. */
  readonly num: number;
  /** Owning service's `num`. */
  readonly serviceNum: number;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly state: BackendAdminState;
  /** lb_backends[num] holds this address and port. */
  readonly published: boolean;
}

/** An lb_services entry no record explains (left by a crash, or written by hand). */
export interface StrayService {
  readonly vip: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export interface LiveSnatPool {
  /** In the order the datapath holds them. */
  readonly addresses: readonly string[];
  readonly portMin: number;
  readonly portMax: number;
  readonly reuseAfterMs: number;
}

export interface LiveState {
  /** Sorted by num. */
  readonly services: readonly LiveService[];
  /** Sorted by num. */
  readonly backends: readonly LiveBackend[];
  readonly strayServices: readonly StrayService[];
  /** lb_addrs: address -> LbAddrRole bits. */
  readonly addresses: ReadonlyMap<string, number>;
  readonly snatPool: LiveSnatPool | null;
  /** lb_announced: addresses the agent added to an interface -> ifindex. */
  readonly announced: ReadonlyMap<string, number>;
}

export const EMPTY_LIVE_STATE: LiveState = Object.freeze({
  services: [],
  backends: [],
  strayServices: [],
  addresses: new Map(),
  snatPool: null,
  announced: new Map(),
});
