/*
 * One scrape's DatapathSample from the kernel (the agent's records in
 * lb_svc_meta/lb_be_meta name what is published; the per-CPU maps count
 * it) and from the loops' view of each backend (health, MAC, flows at the
 * last GC pass). The kernel adapter behind the metric families.
 */
import { XDP_MODE_NAMES } from '../datapath/codecs.js';
import { highestId, type DatapathMaps } from '../datapath/datapath-maps.js';
import { KernelError } from '../kernel/errors.js';
import { queryXdp } from '../kernel/xdp-attach.js';
import type { GcPassStats } from '../loops/conntrack-gc.js';
import type { HealthState } from '../loops/health-checker.js';
import { backendId, serviceId, type BackendId, type Protocol, type ServiceId } from '../model/desired-state.js';
import type { BackendSample, DatapathSample, ServiceSample, XdpSample } from './datapath-sample.js';
import { adminName, protocolName, schedulerName } from './metric-names.js';
import { readTraffic } from './read-traffic.js';

/** What the agent's loops know about backends, as the sample needs it. */
export interface RuntimeView {
  health(service: ServiceId, backend: BackendId): HealthState;
  /** The neighbour loop has a MAC for the address. */
  resolved(address: string): boolean;
  readonly lastGcPass: GcPassStats | undefined;
}

export interface SampleSources {
  readonly maps: DatapathMaps;
  readonly runtime: RuntimeView;
  /** The interface the datapath is attached to, in the agent's network namespace. */
  readonly interface: string;
  readonly ifindex: number;
}

/** What is attached to the interface now; mode "none" and program 0 when nothing is, or the interface has gone. */
function readXdp(sources: SampleSources): XdpSample {
  const record = sources.maps.agentRecord();
  let attached: { mode: string; progId: number };
  try {
    attached = queryXdp(sources.ifindex);
  } catch (err) {
    // The interface was deleted under the agent: say so in the series instead of failing the whole scrape.
    if (!(err instanceof KernelError)) throw err;
    attached = { mode: 'none', progId: 0 };
  }
  return {
    interface: sources.interface,
    mode: attached.mode,
    configuredMode: record === undefined ? 'unknown' : (XDP_MODE_NAMES[record.xdpMode] ?? String(record.xdpMode)),
    programId: attached.progId,
  };
}

export function readDatapathSample(sources: SampleSources): DatapathSample {
  const { maps, runtime } = sources;
  const gc = runtime.lastGcPass;
  const serviceMetas = maps.serviceMetas();
  const backendMetas = maps.backendMetas();
  const traffic = readTraffic(maps, highestId(serviceMetas.keys()), highestId(backendMetas.keys()));
  const flowsOfService = new Map<number, number>();
  const backends: BackendSample[] = [];
  // In id order (the hash map's order is arbitrary): a person reading the text finds a service's backends together.
  for (const id of [...backendMetas.keys()].sort((a, b) => a - b)) {
    const meta = backendMetas.get(id)!;
    const service = serviceMetas.get(meta.serviceId);
    if (service === undefined) continue; // a record being replaced by a concurrent apply: the next scrape sees it whole
    const active = gc && (gc.activeByBackend.get(id) ?? 0);
    if (active !== undefined) flowsOfService.set(meta.serviceId, (flowsOfService.get(meta.serviceId) ?? 0) + active);
    backends.push({
      service: service.name,
      backend: backendId(meta.ip, meta.port),
      weight: meta.weight,
      admin: adminName(meta.admin),
      health: runtime.health(serviceId(service.vip, service.port, protocolName(service.proto) as Protocol), backendId(meta.ip, meta.port)),
      resolved: runtime.resolved(meta.ip),
      traffic: traffic.backend(id),
      activeConnections: active,
    });
  }
  const services: ServiceSample[] = [];
  for (const id of [...serviceMetas.keys()].sort((a, b) => a - b)) {
    const meta = serviceMetas.get(id)!;
    services.push({
      name: meta.name,
      vip: meta.vip,
      port: meta.port,
      protocol: protocolName(meta.proto),
      scheduler: schedulerName(meta.scheduler),
      traffic: traffic.service(id),
      activeConnections: gc && (flowsOfService.get(id) ?? 0),
    });
  }
  const pool = maps.snatPool();
  const run = maps.agentRun();
  return {
    services,
    backends,
    counters: maps.counters(),
    conntrackCapacity: maps.map('lb_ct').maxEntries,
    lastGcPass: gc,
    snatPoolPorts: pool === undefined || pool.addrs.length === 0 ? 0 : pool.portMax - pool.portMin + 1,
    xdp: readXdp(sources),
    configDigest: run === undefined || run.appliedNs === 0n ? undefined : run.configDigest.toString(16).padStart(16, '0'),
  };
}
