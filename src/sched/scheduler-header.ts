/**
 * Slot 0 of every scheduler table: `(scheduler << 24) | length`, where
 * length is the number of backend slots that follow (lb_consts.h).
 */
import { LB_SCHED_HDR_LEN_MASK, LB_SCHED_HDR_SCHED_SHIFT, SCHEDULER_IDS, SCHEDULER_NAMES, type SchedulerName } from '../datapath/codecs.js';
import { SchedError } from './scheduler-backend.js';

export interface SchedulerHeader {
  scheduler: SchedulerName;
  /** Number of backend slots after the header. */
  length: number;
}

export function encodeSchedulerHeader(scheduler: SchedulerName, length: number): number {
  const id = SCHEDULER_IDS[scheduler];
  if (id === undefined) throw new SchedError('ERR_SCHED_HEADER', `unknown scheduler ${JSON.stringify(scheduler)}`);
  if (!Number.isInteger(length) || length < 0 || length > LB_SCHED_HDR_LEN_MASK) {
    throw new SchedError('ERR_SCHED_HEADER', `table length must be 0..${LB_SCHED_HDR_LEN_MASK}, got ${length}`);
  }
  return ((id << LB_SCHED_HDR_SCHED_SHIFT) | length) >>> 0;
}

export function decodeSchedulerHeader(header: number): SchedulerHeader {
  if (!Number.isInteger(header) || header < 0 || header > 0xffffffff) {
    throw new SchedError('ERR_SCHED_HEADER', `header must be a __u32, got ${header}`);
  }
  const id = header >>> LB_SCHED_HDR_SCHED_SHIFT;
  const scheduler = SCHEDULER_NAMES.find((n) => SCHEDULER_IDS[n] === id);
  if (scheduler === undefined) throw new SchedError('ERR_SCHED_HEADER', `unknown scheduler id ${id} in header 0x${header.toString(16)}`);
  return { scheduler, length: header & LB_SCHED_HDR_LEN_MASK };
}
