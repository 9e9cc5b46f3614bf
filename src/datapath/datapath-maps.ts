/*
 * Typed access to the datapath's maps (bpf/lb_maps.h): the one place that
 * knows each map's name, key and value codec. Plan/apply, the loops, the
 * status view and the tests all go through it.
 */
import fs from 'node:fs';
import os from 'node:os';
import { BpfMap, BPF_MAP_TYPE_ARRAY, type PackedChunk } from '../kernel/bpf-map.js';
import type { BpfObject } from '../kernel/bpf-object.js';
import { KernelError } from '../kernel/errors.js';
import {
  COUNTER_NAMES,
  decodePerCpuTrafficSum,
  sumPerCpuTraffic,
  decodePerCpuU64Sum,
  decodeIpv4Key,
  decodeU32,
  encodeIpv4Key,
  encodeU32,
  lbAgentRecord,
  lbAgentRun,
  lbAnnounced,
  lbBackend,
  lbBackendMeta,
  lbBackendRuntime,
  lbConn,
  lbFlowKey,
  lbNeigh,
  lbService,
  lbServiceKey,
  lbServiceMeta,
  lbSnatPool,
  type LbAgentRecord,
  type LbAgentRun,
  type LbBackend,
  type LbBackendMeta,
  type LbBackendRuntime,
  type LbConn,
  type LbFlowKey,
  type LbServiceKey,
  type LbServiceMeta,
  type LbSnatPool,
  type LbTraffic,
} from './codecs.js';
import { numPossibleCpus } from '../kernel/libbpf.js';

const { EINTR } = os.constants.errno;

/* Entries per batch lookup when reading whole maps: few syscalls, small buffers. */
const BATCH_CHUNK = 8192;

/* Per-service tables may differ in length (the template in lb_maps.h). */
const BPF_F_INNER_MAP = 1 << 12;

export const DATAPATH_MAP_NAMES = [
  'lb_addrs',
  'lb_services',
  'lb_sched',
  'lb_rr',
  'lb_backends',
  'lb_neigh',
  'lb_ct',
  'lb_snat',
  'lb_snat_pool',
  'lb_svc_stats',
  'lb_be_stats',
  'lb_counters',
  'lb_svc_meta',
  'lb_be_meta',
  'lb_announced',
  'lb_agent',
  'lb_be_runtime',
  'lb_agent_run',
] as const;
export type DatapathMapName = (typeof DATAPATH_MAP_NAMES)[number];

/*
 * Maps a datapath pinned by an older build lacks: the pins of such a build
 * still open (for `down`, `status` and the restart that adds them), with
 * these read as empty.
 */
const ADDED_LATER: ReadonlySet<DatapathMapName> = new Set(['lb_be_runtime', 'lb_agent_run']);

export type DatapathCounters = Record<string, bigint>;

/** Chunks of one walk as one: entry i of the walk at i * keySize and i * valueBufferSize. */
function joinChunks(chunks: readonly PackedChunk[], map: BpfMap): PackedChunk {
  if (chunks.length === 1) return chunks[0]!;
  return {
    keys: Buffer.concat(chunks.map((c) => c.keys.subarray(0, c.count * map.keySize))),
    values: Buffer.concat(chunks.map((c) => c.values.subarray(0, c.count * map.valueBufferSize))),
    count: chunks.reduce((sum, c) => sum + c.count, 0),
  };
}

/** The highest of some datapath ids, -1 for none: the bound to give the *UpTo readers for those ids. */
export function highestId(ids: Iterable<number>): number {
  let max = -1;
  for (const id of ids) if (id > max) max = id;
  return max;
}

export class DatapathMaps {
  private constructor(private readonly maps: Readonly<Record<DatapathMapName, BpfMap>>) {}

  static fromObject(obj: BpfObject): DatapathMaps {
    const maps = {} as Record<DatapathMapName, BpfMap>;
    for (const name of DATAPATH_MAP_NAMES) maps[name] = obj.map(name);
    return new DatapathMaps(maps);
  }

