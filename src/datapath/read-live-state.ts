/**
 * Read the config-owned maps and the agent's records back into a LiveState
 * (src/plan/live-state.ts). Cheap at scale: whole maps are read with batch
 * lookups, and a scheduler table is checked by its id and recorded digest,
 * never slot by slot. Runtime state (MACs, conntrack) is not read here.
 */
import { IPPROTO_TCP, IPPROTO_UDP, BACKEND_ADMIN_NAMES, SCHEDULER_NAMES, type LbServiceKey } from './codecs.js';
import type { DatapathMaps } from './datapath-maps.js';
import { serviceId, type Protocol } from '../model/desired-state.js';
import type { LiveBackend, LiveService, LiveSnatPool, LiveState, StrayService } from '../plan/live-state.js';

const PROTOCOLS: ReadonlyMap<number, Protocol> = new Map([
  [IPPROTO_TCP, 'tcp'],
  [IPPROTO_UDP, 'udp'],
]);

export const PROTOCOL_NUMBERS: Readonly<Record<Protocol, number>> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP };

const NS_PER_MS = 1_000_000;

export function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms * NS_PER_MS));
}

function keyText(key: LbServiceKey): string {
  return `${key.vip}:${key.port}/${key.proto}`;
}

export function readLiveState(maps: DatapathMaps): LiveState {
  const entries = new Map(maps.services().map((e) => [keyText(e.key), e]));
  const explained = new Set<string>();
  const services: LiveService[] = [];
  for (const [num, meta] of maps.serviceMetas()) {
    const protocol = PROTOCOLS.get(meta.proto);
    const scheduler = SCHEDULER_NAMES[meta.scheduler];
    const key = keyText({ vip: meta.vip, port: meta.port, proto: meta.proto });
    const published = entries.get(key)?.id === num;
    if (published) explained.add(key);
    services.push({
      num,
      id: serviceId(meta.vip, meta.port, protocol ?? 'tcp'),
      name: meta.name,
      vip: meta.vip,
      port: meta.port,
      protocol: protocol ?? 'tcp',
      // A record this agent could not have written: its table is republished.
      scheduler: scheduler ?? 'round_robin',
      tableDigest: protocol && scheduler ? meta.tableDigest.toString(16).padStart(16, '0') : '',
      published,
      tablePublished: meta.tableMapId !== 0 && maps.schedulerTableId(num) === meta.tableMapId,
    });
  }
  const strayServices: StrayService[] = [];
  for (const [key, entry] of entries) {
    if (explained.has(key)) continue;
    strayServices.push({ vip: entry.key.vip, port: entry.key.port, protocol: PROTOCOLS.get(entry.key.proto) ?? 'tcp' });
  }

  const backends: LiveBackend[] = [];
  const metas = maps.backendMetas();
  const backendAt = maps.backendReader(Math.max(-1, ...metas.keys()));
  for (const [num, meta] of metas) {
    const datapath = backendAt(num) ?? { ip: '', port: 0 };
    backends.push({
      num,
      serviceNum: meta.serviceId,
      address: meta.ip,
      port: meta.port,
      weight: meta.weight,
      state: BACKEND_ADMIN_NAMES[meta.admin] ?? 'disabled',
      published: datapath.ip === meta.ip && datapath.port === meta.port,
    });
  }

  const pool = maps.snatPool();
  const snatPool: LiveSnatPool | null = pool
    ? { addresses: pool.addrs, portMin: pool.portMin, portMax: pool.portMax, reuseAfterMs: Number(pool.reuseAfterNs) / NS_PER_MS }
    : null;

  return {
    services: services.sort((a, b) => a.num - b.num),
    backends: backends.sort((a, b) => a.num - b.num),
    strayServices,
    addresses: maps.addresses(),
    snatPool,
    announced: maps.announced(),
  };
}
