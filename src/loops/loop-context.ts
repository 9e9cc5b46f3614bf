/*
 * What every background loop takes as parameters (DESIGN.md §1): its
 * scheduler and its clock, so a test can run it on a fake clock and assert
 * that no timer survives stop(), and a logger. Loops never call the global
 * setTimeout or read the clock themselves.
 */
import type { Logger } from '../agent/logger.js';
import type { Timers } from '../agent/timers.js';

/** CLOCK_MONOTONIC in nanoseconds: the time base of the datapath's conntrack stamps (PLATFORM.md). */
export type MonotonicClock = () => bigint;

export const monotonicClock: MonotonicClock = () => process.hrtime.bigint();

export interface LoopContext {
  readonly timers: Timers;
  readonly clock: MonotonicClock;
  readonly log: Logger;
}

/** A background loop: start() schedules its work, stop() cancels it and waits for a pass in progress. */
export interface BackgroundLoop {
  start(): void;
  stop(): Promise<void>;
}
