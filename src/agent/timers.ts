/*
 * The scheduler every agent loop takes as a parameter (DESIGN.md §1). Loops
 * never call the global setTimeout themselves, so a test can pass a wrapper
 * that counts live timers (and assert none survives stop()/close()) or a
 * fake clock that runs them on demand.
 */

export interface Timers {
  /** Schedules `callback` once after `ms`; the handle is opaque to the caller. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer from this scheduler; a handle that already fired is ignored. */
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  // Only handles made by the setTimeout above reach here; Node ignores anything else.
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
