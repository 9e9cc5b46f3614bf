/*
 * The health of one backend as a pure state machine: keepalived's rise/fall
 * counting, with one addition. A backend starts 'unknown' and takes no new
 * flows until its first success: a backend added with a health check is never
 * sent flows before anything answered, nor held back for `rise` probes when
 * it answers at once. From unknown, `fall` consecutive failures make it
 * unhealthy; after that `rise` consecutive successes bring it back.
 *
 * Pure data in, data out: the checker owns time, sockets and reporting, and
 * compares takesNewFlows before and after a result to see an eligibility
 * change.
 */

export type HealthStatus = 'unknown' | 'healthy' | 'unhealthy';

export interface HealthRecord {
  readonly status: HealthStatus;
  /**
   * Consecutive results that argue for leaving `status`: failures while
   * unknown or healthy, successes while unhealthy. A result that agrees with
   * the status resets it, so it never grows past rise or fall.
   */
  readonly streak: number;
}

export interface RiseFall {
  readonly rise: number;
  readonly fall: number;
}

export const NEW_BACKEND: HealthRecord = { status: 'unknown', streak: 0 };

const HEALTHY: HealthRecord = { status: 'healthy', streak: 0 };
const UNHEALTHY: HealthRecord = { status: 'unhealthy', streak: 0 };

/** The record after one more probe result. rise and fall are read per call, so a reload that changes them applies to the next result. */
export function recordResult(record: HealthRecord, ok: boolean, { rise, fall }: RiseFall): HealthRecord {
  if (record.status === 'unhealthy') return ok ? advance(record, rise, HEALTHY) : UNHEALTHY;
  // One success is enough from unknown as from healthy: both end healthy with no streak.
  return ok ? HEALTHY : advance(record, fall, UNHEALTHY);
}

function advance(record: HealthRecord, threshold: number, to: HealthRecord): HealthRecord {
  const streak = record.streak + 1;
  return streak >= threshold ? to : { status: record.status, streak };
}

/** DESIGN.md §4: of the health states, only healthy lets a backend take new flows (existing flows are the datapath's). */
export function takesNewFlows(status: HealthStatus): boolean {
  return status === 'healthy';
}
