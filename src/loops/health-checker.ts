/*
 * The health-check loop (DESIGN.md §1 background loops, §2 health_check, §4
 * "only backends that are active, healthy, weight > 0 ... take new flows").
 * It owns, per (service, backend) target, the health record, the timer of
 * the next probe and the place in the probe queue, and tells the agent
 * through onChange whose eligibility for new flows changed, so the agent
 * re-plans. It writes no map itself, and existing flows are never its
 * business.
 *
 * Why it works the way it does:
 * - update() carries state across a reload, keepalived-style: a target that
 *   stays keeps its record (a reload never resets a backend to unknown) and
 *   its schedule (only a changed interval reschedules it). A new target is
 *   probed at once: it takes no flows until its first success.
 * - Probes are fixed-rate from their start, so a slow or timed-out probe does
 *   not push the next one back: a backend that dies fails its fall-th probe
 *   within fall × interval (plus that probe's own time). Each delay is
 *   shortened by a random fraction of up to PROBE_JITTER: targets started
 *   together (1,000 backends at start-up) drift apart instead of probing in
 *   lockstep, and no probe is ever later than its interval.
 * - At most maxConcurrent probes are in flight; the others wait in a FIFO
 *   queue, so 1,000 backends never open 1,000 sockets at once.
 * - onChange is batched: results landing in the same turn of the event loop
 *   make one call (one re-plan), and a backend that flips and flips back in
 *   between is not reported.
 */
import { setMaxListeners } from 'node:events';
import type { BackendId, ServiceId } from '../model/desired-state.js';
import { healthKey, type HealthTarget } from './health-targets.js';
import { NEW_BACKEND, recordResult, takesNewFlows, type HealthRecord, type HealthStatus } from './health-tracker.js';
import type { BackgroundLoop, LoopContext } from './loop-context.js';
import type { ProbeResult } from './probe-attempt.js';
import { probeBackend, type Probe } from './probe-backend.js';

/** Largest fraction by which a probe delay is shortened at random. */
export const PROBE_JITTER = 0.1;
export const DEFAULT_MAX_CONCURRENT = 64;

/** 'unchecked': not a target (its service has no health check), so always eligible. */
export type HealthState = HealthStatus | 'unchecked';

export interface HealthChange {
  readonly serviceId: ServiceId;
  readonly backendId: BackendId;
  /** Whether the backend now takes new flows. */
  readonly healthy: boolean;
  readonly state: HealthStatus;
}

export interface HealthCheckerOptions {
  readonly context: LoopContext;
  /** Eligibility changes made by probe results; those made by update() are visible through isHealthy() at once. */
  readonly onChange: (changes: readonly HealthChange[]) => void;
  /** Any change of a backend's status (unknown to unhealthy included, which changes no eligibility): for the runtime records. */
  readonly onStatusChange?: () => void;
  /** Probes in flight at most. Default DEFAULT_MAX_CONCURRENT. */
  readonly maxConcurrent?: number;
  /** Default: real TCP and HTTP probes (probeBackend). */
  readonly probe?: Probe;
  /** Source of the jitter, in [0, 1). Default Math.random; tests pass a constant. */
  readonly random?: () => number;
}

interface Entry {
  target: HealthTarget;
  record: HealthRecord;
  /** Eligibility as last reported through onChange; false for a new target (unknown takes no flows). */
  reported: boolean;
  /** idle: not scheduled (loop not running); waiting: `timer` is armed. */
  phase: 'idle' | 'waiting' | 'queued' | 'probing';
  timer: unknown;
  /** clock() at the start of the latest probe. */
  startedNs: bigint;
}

export class HealthChecker implements BackgroundLoop {
  private readonly context: LoopContext;
  private readonly onChange: (changes: readonly HealthChange[]) => void;
  private readonly onStatusChange: () => void;
  private readonly maxConcurrent: number;
  private readonly probe: Probe;
  private readonly random: () => number;
  private readonly entries = new Map<string, Entry>();
  /** Entries waiting for a probe slot, oldest first; a Set so a removed target leaves it in O(1). */
  private readonly queue = new Set<Entry>();
  private readonly inFlight = new Set<Promise<void>>();
  /** Entries whose eligibility may differ from what onChange last said. */
  private readonly dirty = new Set<Entry>();
  private flushTimer: { handle: unknown } | undefined;
  private readonly aborter = new AbortController();
  private loop: 'new' | 'running' | 'stopped' = 'new';

  constructor(options: HealthCheckerOptions) {
    const { context, onChange, onStatusChange = () => undefined, maxConcurrent = DEFAULT_MAX_CONCURRENT, probe = probeBackend, random = Math.random } = options;
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new RangeError(`maxConcurrent must be a positive integer, not ${maxConcurrent}`);
    this.context = context;
    this.onChange = onChange;
    this.onStatusChange = onStatusChange;
    this.maxConcurrent = maxConcurrent;
    this.probe = probe;
    this.random = random;
    // Each probe in flight listens for the abort: maxConcurrent listeners is the expected peak, not a leak.
    setMaxListeners(maxConcurrent, this.aborter.signal);
  }

  /** Probes every target known so far at once, and from then on new ones as update() adds them. */
  start(): void {
    if (this.loop === 'stopped') throw new Error('HealthChecker cannot start again after stop(): make a new one');
    if (this.loop === 'running') return;
    this.loop = 'running';
    for (const entry of this.entries.values()) this.enqueue(entry);
    this.pump();
  }

