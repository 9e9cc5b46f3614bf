/* Real timers that remember which are still pending: tests assert none survives stop()/close(). */
import { realTimers, type Timers } from '../../src/agent/timers.js';

export function countingTimers(): Timers & { readonly live: Set<unknown> } {
  const live = new Set<unknown>();
  return {
    live,
    setTimeout(callback, ms) {
      const handle: unknown = realTimers.setTimeout(() => {
        live.delete(handle);
        callback();
      }, ms);
      live.add(handle);
      return handle;
    },
    clearTimeout(handle) {
      live.delete(handle);
      realTimers.clearTimeout(handle);
    },
  };
}