  /**
   * The maps pinned under `pinDir` by a running (or stopped) agent, or
   * undefined when nothing is pinned there. The fds are owned: close().
   */
  static fromPins(pinDir: string): DatapathMaps | undefined {
    if (!fs.existsSync(`${pinDir}/lb_svc_meta`)) return undefined;
    const maps = {} as Record<DatapathMapName, BpfMap>;
    try {
      for (const name of DATAPATH_MAP_NAMES) {
        if (ADDED_LATER.has(name) && !fs.existsSync(`${pinDir}/${name}`)) continue;
        maps[name] = BpfMap.fromPin(`${pinDir}/${name}`);
      }
    } catch (err) {
      for (const map of Object.values(maps)) map.close();
      throw err;
    }
    return new DatapathMaps(maps);
  }

  map(name: DatapathMapName): BpfMap {
    const map = this.maps[name] as BpfMap | undefined;
    if (map === undefined) throw new KernelError('EBPF_OBJ_GET', 'DatapathMaps.map', `map ${name} is not pinned (a datapath pinned by an older build)`);
    return map;
  }

  /** Whether the map is there (one of ADDED_LATER may not be, under an older build's pins). */
  has(name: DatapathMapName): boolean {
    return this.maps[name] !== undefined;
  }

  /** How many services and backends the maps can hold (the planner's id limits). */
  limits(): { maxServices: number; maxBackends: number } {
    const m = this.maps;
    return {
      maxServices: Math.min(m.lb_services.maxEntries, m.lb_svc_meta.maxEntries, m.lb_sched.maxEntries, m.lb_rr.maxEntries, m.lb_svc_stats.maxEntries),
      maxBackends: Math.min(m.lb_backends.maxEntries, m.lb_be_meta.maxEntries, m.lb_be_stats.maxEntries),
    };
  }

  /** Release fds this object owns (maps borrowed from a BpfObject stay with it). */
  close(): void {
    for (const map of Object.values(this.maps)) map.close();
  }

  /* ---- config-owned ---- */

  /** @param roles LbAddrRole bits */
  putAddress(ip: string, roles: number): void {
    this.maps.lb_addrs.update(encodeIpv4Key(ip), encodeU32(roles));
  }

  addressRoles(ip: string): number | undefined {
    const value = this.maps.lb_addrs.lookup(encodeIpv4Key(ip));
    return value && decodeU32(value);
  }

  deleteAddress(ip: string): boolean {
    return this.maps.lb_addrs.delete(encodeIpv4Key(ip));
  }

  putService(key: LbServiceKey, id: number): void {
    this.maps.lb_services.update(lbServiceKey.encode(key), lbService.encode({ id }));
  }

  deleteService(key: LbServiceKey): boolean {
    return this.maps.lb_services.delete(lbServiceKey.encode(key));
  }

  /**
   * A complete scheduler table (header slot included, as built by src/sched)
   * in a new inner map, not yet visible to packets: publish it with
   * publishSchedulerTables. The caller closes it once published (the outer
   * map then holds its own reference).
   */
  createSchedulerTable(table: Uint32Array): BpfMap {
    const inner = BpfMap.create({
      type: BPF_MAP_TYPE_ARRAY,
      name: 'lb_sched_tbl',
      keySize: 4,
      valueSize: 4,
      maxEntries: table.length,
      mapFlags: BPF_F_INNER_MAP,
    });
    try {
      // Slot indexes and backend ids as host-order __u32s, packed.
      const slots = Uint32Array.from(table, (_, slot) => slot);
      inner.updatePacked(Buffer.from(slots.buffer), Buffer.from(table.buffer, table.byteOffset, table.byteLength));
      return inner;
    } catch (err) {
      inner.close();
      throw err;
    }
  }

  /**
   * Swap complete tables into their services' slots. Each slot flips from
   * the old table to the new one in a single step, so a packet sees one or
   * the other, never a mix. One batch for all: the kernel waits for an RCU
   * grace period (~10 ms) after every update of a map of maps, once per
   * syscall, which one by one would cost seconds for a thousand services.
   * A table replaced is freed unless the caller holds it (openSchedulerTable).
   */
  publishSchedulerTables(tables: readonly { serviceId: number; table: BpfMap }[]): void {
    const keys = Uint32Array.from(tables, (t) => t.serviceId);
    const fds = Uint32Array.from(tables, (t) => t.table.fd);
    this.maps.lb_sched.updatePacked(Buffer.from(keys.buffer), Buffer.from(fds.buffer));
  }

