/**
 * Scheduler tables: the list of backend ids the XDP program picks from.
 * The datapath stores one per service in an inner array map:
 *     slot 0      header: (scheduler << 24) | length
 *     slot 1..    `length` backend ids
 * Pure functions of the service's scheduler and eligible backends.
 */
import { LB_MAGLEV_TABLE_SIZE, type SchedulerName } from '../datapath/codecs.js';
import { buildMaglevTable } from './build-maglev-table.js';
import { buildRoundRobinTable } from './build-round-robin-table.js';
import { buildSourceHashTable } from './build-source-hash-table.js';
import { buildWeightedRoundRobinTable } from './build-weighted-round-robin-table.js';
import { encodeSchedulerHeader } from './scheduler-header.js';
import { SchedError, type SchedBackend } from './scheduler-backend.js';

export { compareKeys, canonicalBackends, SchedError } from './scheduler-backend.js';
export type { SchedBackend, SchedErrorCode } from './scheduler-backend.js';
export { encodeSchedulerHeader, decodeSchedulerHeader } from './scheduler-header.js';
export type { SchedulerHeader } from './scheduler-header.js';
export { buildRoundRobinTable } from './build-round-robin-table.js';
export { buildWeightedRoundRobinTable, weightedSlotCounts, smoothInterleave } from './build-weighted-round-robin-table.js';
export { apportionSlots } from './apportion-slots.js';
export { buildMaglevTable, maglevPermutation } from './build-maglev-table.js';
export { buildSourceHashTable } from './build-source-hash-table.js';
export { hashKey64, MAGLEV_SEED_OFFSET, MAGLEV_SEED_SKIP } from './hash-key.js';
export type { SchedulerName } from '../datapath/codecs.js';

/** Most backend slots any table has (the inner map holds 1 + this many __u32). */
export const SCHED_TABLE_MAX_SLOTS = LB_MAGLEV_TABLE_SIZE;

/**
 * The complete table for one service, header included:
 * `[encodeSchedulerHeader(scheduler, n), id_1, ..., id_n]`. Backends with
 * weight 0 are left out; with none left the table is just a header with
 * length 0 (the datapath drops new flows and counts it).
 */
export function buildSchedulerTable(scheduler: SchedulerName, backends: readonly SchedBackend[]): Uint32Array {
  let slots: Uint32Array;
  switch (scheduler) {
    case 'round_robin':
      slots = buildRoundRobinTable(backends);
      break;
    case 'weighted_round_robin':
      slots = buildWeightedRoundRobinTable(backends, SCHED_TABLE_MAX_SLOTS);
      break;
    case 'maglev':
      slots = buildMaglevTable(backends, LB_MAGLEV_TABLE_SIZE);
      break;
    case 'source_hash':
      slots = buildSourceHashTable(backends, LB_MAGLEV_TABLE_SIZE);
      break;
    default:
      throw new SchedError('ERR_SCHED_HEADER', `unknown scheduler ${JSON.stringify(scheduler as string)}`);
  }
  if (slots.length > SCHED_TABLE_MAX_SLOTS) {
    throw new SchedError('ERR_SCHED_TOO_MANY', `${scheduler} table needs ${slots.length} slots, at most ${SCHED_TABLE_MAX_SLOTS}`);
  }
  const table = new Uint32Array(1 + slots.length);
  table[0] = encodeSchedulerHeader(scheduler, slots.length);
  table.set(slots, 1);
  return table;
}
