/*
 * The kernel side of the status view: one Snapshot (snapshot.ts) from the
 * pinned maps, with batch reads only — every service, backend and counter
 * in a few syscalls, however large the config. Works whether an agent runs
 * or not: the datapath's maps, the agent's records of what it published
 * (lb_svc_meta, lb_be_meta, lb_agent) and of what its loops know
 * (lb_be_runtime, lb_agent_run).
 *
 * Counting the flow tables (lb_ct, lb_snat) means a scan of both, chunked
 * like the GC's: under a second for a full million-entry table, fine for a
 * person at a terminal. A caller that reads often (a metrics scrape) can
 * skip it and take the last GC pass's figure instead.
 */
import {
  BACKEND_ADMIN_NAMES,
  HEALTH_NAMES,
  RELOAD_RESULT_NAMES,
  RESOLUTION_NAMES,
  SCHEDULER_NAMES,
  XDP_MODE_NAMES,
  decodeIpv4Key,
  lbFlowKey,
  lbNeigh,
  uint32ToIpv4,
  type LbAgentRun,
} from '../datapath/codecs.js';
import { highestId, type DatapathMaps } from '../datapath/datapath-maps.js';
import { PROTOCOLS } from '../datapath/read-live-state.js';
import { processAlive } from '../host/process-start.js';
import { monotonicClock } from '../loops/loop-context.js';
import { compareIpv4 } from '../model/ipv4.js';
import type { AgentStatus, BackendStatus, ConntrackStatus, DatapathStatus, ServiceStatus, Snapshot, Traffic } from './snapshot.js';

export interface SnapshotOptions {
  /** Count lb_ct and lb_snat now (default); false: take the agent's last GC figures. */
  readonly scanFlows?: boolean;
}

const SCAN_CHUNK = 8192;
const NO_TRAFFIC: Traffic = { packetsIn: 0n, bytesIn: 0n, packetsOut: 0n, bytesOut: 0n, newFlows: 0n };

function readDatapath(maps: DatapathMaps): DatapathStatus | undefined {
  const record = maps.agentRecord();
  if (record === undefined) return undefined;
  return {
    interface: record.ifname,
    ifindex: record.ifindex,
    xdpMode: XDP_MODE_NAMES[record.xdpMode] ?? 'auto',
    attachedMode: XDP_MODE_NAMES[record.attachedMode] ?? 'auto',
  };
}

function agentStatus(run: LbAgentRun, alive: boolean): AgentStatus {
  return {
    pid: run.pid,
    running: alive,
    startedNs: run.startedNs,
    lastReload: run.reloadNs === 0n ? undefined : { result: RELOAD_RESULT_NAMES[run.reloadResult] ?? 'none', atNs: run.reloadNs, operations: run.reloadOperations },
    appliedNs: run.appliedNs === 0n ? undefined : run.appliedNs,
    configDigest: run.appliedNs === 0n ? undefined : run.configDigest.toString(16).padStart(16, '0'),
    reloads: { applied: run.reloadsApplied, rejected: run.reloadsRejected, failed: run.reloadsFailed },
    gc:
      run.gcPasses === 0n
        ? undefined
        : {
            passes: run.gcPasses,
            atNs: run.gcNs,
            durationNs: run.gcDurationNs,
            scanned: run.gcScanned,
            expired: run.gcExpired,
            removed: run.gcRemoved,
            entries: run.gcEntries,
          },
  };
}

function readNeighbors(maps: DatapathMaps): Map<string, string> {
  const out = new Map<string, string>();
  const map = maps.map('lb_neigh');
  for (const { keys, values, count } of map.lookupBatchPacked({ chunk: SCAN_CHUNK })) {
    for (let i = 0; i < count; i++) out.set(decodeIpv4Key(keys, i * map.keySize), lbNeigh.read.mac(values, i * map.valueBufferSize));
  }
  return out;
}

