/**
 * source_hash: the same consistent Maglev table as `maglev`. The datapath is
 * what differs: it indexes the table with a hash of the client address only
 * (not the full 5-tuple), so one client sticks to one backend across
 * connections, and a backend change moves only ~1/N of the clients.
 */
import { LB_MAGLEV_TABLE_SIZE } from '../datapath/codecs.js';
import { buildMaglevTable } from './build-maglev-table.js';
import type { SchedBackend } from './scheduler-backend.js';

/** Backend slots, without the header. */
export function buildSourceHashTable(backends: readonly SchedBackend[], size: number = LB_MAGLEV_TABLE_SIZE): Uint32Array {
  return buildMaglevTable(backends, size);
}
