/**
 * Read the config-owned maps and the agent's records back into a LiveState
 * (src/plan/live-state.ts). Cheap at scale: whole maps are read with batch
 * lookups, and a scheduler table is checked by its id and recorded digest,
 * never slot by slot. Runtime state (MACs, conntrack) is not read here.
 *
 * This runs on every reload, over every backend record (16,000 in a large
 * config): the records are read field by field where the kernel put them
 * (lbBackendMeta.read) and become LiveBackends directly, in id order,
 * without an intermediate object, map or sort per record.
 */
import { IPPROTO_TCP, IPPROTO_UDP, BACKEND_ADMIN_NAMES, SCHEDULER_NAMES, lbBackend, lbBackendMeta, type LbServiceKey } from './codecs.js';
import type { DatapathMaps } from './datapath-maps.js';
import { serviceId, type Protocol } from '../model/desired-state.js';
import type { LiveBackend, LiveService, LiveSnatPool, LiveState, StrayService } from '../plan/live-state.js';

export const PROTOCOLS: ReadonlyMap<number, Protocol> = new Map([
  [IPPROTO_TCP, 'tcp'],
  [IPPROTO_UDP, 'udp'],
]);

export const PROTOCOL_NUMBERS: Readonly<Record<Protocol, number>> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP };

const NS_PER_MS = 1_000_000;

/*
 * A backend record and its lb_backends entry agree when their address and
 * port do: the addresses are compared as the __be32s they are, which spares
 * making a second string per backend.
 */
const BACKEND_IP = lbBackend.fields['ip']!;
const META_IP = lbBackendMeta.fields['ip']!;

export function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms * NS_PER_MS));
}

function keyText(key: LbServiceKey): string {
  return `${key.vip}:${key.port}/${key.proto}`;
}

function readServices(maps: DatapathMaps): { services: LiveService[]; strayServices: StrayService[] } {
  const entries = new Map(maps.services().map((e) => [keyText(e.key), e]));
  const explained = new Set<string>();
  const services: LiveService[] = [];
  const metas = maps.serviceMetas();
  const tableIds = maps.schedulerTableIds(metas.keys());
  for (const [num, meta] of metas) {
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
      tablePublished: meta.tableMapId !== 0 && tableIds.get(num) === meta.tableMapId,
    });
  }
  const strayServices: StrayService[] = [];
  for (const [key, entry] of entries) {
    if (explained.has(key)) continue;
    strayServices.push({ vip: entry.key.vip, port: entry.key.port, protocol: PROTOCOLS.get(entry.key.proto) ?? 'tcp' });
  }
  return { services: services.sort((a, b) => a.num - b.num), strayServices };
}

function readBackends(maps: DatapathMaps): LiveBackend[] {
  const records = maps.backendMetaRecords();
  const { keys, values, count } = records;
  // Where each id's record is; ids are below the map's capacity, so a
  // walk over ids lists the records in id order.
  let maxNum = -1;
  for (let i = 0; i < count; i++) maxNum = Math.max(maxNum, keys.readUInt32LE(i * 4));
  const recordOf = new Int32Array(maxNum + 1).fill(-1);
  for (let i = 0; i < count; i++) recordOf[keys.readUInt32LE(i * 4)] = i;

  const datapath = maps.backendsUpTo(maxNum);
  const read = lbBackendMeta.read;
  // One record each, sized up front: an array of 16,000 grown by push is
  // copied into ever larger ones, each a large object the heap keeps until
  // its next full collection.
  const backends = new Array<LiveBackend>(count);
  let next = 0;
  for (let num = 0; num <= maxNum; num++) {
    const i = recordOf[num]!;
    if (i < 0) continue;
    const at = i * lbBackendMeta.size;
    const port = read.port(values, at);
    const slot = num * lbBackend.size;
    backends[next++] = {
      num,
      serviceNum: read.serviceId(values, at),
      address: read.ip(values, at),
      port,
      weight: read.weight(values, at),
      state: BACKEND_ADMIN_NAMES[read.admin(values, at)] ?? 'disabled',
      published:
        num < datapath.count &&
        datapath.values.readUInt32BE(slot + BACKEND_IP) === values.readUInt32BE(at + META_IP) &&
        lbBackend.read.port(datapath.values, slot) === port,
    };
  }
  return backends;
}

export function readLiveState(maps: DatapathMaps): LiveState {
  const { services, strayServices } = readServices(maps);
  const pool = maps.snatPool();
  const snatPool: LiveSnatPool | null = pool
    ? { addresses: pool.addrs, portMin: pool.portMin, portMax: pool.portMax, reuseAfterMs: Number(pool.reuseAfterNs) / NS_PER_MS }
    : null;
  return {
    services,
    backends: readBackends(maps),
    strayServices,
    addresses: maps.addresses(),
    snatPool,
    announced: maps.announced(),
  };
}