  /** createSchedulerTable + publishSchedulerTables for one service; returns the new table's map id. */
  putSchedulerTable(serviceId: number, table: Uint32Array): number {
    const inner = this.createSchedulerTable(table);
    try {
      this.publishSchedulerTables([{ serviceId, table: inner }]);
      return inner.id;
    } finally {
      inner.close();
    }
  }

  /** Id of the inner map in the service's slot, if any. */
  schedulerTableId(serviceId: number): number | undefined {
    const innerId = this.maps.lb_sched.lookup(encodeU32(serviceId));
    return innerId && decodeU32(innerId);
  }

  /**
   * schedulerTableId for many services: service id -> inner map id, for
   * the services whose slot holds a table. One batch read of lb_sched
   * where the kernel's batch walk skips empty slots (Linux 6.14 and the
   * stable kernels it went back to); an older kernel stops the walk at the
   * first empty slot with EINTR, and then each service is looked up alone.
   */
  schedulerTableIds(serviceIds: Iterable<number>): Map<number, number> {
    const out = new Map<number, number>();
    try {
      this.scan(this.maps.lb_sched, (keys, keyAt, values, valueAt) => out.set(decodeU32(keys, keyAt), decodeU32(values, valueAt)));
      return out;
    } catch (err) {
      if (!(err instanceof KernelError && err.errno === EINTR)) throw err;
      out.clear();
      for (const serviceId of serviceIds) {
        const innerId = this.schedulerTableId(serviceId);
        if (innerId !== undefined) out.set(serviceId, innerId);
      }
      return out;
    }
  }

  /** An fd on the service's current table map, keeping it alive after a swap; the caller closes it. */
  openSchedulerTable(serviceId: number): BpfMap | undefined {
    const innerId = this.schedulerTableId(serviceId);
    return innerId === undefined ? undefined : BpfMap.fromId(innerId);
  }

  /** The published table of a service (header slot included), if any. */
  schedulerTable(serviceId: number): Uint32Array | undefined {
    const inner = this.openSchedulerTable(serviceId);
    if (inner === undefined) return undefined;
    try {
      const table = new Uint32Array(inner.maxEntries);
      for (const chunk of inner.lookupBatch()) {
        chunk.keys.forEach((key, i) => {
          table[decodeU32(key)] = decodeU32(chunk.values[i]!);
        });
      }
      return table;
    } finally {
      inner.close();
    }
  }

  deleteSchedulerTable(serviceId: number): boolean {
    return this.maps.lb_sched.delete(encodeU32(serviceId));
  }

  /**
   * Retire many services' tables in one batch: their slots get one shared
   * table with no backends. The kernel has no batch delete for maps of maps,
   * and deleting slot by slot would wait an RCU grace period for each.
   */
  clearSchedulerTables(serviceIds: readonly number[]): void {
    if (serviceIds.length === 0) return;
    const empty = this.createSchedulerTable(Uint32Array.of(0));
    try {
      this.publishSchedulerTables(serviceIds.map((serviceId) => ({ serviceId, table: empty })));
    } finally {
      empty.close();
    }
  }

  putBackend(id: number, backend: LbBackend): void {
    this.maps.lb_backends.update(encodeU32(id), lbBackend.encode(backend));
  }

  /** Many backends in one syscall. */
  putBackends(entries: readonly { id: number; backend: LbBackend }[]): void {
    this.maps.lb_backends.updateBatch(
      entries.map((e) => encodeU32(e.id)),
      entries.map((e) => lbBackend.encode(e.backend)),
    );
  }

  backend(id: number): LbBackend {
    const value = this.maps.lb_backends.lookup(encodeU32(id));
    if (value === undefined) throw new RangeError(`lb_backends: id ${id} is out of range`);
    return lbBackend.decode(value);
  }

