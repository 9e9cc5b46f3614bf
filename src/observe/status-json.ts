/*
 * `status --json`: the snapshot as plain JSON for scripts. Stable: keys in
 * a fixed order, counters as exact numbers (byte counts stay exact up to
 * 8 PiB), times as ages in seconds (the monotonic stamps mean nothing to
 * another machine), names as in the config (`active`, `round_robin`).
 * Fields are only ever added. Pure.
 */
import type { Rates, TrafficRate } from './rates.js';
import type { BackendStatus, ServiceStatus, Snapshot, Traffic } from './snapshot.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function traffic(t: Traffic): Json {
  return {
    packetsIn: Number(t.packetsIn),
    packetsOut: Number(t.packetsOut),
    bytesIn: Number(t.bytesIn),
    bytesOut: Number(t.bytesOut),
    newFlows: Number(t.newFlows),
  };
}

function rate(r: TrafficRate | undefined): Json {
  if (r === undefined) return null;
  return {
    packetsInPerSec: r.packetsInPerSec,
    packetsOutPerSec: r.packetsOutPerSec,
    bitsInPerSec: r.bitsInPerSec,
    bitsOutPerSec: r.bitsOutPerSec,
    newFlowsPerSec: r.newFlowsPerSec,
  };
}

function seconds(ns: bigint): number {
  return Math.round(Number(ns) / 1e6) / 1e3;
}

function backend(snapshot: Snapshot, b: BackendStatus, rates: Rates | undefined): Json {
  return {
    id: b.id,
    address: b.address,
    port: b.port,
    weight: b.weight,
    state: b.admin,
    health: b.health ?? null,
    resolution: b.resolution ?? null,
    resolved: b.resolution === undefined ? b.mac !== undefined : b.resolution === 'resolved',
    mac: b.mac ?? null,
    activeConnections: b.activeConns ?? null,
    changedSecondsAgo: b.changedNs === undefined ? null : seconds(snapshot.takenAtNs - b.changedNs),
    traffic: traffic(b.traffic),
    ...(rates ? { rates: rate(rates.backends.get(b.id)) } : {}),
  };
}

function service(snapshot: Snapshot, s: ServiceStatus, rates: Rates | undefined): Json {
  return {
    id: s.id,
    name: s.name,
    vip: s.vip,
    port: s.port,
    protocol: s.protocol,
    scheduler: s.scheduler,
    traffic: traffic(s.traffic),
    ...(rates ? { rates: rate(rates.services.get(s.id)) } : {}),
    backends: s.backends.map((b) => backend(snapshot, b, rates)),
  };
}

function agent(snapshot: Snapshot): Json {
  const a = snapshot.agent;
  if (a === undefined) return null;
  const ago = (ns: bigint): number => seconds(snapshot.takenAtNs - ns);
  return {
    pid: a.pid,
    running: a.running,
    uptimeSeconds: ago(a.startedNs),
    lastReload: a.lastReload ? { result: a.lastReload.result, secondsAgo: ago(a.lastReload.atNs), operations: a.lastReload.operations } : null,
    lastAppliedSecondsAgo: a.appliedNs === undefined ? null : ago(a.appliedNs),
    configDigest: a.configDigest ?? null,
    reloads: { applied: a.reloads.applied, rejected: a.reloads.rejected, failed: a.reloads.failed },
    gc: a.gc
      ? {
          passes: Number(a.gc.passes),
          lastSecondsAgo: ago(a.gc.atNs),
          durationSeconds: seconds(a.gc.durationNs),
          scanned: a.gc.scanned,
          expired: a.gc.expired,
          removed: a.gc.removed,
          entries: a.gc.entries,
        }
      : null,
  };
}

/** The snapshot (and, with --watch, the rates since the previous one) as a JSON value. */
export function statusJson(snapshot: Snapshot, rates?: Rates): Json {
  const dp = snapshot.datapath;
  const ct = snapshot.conntrack;
  const counters: Record<string, Json> = {};
  for (const [name, value] of Object.entries(snapshot.counters)) counters[name] = Number(value);
  return {
    datapath: dp ? { interface: dp.interface, ifindex: dp.ifindex, xdpMode: dp.xdpMode, attachedMode: dp.attachedMode } : null,
    agent: agent(snapshot),
    services: snapshot.services.map((s) => service(snapshot, s, rates)),
    counters,
    ...(rates ? { counterRates: { ...rates.counters }, rateIntervalSeconds: rates.intervalSec } : {}),
    conntrack: {
      entries: ct.entries,
      capacity: ct.capacity,
      counted: ct.counted,
      snat: {
        ports: ct.snatPorts ? { min: ct.snatPorts.min, max: ct.snatPorts.max } : null,
        addresses: [...new Set([...ct.snatAddresses, ...ct.snatInUse.keys()])].map((address) => ({
          address,
          inPool: ct.snatAddresses.includes(address),
          inUse: ct.counted === 'scan' ? (ct.snatInUse.get(address) ?? 0) : null,
        })),
      },
    },
  };
}
