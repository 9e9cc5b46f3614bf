/*
 * Everything config-owned in the pinned maps (and the agent's records) as
 * comparable plain data: the "map dumps before and after" of the agent
 * tests. Scheduler tables are dumped by content; their map ids show in the
 * service records, so a republished table shows as a changed record.
 */
import { LbAddrRole } from '../../src/datapath/codecs.js';
import type { DatapathMaps } from '../../src/datapath/datapath-maps.js';

export type MapDump = Record<string, Record<string, unknown>>;

export function dumpConfigMaps(maps: DatapathMaps): MapDump {
  const dump: MapDump = {
    lb_addrs: {},
    lb_services: {},
    lb_svc_meta: {},
    lb_sched: {},
    lb_backends: {},
    lb_be_meta: {},
    lb_snat_pool: {},
    lb_announced: {},
    lb_agent: {},
  };
  for (const [ip, roles] of maps.addresses()) dump.lb_addrs![ip] = roles & (LbAddrRole.VIP | LbAddrRole.SNAT);
  for (const { key, id } of maps.services()) dump.lb_services![`${key.vip}:${key.port}/${key.proto}`] = id;
  for (const [num, meta] of maps.serviceMetas()) {
    dump.lb_svc_meta![num] = { ...meta, tableDigest: meta.tableDigest.toString(16) };
    dump.lb_sched![num] = Array.from(maps.schedulerTable(num) ?? []);
  }
  for (const [num, meta] of maps.backendMetas()) {
    dump.lb_be_meta![num] = meta;
    dump.lb_backends![num] = maps.backend(num);
  }
  const pool = maps.snatPool();
  if (pool) dump.lb_snat_pool![0] = { ...pool, reuseAfterNs: pool.reuseAfterNs.toString() };
  for (const [ip, ifindex] of maps.announced()) dump.lb_announced![ip] = ifindex;
  const record = maps.agentRecord();
  if (record) dump.lb_agent![0] = record;
  return dump;
}

/** "map[key]" for every entry added, removed or changed between two dumps. */
export function changedEntries(before: MapDump, after: MapDump): string[] {
  const out: string[] = [];
  for (const map of Object.keys({ ...before, ...after })) {
    const a = before[map] ?? {};
    const b = after[map] ?? {};
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) out.push(`${map}[${key}]`);
    }
  }
  return out.sort();
}
