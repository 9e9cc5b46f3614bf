/*
 * The neighbour loop's view of the datapath: lb_neigh (backend address ->
 * MAC), the runtime-owned map only this loop writes (DESIGN.md §1). Read
 * whole every refresh so the loop acts on what the kernel holds (a restarted
 * agent adopts the pinned entries; one changed behind its back is repaired),
 * not on what it remembers writing (DatapathMaps.neighbors, one batch read
 * with no object per entry). The narrow type lets unit tests pass a
 * plain object instead of loaded maps.
 */
import type { DatapathMaps } from '../datapath/datapath-maps.js';

export type NeighborMaps = Pick<DatapathMaps, 'putNeighbor' | 'deleteNeighbor' | 'neighbors'>;