  /**
   * lb_backends from id 0 to `maxId` as one packed chunk (entry i is id i,
   * at i * lbBackend.size), read with batch lookups sized to end there: an
   * array walks in id order. Empty for a negative `maxId`.
   */
  backendsUpTo(maxId: number): PackedChunk {
    return this.arrayUpTo(this.maps.lb_backends, maxId);
  }

  /** Entries 0..maxId of an array map as one packed chunk (entry i at i * keySize and i * valueBufferSize). */
  private arrayUpTo(map: BpfMap, maxId: number): PackedChunk {
    const chunks: PackedChunk[] = [];
    let count = 0;
    if (maxId >= 0) {
      for (const chunk of map.lookupBatchPacked({ chunk: Math.min(maxId + 1, BATCH_CHUNK) })) {
        chunks.push(chunk);
        count += chunk.count;
        if (count > maxId) break;
      }
    }
    const all = joinChunks(chunks, map);
    return all.count > maxId + 1 ? { ...all, count: Math.max(maxId + 1, 0) } : all;
  }

  putSnatPool(pool: LbSnatPool): void {
    this.maps.lb_snat_pool.update(encodeU32(0), lbSnatPool.encode(pool));
  }

  snatPool(): LbSnatPool | undefined {
    const value = this.maps.lb_snat_pool.lookup(encodeU32(0));
    return value && lbSnatPool.decode(value);
  }

  deleteSnatPool(): boolean {
    return this.maps.lb_snat_pool.delete(encodeU32(0));
  }

  /** lb_addrs: address -> LbAddrRole bits. */
  addresses(): Map<string, number> {
    const out = new Map<string, number>();
    this.scan(this.maps.lb_addrs, (keys, keyAt, values, valueAt) => out.set(decodeIpv4Key(keys, keyAt), decodeU32(values, valueAt)));
    return out;
  }

  /** lb_services: every (key, id) entry. */
  services(): { key: LbServiceKey; id: number }[] {
    const out: { key: LbServiceKey; id: number }[] = [];
    this.scan(this.maps.lb_services, (keys, keyAt, values, valueAt) =>
      out.push({ key: lbServiceKey.decode(keys, keyAt), id: lbService.read.id(values, valueAt) }),
    );
    return out;
  }

  serviceIdOf(key: LbServiceKey): number | undefined {
    const value = this.maps.lb_services.lookup(lbServiceKey.encode(key));
    return value && lbService.decode(value).id;
  }

  /* ---- the agent's records (never read by the datapath) ---- */

  serviceMetas(): Map<number, LbServiceMeta> {
    return this.decodeAll(this.maps.lb_svc_meta, lbServiceMeta.decode);
  }

  serviceMeta(serviceId: number): LbServiceMeta | undefined {
    const value = this.maps.lb_svc_meta.lookup(encodeU32(serviceId));
    return value && lbServiceMeta.decode(value);
  }

  putServiceMeta(serviceId: number, meta: LbServiceMeta): void {
    this.maps.lb_svc_meta.update(encodeU32(serviceId), lbServiceMeta.encode(meta));
  }

  deleteServiceMeta(serviceId: number): boolean {
    return this.maps.lb_svc_meta.delete(encodeU32(serviceId));
  }

  backendMetas(): Map<number, LbBackendMeta> {
    return this.decodeAll(this.maps.lb_be_meta, lbBackendMeta.decode);
  }

  /**
   * Every lb_be_meta record as one packed chunk (keys: __u32 backend ids;
   * values: lb_backend_meta at i * lbBackendMeta.size), in the hash's
   * order: for a scan of all records that reads fields in place
   * (lbBackendMeta.read) rather than decoding each into an object.
   */
  backendMetaRecords(): PackedChunk {
    return joinChunks([...this.maps.lb_be_meta.lookupBatchPacked({ chunk: BATCH_CHUNK })], this.maps.lb_be_meta);
  }

