/*
 * What `status` (and the metrics) show, as plain typed data: one reading of
 * the pinned maps at one moment (read-snapshot.ts makes it; the formatters
 * and the rates are pure functions of it). Counters are bigints as the
 * kernel keeps them; times are CLOCK_MONOTONIC nanoseconds, comparable with
 * `takenAtNs`, so every age is computed from the snapshot alone.
 */
import type { BackendAdminName, HealthName, ResolutionName, ReloadResultName, SchedulerName, XdpModeName } from '../datapath/codecs.js';

export interface Traffic {
  /** Client -> backend. */
  readonly packetsIn: bigint;
  /** Ethernet frame bytes. */
  readonly bytesIn: bigint;
  /** Backend -> client. */
  readonly packetsOut: bigint;
  readonly bytesOut: bigint;
  readonly newFlows: bigint;
}

export interface BackendStatus {
  /** Datapath backend id (lb_backends, lb_be_stats index). */
  readonly id: number;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly admin: BackendAdminName;
  /** From the agent's record; undefined when no agent recorded this backend yet. */
  readonly health: HealthName | undefined;
  readonly resolution: ResolutionName | undefined;
  /** lb_neigh: the MAC the datapath sends this backend's packets to. */
  readonly mac: string | undefined;
  /** Flows at the agent's last conntrack GC pass. */
  readonly activeConns: number | undefined;
  /** When health or resolution last changed. */
  readonly changedNs: bigint | undefined;
  readonly traffic: Traffic;
}

export interface ServiceStatus {
  /** Datapath service id (lb_sched, lb_svc_stats index). */
  readonly id: number;
  readonly name: string;
  readonly vip: string;
  readonly port: number;
  readonly protocol: 'tcp' | 'udp';
  readonly scheduler: SchedulerName;
  readonly traffic: Traffic;
  /** By address, then port. */
  readonly backends: readonly BackendStatus[];
}

export interface DatapathStatus {
  readonly interface: string;
  readonly ifindex: number;
  readonly xdpMode: XdpModeName;
  readonly attachedMode: XdpModeName;
}

export interface AgentStatus {
  readonly pid: number;
  /** The recorded process is alive (same pid and start time). */
  readonly running: boolean;
  readonly startedNs: bigint;
  readonly lastReload: { readonly result: ReloadResultName; readonly atNs: bigint; readonly operations: number } | undefined;
  /** When a reload last applied (or found nothing to change). */
  readonly appliedNs: bigint | undefined;
  /** 16 hex digits; undefined before the first applied reload. */
  readonly configDigest: string | undefined;
  readonly reloads: { readonly applied: number; readonly rejected: number; readonly failed: number };
  readonly gc:
    | {
        readonly passes: bigint;
        readonly atNs: bigint;
        readonly durationNs: bigint;
        readonly scanned: number;
        readonly expired: number;
        readonly removed: number;
        readonly entries: number;
      }
    | undefined;
}

export interface ConntrackStatus {
  /** lb_ct entries now (counted by a scan), or at the last GC pass when not scanned. */
  readonly entries: number;
  readonly capacity: number;
  /** lb_snat tuples in use per SNAT address (counted by a scan; empty when not scanned). */
  readonly snatInUse: ReadonlyMap<string, number>;
  /** The SNAT pool: addresses in the datapath's order and the port range (tuples per address and backend). */
  readonly snatAddresses: readonly string[];
  readonly snatPorts: { readonly min: number; readonly max: number } | undefined;
  readonly counted: 'scan' | 'gc-record';
}

export interface Snapshot {
  /** CLOCK_MONOTONIC ns when it was read. */
  readonly takenAtNs: bigint;
  readonly datapath: DatapathStatus | undefined;
  readonly agent: AgentStatus | undefined;
  /** By name. */
  readonly services: readonly ServiceStatus[];
  /** Global counters by name (COUNTER_NAMES: drop_* and pass_*). */
  readonly counters: Readonly<Record<string, bigint>>;
  readonly conntrack: ConntrackStatus;
}
