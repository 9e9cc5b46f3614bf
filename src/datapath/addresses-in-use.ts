/*
 * Which of some addresses live flows still use: as a VIP or as their SNAT
 * address (the planner keeps such an address recognised after the config
 * drops it, so those flows can finish), or as their backend (the neighbour
 * loop keeps such a backend's MAC in lb_neigh, which the datapath reads for
 * every packet of its flows). A conntrack scan, so it reads raw batch
 * buffers (no per-entry decoding) and yields to the event loop between
 * chunks: a full table must not stall reloads or health checks.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { LbConnState, ipv4ToUint32, lbConn, lbFlowKey } from './codecs.js';
import type { DatapathMaps } from './datapath-maps.js';

const CHUNK = 8192;

/** The addresses of one lb_ct entry (flow key, lb_conn) that count as in use. */
type AddressesOfFlow = (key: Buffer, conn: Buffer) => number[];

async function usedBy(maps: DatapathMaps, candidates: readonly string[], addressesOf: AddressesOfFlow): Promise<Set<string>> {
  const found = new Set<string>();
  if (candidates.length === 0) return found;
  const wanted = new Map(candidates.map((a) => [ipv4ToUint32(a), a]));
  for (const chunk of maps.map('lb_ct').lookupBatch({ chunk: CHUNK })) {
    chunk.keys.forEach((key, i) => {
      const conn = chunk.values[i]!;
      if (conn.readUInt32LE(lbConn.fields.state!) & LbConnState.RELEASED) return;
      for (const ip of addressesOf(key, conn)) {
        const address = wanted.get(ip);
        if (address !== undefined) found.add(address);
      }
    });
    if (found.size === wanted.size) break;
    await yieldToEventLoop();
  }
  return found;
}

/** The candidates that live flows use as their VIP or their SNAT address. */
export function addressesInUse(maps: DatapathMaps, candidates: readonly string[]): Promise<Set<string>> {
  return usedBy(maps, candidates, (key, conn) => [key.readUInt32BE(lbFlowKey.fields.dst_ip!), conn.readUInt32BE(lbConn.fields.snat_ip!)]);
}

/** The candidates that live flows are forwarded to (their backend address). */
export function backendsInUse(maps: DatapathMaps, candidates: readonly string[]): Promise<Set<string>> {
  return usedBy(maps, candidates, (_key, conn) => [conn.readUInt32BE(lbConn.fields.backend_ip!)]);
}