  backendMeta(backendId: number): LbBackendMeta | undefined {
    const value = this.maps.lb_be_meta.lookup(encodeU32(backendId));
    return value && lbBackendMeta.decode(value);
  }

  /** Many records in one syscall. */
  putBackendMetas(entries: readonly { id: number; meta: LbBackendMeta }[]): void {
    this.maps.lb_be_meta.updateBatch(
      entries.map((e) => encodeU32(e.id)),
      entries.map((e) => lbBackendMeta.encode(e.meta)),
    );
  }

  deleteBackendMeta(backendId: number): boolean {
    return this.maps.lb_be_meta.delete(encodeU32(backendId));
  }

  /** Addresses the agent added to an interface -> ifindex. */
  announced(): Map<string, number> {
    const out = new Map<string, number>();
    this.scan(this.maps.lb_announced, (keys, keyAt, values, valueAt) =>
      out.set(decodeIpv4Key(keys, keyAt), lbAnnounced.read.ifindex(values, valueAt)),
    );
    return out;
  }

  putAnnounced(ip: string, ifindex: number): void {
    this.maps.lb_announced.update(encodeIpv4Key(ip), lbAnnounced.encode({ ifindex }));
  }

  deleteAnnounced(ip: string): boolean {
    return this.maps.lb_announced.delete(encodeIpv4Key(ip));
  }

  /** The restart-only settings; undefined before the first start (ifindex 0). */
  agentRecord(): LbAgentRecord | undefined {
    const value = this.maps.lb_agent.lookup(encodeU32(0));
    const record = value && lbAgentRecord.decode(value);
    return record && record.ifindex !== 0 ? record : undefined;
  }

  putAgentRecord(record: LbAgentRecord): void {
    this.maps.lb_agent.update(encodeU32(0), lbAgentRecord.encode(record));
  }

  /** What the agent's loops last recorded per backend id (lb_be_runtime). */
  backendRuntimes(): Map<number, LbBackendRuntime> {
    return this.has('lb_be_runtime') ? this.decodeAll(this.maps.lb_be_runtime, lbBackendRuntime.decode) : new Map();
  }

  /** Many records in one syscall, encoded into one buffer (every backend's may change at each GC pass). */
  putBackendRuntimes(entries: readonly { id: number; runtime: LbBackendRuntime }[]): void {
    const values = Buffer.alloc(entries.length * lbBackendRuntime.size);
    entries.forEach((e, i) => lbBackendRuntime.encodeInto(e.runtime, values, i * lbBackendRuntime.size));
    this.map('lb_be_runtime').updatePacked(Buffer.from(Uint32Array.from(entries, (e) => e.id).buffer), values);
  }

  /** Records of backends that are gone; returns how many were there. */
  deleteBackendRuntimes(ids: readonly number[]): number {
    return ids.length === 0 ? 0 : this.map('lb_be_runtime').deleteBatch(ids.map(encodeU32));
  }

  /** The running (or last) agent's record; undefined before an agent of this build wrote one. */
  agentRun(): LbAgentRun | undefined {
    const value = this.has('lb_agent_run') ? this.maps.lb_agent_run.lookup(encodeU32(0)) : undefined;
    return value && lbAgentRun.decode(value);
  }

  putAgentRun(run: LbAgentRun): void {
    this.map('lb_agent_run').update(encodeU32(0), lbAgentRun.encode(run));
  }

  /** A map keyed by __u32, decoded at offsets. */
  private decodeAll<T>(map: BpfMap, decode: (buf: Uint8Array, offset: number) => T): Map<number, T> {
    const out = new Map<number, T>();
    this.scan(map, (keys, keyAt, values, valueAt) => out.set(decodeU32(keys, keyAt), decode(values, valueAt)));
    return out;
  }

  /** Every entry of a whole-map batch read, at its offsets in the packed chunks: no Buffer per entry. */
  private scan(map: BpfMap, visit: (keys: Buffer, keyAt: number, values: Buffer, valueAt: number) => void): void {
    for (const { keys, values, count } of map.lookupBatchPacked({ chunk: BATCH_CHUNK })) {
      for (let i = 0; i < count; i++) visit(keys, i * map.keySize, values, i * map.valueBufferSize);
    }
  }

