/**
 * The digest of a scheduler table's inputs. The table itself (up to 16,381
 * slots) is a pure function of the scheduler and the eligible backends
 * (src/sched), so the agent stores this 64-bit digest beside the table
 * (lb_svc_meta) and compares digests instead of reading every slot back.
 * TABLE_BUILD_VERSION changes whenever src/sched builds a different table
 * from the same inputs, so that an upgraded agent republishes every table.
 */
import { createHash } from 'node:crypto';
import type { SchedulerName } from '../model/desired-state.js';
import type { TableBackend } from './operations.js';

const TABLE_BUILD_VERSION = 1;

/** 16 lowercase hex digits (a __u64 in lb_svc_meta.table_digest). */
export function tableDigest(scheduler: SchedulerName, backends: readonly TableBackend[]): string {
  const hash = createHash('sha256');
  hash.update(`${TABLE_BUILD_VERSION}|${scheduler}`);
  for (const b of backends) hash.update(`|${b.id}=${b.key}*${b.weight}`);
  return hash.digest('hex').slice(0, 16);
}
