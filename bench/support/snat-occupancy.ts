/*
 * How full the SNAT pool is, as the datapath's allocator sees it
 * (bpf/lb_snat.h): a tuple in lb_snat is unavailable to a new flow unless
 * its flow is closed (FIN both ways, or RST) and idle for reuse_after, in
 * which case a new flow takes it over. Closed tuples stay in lb_snat until
 * the GC frees them (tcp_closing + up to gc_interval), so the entry count
 * overstates what a new flow meets; the unavailable count is what decides
 * whether 32 spread attempts find a tuple.
 */
import { LbConnState, type LbConn, type LbFlowKey } from '../../src/datapath/codecs.js';
import type { DatapathMaps } from '../../src/datapath/datapath-maps.js';

export interface BackendOccupancy {
  /** lb_snat entries with this backend. */
  held: number;
  /** Of those, the ones a new flow could not take over now. */
  unavailable: number;
}

const keyText = (k: LbFlowKey): string => `${k.proto}/${k.srcIp}:${k.srcPort}>${k.dstIp}:${k.dstPort}`;

function closed(state: number): boolean {
  const fins = LbConnState.FIN_CLIENT | LbConnState.FIN_BACKEND;
  return (state & LbConnState.RST) !== 0 || (state & fins) === fins;
}

/** Per backend address (the reply key's source): pure, over a snapshot of both maps. */
export function snatOccupancy(
  tuples: Iterable<{ reply: LbFlowKey; owner: LbFlowKey }>,
  conns: Iterable<{ key: LbFlowKey; conn: LbConn }>,
  nowNs: bigint,
  reuseAfterNs: bigint,
): Record<string, BackendOccupancy> {
  const byKey = new Map<string, LbConn>();
  for (const { key, conn } of conns) byKey.set(keyText(key), conn);
  const out: Record<string, BackendOccupancy> = {};
  for (const { reply, owner } of tuples) {
    const o = (out[reply.srcIp] ??= { held: 0, unavailable: 0 });
    o.held++;
    const conn = byKey.get(keyText(owner));
    /* An orphan tuple (its flow gone) is unavailable too: only the GC frees it. */
    const takeable = conn !== undefined && closed(conn.state) && nowNs - conn.lastSeenNs >= reuseAfterNs;
    if (!takeable) o.unavailable++;
  }
  return out;
}

/** Reads lb_snat, then lb_ct, then the clock (CLOCK_MONOTONIC, as the datapath's stamps). */
export function readSnatOccupancy(maps: DatapathMaps, reuseAfterNs: bigint): Record<string, BackendOccupancy> {
  const tuples = [...maps.snatTuples()];
  const conns = [...maps.conns()];
  return snatOccupancy(tuples, conns, process.hrtime.bigint(), reuseAfterNs);
}