  /* ---- runtime-owned ---- */

  /** Every lb_neigh entry: backend address -> MAC (lower case). */
  neighbors(): Map<string, string> {
    const out = new Map<string, string>();
    this.scan(this.maps.lb_neigh, (keys, keyAt, values, valueAt) => out.set(decodeIpv4Key(keys, keyAt), lbNeigh.read.mac(values, valueAt)));
    return out;
  }

  putNeighbor(ip: string, mac: string): void {
    this.maps.lb_neigh.update(encodeIpv4Key(ip), lbNeigh.encode({ mac }));
  }

  deleteNeighbor(ip: string): boolean {
    return this.maps.lb_neigh.delete(encodeIpv4Key(ip));
  }

  /** The flow a client's tuple maps to. */
  conn(key: LbFlowKey): LbConn | undefined {
    const value = this.maps.lb_ct.lookup(lbFlowKey.encode(key));
    return value && lbConn.decode(value);
  }

  *conns(): Generator<{ key: LbFlowKey; conn: LbConn }> {
    for (const chunk of this.maps.lb_ct.lookupBatch()) {
      for (let i = 0; i < chunk.keys.length; i++) {
        yield { key: lbFlowKey.decode(chunk.keys[i]!), conn: lbConn.decode(chunk.values[i]!) };
      }
    }
  }

  /** Every SNAT tuple in use (keyed as replies carry it) with its owning flow's key. */
  *snatTuples(): Generator<{ reply: LbFlowKey; owner: LbFlowKey }> {
    for (const chunk of this.maps.lb_snat.lookupBatch()) {
      for (let i = 0; i < chunk.keys.length; i++) {
        yield { reply: lbFlowKey.decode(chunk.keys[i]!), owner: lbFlowKey.decode(chunk.values[i]!) };
      }
    }
  }

  /** Global counters summed over CPUs, by name (COUNTER_NAMES): one batch read of lb_counters. */
  counters(): DatapathCounters {
    const cpus = numPossibleCpus();
    const map = this.maps.lb_counters;
    const out: DatapathCounters = Object.fromEntries(COUNTER_NAMES.map((name) => [name, 0n]));
    this.scan(map, (keys, keyAt, values, valueAt) => {
      const name = COUNTER_NAMES[decodeU32(keys, keyAt)];
      if (name !== undefined) out[name] = decodePerCpuU64Sum(values.subarray(valueAt, valueAt + map.valueBufferSize), cpus);
    });
    return out;
  }

  /**
   * Traffic of services 0..maxId summed over CPUs (entry i is service i),
   * from batch reads of lb_svc_stats: for a view of every service at once.
   */
  serviceTrafficUpTo(maxId: number): LbTraffic[] {
    return this.trafficUpTo(this.maps.lb_svc_stats, maxId);
  }

  /** Traffic of backends 0..maxId summed over CPUs (entry i is backend i), from batch reads of lb_be_stats. */
  backendTrafficUpTo(maxId: number): LbTraffic[] {
    return this.trafficUpTo(this.maps.lb_be_stats, maxId);
  }

  private trafficUpTo(map: BpfMap, maxId: number): LbTraffic[] {
    const { values, count } = this.arrayUpTo(map, maxId);
    const cpus = numPossibleCpus();
    const out = new Array<LbTraffic>(count);
    for (let i = 0; i < count; i++) out[i] = sumPerCpuTraffic(values, i * map.valueBufferSize, cpus);
    return out;
  }

  serviceTraffic(serviceId: number): LbTraffic {
    return this.traffic(this.maps.lb_svc_stats, serviceId);
  }

  backendTraffic(backendId: number): LbTraffic {
    return this.traffic(this.maps.lb_be_stats, backendId);
  }

  private traffic(map: BpfMap, id: number): LbTraffic {
    const value = map.lookup(encodeU32(id));
    if (value === undefined) throw new RangeError(`${map.name}: id ${id} is out of range`);
    return decodePerCpuTrafficSum(value, numPossibleCpus());
  }
}