  /** Cancels every timer and queued probe, aborts the probes in flight and resolves once they have ended. */
  async stop(): Promise<void> {
    this.loop = 'stopped';
    for (const entry of this.entries.values()) this.park(entry);
    if (this.flushTimer !== undefined) this.context.timers.clearTimeout(this.flushTimer.handle);
    this.flushTimer = undefined;
    this.dirty.clear();
    this.aborter.abort();
    await Promise.all(this.inFlight);
  }

  /** The targets of the new config (healthTargets of its DesiredState): keeps those that stay, drops the others, probes new ones at once. */
  update(targets: readonly HealthTarget[]): void {
    const wanted = new Set(targets.map((target) => target.key));
    for (const [key, entry] of this.entries) {
      if (wanted.has(key)) continue;
      this.park(entry);
      this.dirty.delete(entry);
      this.entries.delete(key);
    }
    for (const target of targets) {
      const entry = this.entries.get(target.key);
      if (entry === undefined) {
        const created: Entry = { target, record: NEW_BACKEND, reported: false, phase: 'idle', timer: undefined, startedNs: 0n };
        this.entries.set(target.key, created);
        if (this.loop === 'running') this.enqueue(created);
        continue;
      }
      const intervalChanged = entry.target.intervalMs !== target.intervalMs;
      // Queued and probing entries pick the new settings up when they schedule their next probe.
      entry.target = target;
      if (intervalChanged && entry.phase === 'waiting') {
        this.context.timers.clearTimeout(entry.timer);
        this.schedule(entry);
      }
    }
    this.pump();
  }

  state(serviceId: ServiceId, backendId: BackendId): HealthState {
    // Asked for every backend on every reload: no key to make when nothing is checked.
    if (this.entries.size === 0) return 'unchecked';
    return this.entries.get(healthKey(serviceId, backendId))?.record.status ?? 'unchecked';
  }

  /** Whether health lets the backend take new flows: no health check, or healthy. */
  isHealthy(serviceId: ServiceId, backendId: BackendId): boolean {
    const state = this.state(serviceId, backendId);
    return state === 'unchecked' || takesNewFlows(state);
  }

  /** Takes the entry out of the schedule; a probe in flight ends unrecorded (see probeOnce). */
  private park(entry: Entry): void {
    if (entry.phase === 'waiting') this.context.timers.clearTimeout(entry.timer);
    this.queue.delete(entry);
    entry.phase = 'idle';
  }

  private enqueue(entry: Entry): void {
    entry.phase = 'queued';
    this.queue.add(entry);
  }

  /** Arms the next probe one (jittered) interval after the start of the latest. */
  private schedule(entry: Entry): void {
    const intervalMs = entry.target.intervalMs * (1 - PROBE_JITTER * this.random());
    const sinceStartMs = Number(this.context.clock() - entry.startedNs) / 1e6;
    entry.phase = 'waiting';
    entry.timer = this.context.timers.setTimeout(() => {
      this.enqueue(entry);
      this.pump();
    }, Math.max(0, intervalMs - sinceStartMs));
  }

  /** Starts queued probes while there are free slots. */
  private pump(): void {
    while (this.loop === 'running' && this.inFlight.size < this.maxConcurrent) {
      const next = this.queue.values().next();
      if (next.done === true) return;
      this.queue.delete(next.value);
      this.launch(next.value);
    }
  }

  private launch(entry: Entry): void {
    entry.phase = 'probing';
    entry.startedNs = this.context.clock();
    const done: Promise<void> = this.probeOnce(entry).finally(() => {
      this.inFlight.delete(done);
      this.pump();
    });
    this.inFlight.add(done);
  }

  private async probeOnce(entry: Entry): Promise<void> {
    const { timers, clock } = this.context;
    let result: ProbeResult;
    try {
      result = await this.probe(entry.target, { timers, clock, signal: this.aborter.signal });
    } catch (error) {
      // Probes report failures as results; a throw is a bug in one, and still no proof of health.
      result = { ok: false, ms: Number(clock() - entry.startedNs) / 1e6, error: `probe threw: ${String(error)}` };
    }
    // Stopped, or the target removed while its probe ran: the result belongs to nobody.
    if (this.loop !== 'running' || this.entries.get(entry.target.key) !== entry) return;
    this.record(entry, result);
    this.schedule(entry);
  }

  private record(entry: Entry, result: ProbeResult): void {
    const { target } = entry;
    const before = entry.record.status;
    entry.record = recordResult(entry.record, result.ok, target);
    const after = entry.record.status;
    const fields = { service: target.serviceId, backend: target.backendId, ms: result.ms, error: result.error };
    if (after !== before) {
      this.context.log.info({ event: 'health', ...fields, from: before, to: after, healthy: takesNewFlows(after) }, 'backend health changed');
      this.onStatusChange();
    }
    else if (!result.ok) this.context.log.debug(fields, 'health probe failed');
    if (takesNewFlows(after) === entry.reported) return;
    this.dirty.add(entry);
    this.flushTimer ??= { handle: this.context.timers.setTimeout(() => this.flush(), 0) };
  }

  private flush(): void {
    this.flushTimer = undefined;
    const changes: HealthChange[] = [];
    for (const entry of this.dirty) {
      const healthy = takesNewFlows(entry.record.status);
      if (healthy === entry.reported) continue;
      entry.reported = healthy;
      changes.push({ serviceId: entry.target.serviceId, backendId: entry.target.backendId, healthy, state: entry.record.status });
    }
    this.dirty.clear();
    if (changes.length > 0) this.onChange(changes);
  }
}
