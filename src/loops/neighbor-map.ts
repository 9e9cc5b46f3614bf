/*
 * The neighbour loop's view of the datapath: lb_neigh (backend address ->
 * MAC), the runtime-owned map only this loop writes (DESIGN.md §1). Read
 * whole every refresh so the loop acts on what the kernel holds (a restarted
 * agent adopts the pinned entries; one changed behind its back is repaired),
 * not on what it remembers writing. The narrow type lets unit tests pass a
 * plain object instead of loaded maps.
 */
import { decodeIpv4Key, lbNeigh } from '../datapath/codecs.js';
import type { DatapathMaps } from '../datapath/datapath-maps.js';
import type { BpfMap } from '../kernel/bpf-map.js';

export type NeighborMaps = Pick<DatapathMaps, 'putNeighbor' | 'deleteNeighbor'> & {
  map(name: 'lb_neigh'): Pick<BpfMap, 'lookupBatch'>;
};

/** Every lb_neigh entry: address -> MAC (lower case). */
export function readNeighborMap(maps: NeighborMaps): Map<string, string> {
  const out = new Map<string, string>();
  for (const chunk of maps.map('lb_neigh').lookupBatch()) {
    chunk.keys.forEach((key, i) => out.set(decodeIpv4Key(key), lbNeigh.decode(chunk.values[i]!).mac));
  }
  return out;
}
