/*
 * Typed access to the datapath's maps (bpf/lb_maps.h): the one place that
 * knows each map's name, key and value codec. Plan/apply, the loops, the
 * status view and the tests all go through it.
 */
import { BpfMap, BPF_MAP_TYPE_ARRAY } from '../kernel/bpf-map.js';
import type { BpfObject } from '../kernel/bpf-object.js';
import {
  COUNTER_NAMES,
  LB_CNT_MAX,
  decodePerCpuTrafficSum,
  decodePerCpuU64Sum,
  decodeU32,
  encodeIpv4Key,
  encodeU32,
  lbBackend,
  lbConn,
  lbFlowKey,
  lbNeigh,
  lbService,
  lbServiceKey,
  lbSnatPool,
  type LbBackend,
  type LbConn,
  type LbFlowKey,
  type LbServiceKey,
  type LbSnatPool,
  type LbTraffic,
} from './codecs.js';
import { numPossibleCpus } from '../kernel/libbpf.js';

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
] as const;
export type DatapathMapName = (typeof DATAPATH_MAP_NAMES)[number];

export type DatapathCounters = Record<string, bigint>;

export class DatapathMaps {
  private constructor(private readonly maps: Readonly<Record<DatapathMapName, BpfMap>>) {}

  static fromObject(obj: BpfObject): DatapathMaps {
    const maps = {} as Record<DatapathMapName, BpfMap>;
    for (const name of DATAPATH_MAP_NAMES) maps[name] = obj.map(name);
    return new DatapathMaps(maps);
  }

  map(name: DatapathMapName): BpfMap {
    return this.maps[name];
  }

  /* ---- config-owned ---- */

  /** @param roles LbAddrRole bits */
  putAddress(ip: string, roles: number): void {
    this.maps.lb_addrs.update(encodeIpv4Key(ip), encodeU32(roles));
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
   * Publish a complete scheduler table (header slot included, as built by
   * src/sched): a new inner map is filled first and then swapped into the
   * service's slot in one update, so packets see the old table or the new
   * one, never a mix.
   */
  putSchedulerTable(serviceId: number, table: Uint32Array): void {
    const inner = BpfMap.create({
      type: BPF_MAP_TYPE_ARRAY,
      name: 'lb_sched_tbl',
      keySize: 4,
      valueSize: 4,
      maxEntries: table.length,
      mapFlags: BPF_F_INNER_MAP,
    });
    try {
      const keys = Array.from(table, (_, slot) => encodeU32(slot));
      const values = Array.from(table, (id) => encodeU32(id));
      inner.updateBatch(keys, values);
      this.maps.lb_sched.update(encodeU32(serviceId), encodeU32(inner.fd));
    } finally {
      // The outer map holds its own reference to the inner map.
      inner.close();
    }
  }

  /** The published table of a service (header slot included), if any. */
  schedulerTable(serviceId: number): Uint32Array | undefined {
    const innerId = this.maps.lb_sched.lookup(encodeU32(serviceId));
    if (innerId === undefined) return undefined;
    const inner = BpfMap.fromId(decodeU32(innerId));
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

  putBackend(id: number, backend: LbBackend): void {
    this.maps.lb_backends.update(encodeU32(id), lbBackend.encode(backend));
  }

  putSnatPool(pool: LbSnatPool): void {
    this.maps.lb_snat_pool.update(encodeU32(0), lbSnatPool.encode(pool));
  }

  /* ---- runtime-owned ---- */

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

  /** Global counters summed over CPUs, by name (COUNTER_NAMES). */
  counters(): DatapathCounters {
    const cpus = numPossibleCpus();
    const out: DatapathCounters = {};
    for (let i = 0; i < LB_CNT_MAX; i++) {
      const value = this.maps.lb_counters.lookup(encodeU32(i));
      out[COUNTER_NAMES[i]!] = value ? decodePerCpuU64Sum(value, cpus) : 0n;
    }
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