function readServices(maps: DatapathMaps): ServiceStatus[] {
  const serviceMetas = maps.serviceMetas();
  const backendMetas = maps.backendMetas();
  const runtimes = maps.backendRuntimes();
  const neighbors = readNeighbors(maps);
  const serviceTraffic = maps.serviceTrafficUpTo(highestId(serviceMetas.keys()));
  const backendTraffic = maps.backendTrafficUpTo(highestId(backendMetas.keys()));

  const backendsOf = new Map<number, BackendStatus[]>();
  for (const [id, meta] of backendMetas) {
    const runtime = runtimes.get(id);
    const list = backendsOf.get(meta.serviceId) ?? [];
    backendsOf.set(meta.serviceId, list);
    list.push({
      id,
      address: meta.ip,
      port: meta.port,
      weight: meta.weight,
      admin: BACKEND_ADMIN_NAMES[meta.admin] ?? 'disabled',
      health: runtime && (HEALTH_NAMES[runtime.health] ?? 'unknown'),
      resolution: runtime && (RESOLUTION_NAMES[runtime.resolution] ?? 'pending'),
      mac: neighbors.get(meta.ip),
      activeConns: runtime?.activeConns,
      changedNs: runtime?.changedNs,
      traffic: backendTraffic[id] ?? NO_TRAFFIC,
    });
  }
  const services: ServiceStatus[] = [];
  for (const [id, meta] of serviceMetas) {
    services.push({
      id,
      name: meta.name,
      vip: meta.vip,
      port: meta.port,
      protocol: PROTOCOLS.get(meta.proto) ?? 'tcp',
      scheduler: SCHEDULER_NAMES[meta.scheduler] ?? 'round_robin',
      traffic: serviceTraffic[id] ?? NO_TRAFFIC,
      backends: (backendsOf.get(id) ?? []).sort((a, b) => compareIpv4(a.address, b.address) || a.port - b.port),
    });
  }
  return services.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id));
}

/** Entries of a flow table, without decoding them. */
function countEntries(maps: DatapathMaps, name: 'lb_ct' | 'lb_snat', visit?: (keys: Buffer, count: number) => void): number {
  let total = 0;
  for (const { keys, count } of maps.map(name).lookupBatchPacked({ chunk: SCAN_CHUNK })) {
    total += count;
    visit?.(keys, count);
  }
  return total;
}

function readConntrack(maps: DatapathMaps, agent: AgentStatus | undefined, scan: boolean): ConntrackStatus {
  const pool = maps.snatPool();
  const common = {
    capacity: maps.map('lb_ct').maxEntries,
    snatAddresses: pool?.addrs ?? [],
    snatPorts: pool && { min: pool.portMin, max: pool.portMax },
  };
  if (!scan) return { ...common, entries: agent?.gc?.entries ?? 0, snatInUse: new Map(), counted: 'gc-record' };
  const entries = countEntries(maps, 'lb_ct');
  // lb_snat is keyed as replies carry a tuple: its destination is the SNAT address.
  const perAddress = new Map<number, number>();
  const at = lbFlowKey.fields['dst_ip']!;
  const keySize = maps.map('lb_snat').keySize;
  countEntries(maps, 'lb_snat', (keys, count) => {
    for (let i = 0; i < count; i++) {
      const address = keys.readUInt32BE(i * keySize + at);
      perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
    }
  });
  const snatInUse = new Map([...perAddress].map(([n, count]) => [uint32ToIpv4(n), count]));
  return { ...common, entries, snatInUse, counted: 'scan' };
}

export function readSnapshot(maps: DatapathMaps, options: SnapshotOptions = {}): Snapshot {
  const takenAtNs = monotonicClock();
  const run = maps.agentRun();
  const agent = run && agentStatus(run, processAlive(run.pid, run.procStartTicks));
  return {
    takenAtNs,
    datapath: readDatapath(maps),
    agent,
    services: readServices(maps),
    counters: maps.counters(),
    conntrack: readConntrack(maps, agent, options.scanFlows ?? true),
  };
}
