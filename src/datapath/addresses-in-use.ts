/*
 * Which of some addresses live flows still use, as a VIP or as their SNAT
 * address: the planner keeps such an address recognised after the config
 * drops it, so those flows can finish. A conntrack scan, so it reads raw
 * batch buffers (no per-entry decoding) and yields to the event loop
 * between chunks: a full table must not stall reloads or health checks.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { LbConnState, ipv4ToUint32, lbConn, lbFlowKey } from './codecs.js';
import type { DatapathMaps } from './datapath-maps.js';

const CHUNK = 8192;

export async function addressesInUse(maps: DatapathMaps, candidates: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  if (candidates.length === 0) return found;
  const wanted = new Map(candidates.map((a) => [ipv4ToUint32(a), a]));
  for (const chunk of maps.map('lb_ct').lookupBatch({ chunk: CHUNK })) {
    chunk.keys.forEach((key, i) => {
      const conn = chunk.values[i]!;
      if (conn.readUInt32LE(lbConn.fields.state!) & LbConnState.RELEASED) return;
      for (const ip of [key.readUInt32BE(lbFlowKey.fields.dst_ip!), conn.readUInt32BE(lbConn.fields.snat_ip!)]) {
        const address = wanted.get(ip);
        if (address !== undefined) found.add(address);
      }
    });
    if (found.size === wanted.size) break;
    await yieldToEventLoop();
  }
  return found;
}
