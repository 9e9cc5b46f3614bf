/**
 * DesiredState: what the kernel should hold, as the config file says it.
 *
 * Normalized so that two files meaning the same thing give deep-equal states:
 * every default applied, durations in milliseconds, ports as numbers, and
 * services and backends sorted by their content-based identity (so the order
 * in the YAML does not matter). Values are deeply frozen. Pure data: built by
 * src/config/build-desired-state.ts, read by the planner and the loops.
 */
import { compareIpv4, ipv4ToNumber } from './ipv4.js';

export type XdpMode = 'auto' | 'native' | 'generic';
export type VipAnnounce = 'arp' | 'none';
export type Protocol = 'tcp' | 'udp';
export type SchedulerName = 'round_robin' | 'weighted_round_robin' | 'maglev' | 'source_hash';
export type BackendAdminState = 'active' | 'draining' | 'disabled';
export type HealthCheckType = 'tcp' | 'http';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** `${vip}:${port}/${protocol}`, e.g. "198.18.0.10:80/tcp". */
export type ServiceId = string;
/** `${address}:${port}` within its service, e.g. "198.18.0.2:80". */
export type BackendId = string;

export interface BackendState {
  readonly id: BackendId;
  readonly address: string;
  readonly port: number;
  /** 0..65535; 0 takes no new flows. */
  readonly weight: number;
  readonly state: BackendAdminState;
}

export interface HealthCheckState {
  /** `health_check.type: none` is normalized to no healthCheck at all. */
  readonly type: HealthCheckType;
  /** null: probe each backend on its own port. */
  readonly port: number | null;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
  /** HTTP only (null for tcp). */
  readonly path: string | null;
  /** HTTP only (null for tcp). */
  readonly expectStatus: number | null;
}

export interface ServiceState {
  readonly id: ServiceId;
  readonly name: string;
  readonly vip: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly scheduler: SchedulerName;
  /** Sorted by compareBackendIds. */
  readonly backends: readonly BackendState[];
  /** Absent: backends are always healthy. */
  readonly healthCheck?: HealthCheckState;
}

export interface SnatState {
  /** Sorted numerically. */
  readonly addresses: readonly string[];
  readonly portMin: number;
  readonly portMax: number;
  readonly reuseAfterMs: number;
}

export interface ConntrackState {
  readonly maxEntries: number;
  readonly timeouts: {
    readonly tcpSynMs: number;
    readonly tcpEstablishedMs: number;
    readonly tcpClosingMs: number;
    readonly udpMs: number;
  };
  readonly gcIntervalMs: number;
}

export interface DesiredState {
  readonly interface: string;
  readonly xdpMode: XdpMode;
  readonly vipAnnounce: VipAnnounce;
  readonly snat: SnatState;
  /** Sorted by compareServiceIds. */
  readonly services: readonly ServiceState[];
  readonly conntrack: ConntrackState;
  readonly neighbors: { readonly refreshIntervalMs: number };
  /** listen as written ("127.0.0.1:9740"), and split. */
  readonly metrics: { readonly listen: string; readonly host: string; readonly port: number };
  readonly log: { readonly level: LogLevel };
}

export function serviceId(vip: string, port: number, protocol: Protocol): ServiceId {
  return `${vip}:${port}/${protocol}`;
}

export function backendId(address: string, port: number): BackendId {
  return `${address}:${port}`;
}

/**
 * A backend's identity as a number where it can be one (a dotted quad and
 * a port 0..65535: address * 2^16 + port, below 2^48), else its BackendId.
 * Two keys are equal exactly when the BackendIds are; a number is cheaper
 * to make and to hash than a string for each of the tens of thousands of
 * backends that every reload checks and pairs up. `n`: the address as
 * ipv4ToNumber makes it, for a caller that has it already.
 */
export function endpointKey(address: string, port: number, n: number | undefined = ipv4ToNumber(address)): number | BackendId {
  return n !== undefined && Number.isInteger(port) && port >= 0 && port <= 0xffff ? n * 0x10000 + port : backendId(address, port);
}

function splitId(id: string): [string, number, string] {
  const colon = id.lastIndexOf(':');
  const rest = id.slice(colon + 1);
  const slash = rest.indexOf('/');
  const port = Number(slash < 0 ? rest : rest.slice(0, slash));
  return [id.slice(0, colon), port, slash < 0 ? '' : rest.slice(slash + 1)];
}

/**
 * Order of service ids: address numerically, then port, then protocol. The
 * same order as src/sched compareKeys gives for these strings.
 */
export function compareServiceIds(a: ServiceId, b: ServiceId): number {
  const [va, pa, ra] = splitId(a);
  const [vb, pb, rb] = splitId(b);
  return compareIpv4(va, vb) || pa - pb || (ra < rb ? -1 : ra > rb ? 1 : 0);
}

/** Order of backend ids: address numerically, then port. */
export function compareBackendIds(a: BackendId, b: BackendId): number {
  return compareServiceIds(a, b);
}

/**
 * The settings a reload cannot change (DESIGN.md §1): they size maps or
 * decide the attachment. Config names, as an operator reads them.
 */
export const RESTART_ONLY_SETTINGS = ['interface', 'xdp_mode', 'conntrack.max_entries'] as const;
export type RestartOnlySetting = (typeof RESTART_ONLY_SETTINGS)[number];

/**
 * The restart-only settings whose values differ between a (live) and b
 * (new), in RESTART_ONLY_SETTINGS order. Non-empty: reject the reload and
 * tell the operator to run `down` and start again.
 */
export function restartOnlyChanges(a: DesiredState, b: DesiredState): RestartOnlySetting[] {
  const changed: RestartOnlySetting[] = [];
  if (a.interface !== b.interface) changed.push('interface');
  if (a.xdpMode !== b.xdpMode) changed.push('xdp_mode');
  if (a.conntrack.maxEntries !== b.conntrack.maxEntries) changed.push('conntrack.max_entries');
  return changed;
}
