/*
 * The life of one probe, shared by the TCP and HTTP probes: a deadline that
 * covers the whole attempt, an abort (the checker's stop()), exactly one
 * result, and the socket destroyed whatever ends it. A probe that leaked a
 * socket or a timer would, at 1,000 backends every interval, exhaust the host.
 *
 * The deadline runs on the checker's Timers and the duration on its clock
 * (DESIGN.md §1: loops take both as parameters), so a probe's timer is one a
 * test can count, and stop() waiting for in-flight probes leaves none behind.
 */
import type { LoopContext } from './loop-context.js';

/** Where a probe goes and how long it may take. */
export interface ProbeEndpoint {
  readonly address: string;
  readonly port: number;
  readonly timeoutMs: number;
}

export interface ProbeResult {
  readonly ok: boolean;
  /** How long the attempt took, in milliseconds. */
  readonly ms: number;
  /** Why it failed, for the log. */
  readonly error?: string;
}

export type ProbeEnv = Pick<LoopContext, 'timers' | 'clock'> & {
  /** Aborted: the attempt ends at once as failed ('aborted'). */
  readonly signal: AbortSignal;
};

/** Ends the attempt; only the first call counts. */
export type Settle = (ok: boolean, error?: string) => void;

/**
 * Runs `open` (which starts the I/O and reports through settle) under the
 * endpoint's deadline and the env's abort signal; whatever settles first
 * wins, and then the deadline is cleared and the returned handle destroyed.
 */
export function attemptProbe(endpoint: ProbeEndpoint, env: ProbeEnv, open: (settle: Settle) => { destroy(): void }): Promise<ProbeResult> {
  const { timers, clock, signal } = env;
  const started = clock();
  if (signal.aborted) return Promise.resolve({ ok: false, ms: 0, error: 'aborted' });
  return new Promise((resolve) => {
    let handle: { destroy(): void } | undefined;
    let settled = false;
    const onAbort = (): void => settle(false, 'aborted');
    const settle: Settle = (ok, error) => {
      if (settled) return;
      settled = true;
      timers.clearTimeout(deadline);
      signal.removeEventListener('abort', onAbort);
      handle?.destroy();
      const ms = Number(clock() - started) / 1e6;
      resolve(error === undefined ? { ok, ms } : { ok, ms, error });
    };
    const deadline = timers.setTimeout(() => settle(false, `timed out after ${endpoint.timeoutMs} ms`), endpoint.timeoutMs);
    signal.addEventListener('abort', onAbort);
    handle = open(settle);
    // Settled while opening: the handle did not exist yet when settle ran.
    if (settled) handle.destroy();
  });
}
