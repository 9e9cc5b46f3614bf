/*
 * Rates between two snapshots of the same datapath, for `status --watch`
 * (and anything else that samples): packets and bits per second in each
 * direction and new flows per second, per service and per backend, and
 * each global counter per second. Pure.
 *
 * A service or backend is matched by its id and its identity, so an id
 * reused for something else between the two readings gets no rate (rather
 * than a rate of the difference between two different things); neither
 * does a counter that went down (the datapath was taken down and started
 * again).
 */
import type { BackendStatus, ServiceStatus, Snapshot, Traffic } from './snapshot.js';

export interface TrafficRate {
  readonly packetsInPerSec: number;
  readonly packetsOutPerSec: number;
  readonly bitsInPerSec: number;
  readonly bitsOutPerSec: number;
  readonly newFlowsPerSec: number;
}

export interface Rates {
  /** Seconds between the two snapshots. */
  readonly intervalSec: number;
  /** By service id. */
  readonly services: ReadonlyMap<number, TrafficRate>;
  /** By backend id. */
  readonly backends: ReadonlyMap<number, TrafficRate>;
  /** Counter name -> per second. */
  readonly counters: Readonly<Record<string, number>>;
}

function perSec(before: bigint, after: bigint, seconds: number): number | undefined {
  return after < before ? undefined : Number(after - before) / seconds;
}

export function trafficRate(before: Traffic, after: Traffic, seconds: number): TrafficRate | undefined {
  const packetsIn = perSec(before.packetsIn, after.packetsIn, seconds);
  const packetsOut = perSec(before.packetsOut, after.packetsOut, seconds);
  const bytesIn = perSec(before.bytesIn, after.bytesIn, seconds);
  const bytesOut = perSec(before.bytesOut, after.bytesOut, seconds);
  const newFlows = perSec(before.newFlows, after.newFlows, seconds);
  if (packetsIn === undefined || packetsOut === undefined || bytesIn === undefined || bytesOut === undefined || newFlows === undefined) return undefined;
  return { packetsInPerSec: packetsIn, packetsOutPerSec: packetsOut, bitsInPerSec: bytesIn * 8, bitsOutPerSec: bytesOut * 8, newFlowsPerSec: newFlows };
}

function serviceKey(s: ServiceStatus): string {
  return `${s.id} ${s.vip}:${s.port}/${s.protocol}`;
}

function backendKey(service: ServiceStatus, b: BackendStatus): string {
  return `${b.id} ${serviceKey(service)} ${b.address}:${b.port}`;
}

/** Rates from `before` to `after` (taken later); undefined when no time passed between them. */
export function ratesBetween(before: Snapshot, after: Snapshot): Rates | undefined {
  const seconds = Number(after.takenAtNs - before.takenAtNs) / 1e9;
  if (!(seconds > 0)) return undefined;
  const oldServices = new Map(before.services.map((s) => [serviceKey(s), s]));
  const oldBackends = new Map(before.services.flatMap((s) => s.backends.map((b) => [backendKey(s, b), b] as const)));
  const services = new Map<number, TrafficRate>();
  const backends = new Map<number, TrafficRate>();
  for (const service of after.services) {
    const old = oldServices.get(serviceKey(service));
    const rate = old && trafficRate(old.traffic, service.traffic, seconds);
    if (rate) services.set(service.id, rate);
    for (const backend of service.backends) {
      const was = oldBackends.get(backendKey(service, backend));
      const r = was && trafficRate(was.traffic, backend.traffic, seconds);
      if (r) backends.set(backend.id, r);
    }
  }
  const counters: Record<string, number> = {};
  for (const [name, value] of Object.entries(after.counters)) {
    const rate = perSec(before.counters[name] ?? 0n, value, seconds);
    if (rate !== undefined) counters[name] = rate;
  }
  return { intervalSec: seconds, services, backends, counters };
}
