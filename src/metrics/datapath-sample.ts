/*
 * What one scrape reads from the kernel and the agent's loops, as plain
 * data: the input of the metric families (agent-metrics.ts). Built by
 * read-datapath-sample.ts; tests build it by hand.
 */
import type { DatapathCounters } from '../datapath/datapath-maps.js';
import type { LbTraffic } from '../datapath/codecs.js';
import type { GcPassStats } from '../loops/conntrack-gc.js';
import type { HealthState } from '../loops/health-checker.js';

export interface ServiceSample {
  /** The config's service name: the `service` label. */
  readonly name: string;
  readonly vip: string;
  readonly port: number;
  readonly protocol: string;
  readonly scheduler: string;
  readonly traffic: LbTraffic;
  /** Flows of its backends at the last GC pass; undefined before the first pass. */
  readonly activeConnections: number | undefined;
}

export interface BackendSample {
  /** Its service's name. */
  readonly service: string;
  /** address:port: the `backend` label. */
  readonly backend: string;
  readonly weight: number;
  /** active | draining | disabled */
  readonly admin: string;
  readonly health: HealthState;
  /** Its address has a MAC in lb_neigh that the neighbour loop stands by. */
  readonly resolved: boolean;
  readonly traffic: LbTraffic;
  /** Flows at the last GC pass; undefined before the first pass. */
  readonly activeConnections: number | undefined;
}

export interface XdpSample {
  readonly interface: string;
  /** As attached now (native, generic), or "none" when nothing is. */
  readonly mode: string;
  /** As configured (auto, native, generic). */
  readonly configuredMode: string;
  /** Id of the program attached to the interface; 0 when none. */
  readonly programId: number;
}

export interface DatapathSample {
  readonly services: readonly ServiceSample[];
  readonly backends: readonly BackendSample[];
  /** lb_counters by COUNTER_NAMES, summed over CPUs. */
  readonly counters: DatapathCounters;
  /** lb_ct max_entries. */
  readonly conntrackCapacity: number;
  /** The last completed GC pass (entries, SNAT tuples per address); undefined before the first. */
  readonly lastGcPass: GcPassStats | undefined;
  /** Ports of the SNAT pool (for each address, towards each backend); 0 when no pool is published. */
  readonly snatPoolPorts: number;
  readonly xdp: XdpSample;
  /** The live config's digest as 16 hex digits (lb_agent_run, as `status` shows it); undefined before the first apply is recorded. */
  readonly configDigest: string | undefined;
}
