/*
 * The agent's runtime records in pinned maps (never read by the datapath),
 * so that `status` and the metrics see what only the agent's memory held —
 * each backend's health, resolution and active connections
 * (lb_be_runtime), the agent's process, last reload and last conntrack GC
 * pass (lb_agent_run) — whether the agent runs or not.
 *
 * Off the hot path and bounded by the config: nothing here runs per
 * packet. Changes (a reload, a health or neighbour change, a GC pass) only
 * mark the records stale; one flush per turn of the event loop then
 * compares the backends' records with what it last wrote and writes only
 * the ones that differ, in one batch. What is compared is what can have
 * changed: every backend after a health or neighbour change or a reload
 * that added or removed backends; after a GC pass (every second) only the
 * backends whose active connections were counted then or the pass before;
 * nothing after a reload that kept every backend (a weight edit). The
 * backend ids are read back from the agent's own records (lb_svc_meta,
 * lb_be_meta) only after a reload that added or removed backends.
 */
import { LbHealth, LbReloadResult, LbResolution, type LbAgentRun, type LbBackendRuntime } from '../datapath/codecs.js';
import type { DatapathMaps } from '../datapath/datapath-maps.js';
import { PROTOCOLS } from '../datapath/read-live-state.js';
import { processStartTicks } from '../host/process-start.js';
import type { GcPassStats } from '../loops/conntrack-gc.js';
import type { HealthState } from '../loops/health-checker.js';
import type { LoopContext } from '../loops/loop-context.js';
import type { NeighborResolution } from '../loops/neighbor-decision.js';
import { backendId, serviceId, type BackendId, type DesiredState, type ServiceId } from '../model/desired-state.js';
import { configDigest } from './config-digest.js';

/** What the loops know, asked per backend at each flush. */
export interface RuntimeView {
  health(service: ServiceId, backend: BackendId): HealthState;
  resolution(address: string): NeighborResolution;
}

/** The maps the records are read from and written to (a narrow type: unit tests pass plain objects). */
export type RecordMaps = Pick<
  DatapathMaps,
  'serviceMetas' | 'backendMetas' | 'backendRuntimes' | 'putBackendRuntimes' | 'deleteBackendRuntimes' | 'putAgentRun'
>;

/** The `result` of a reload log event. */
export type ReloadResult = 'applied' | 'rejected' | 'failed';

interface BackendIdentity {
  readonly service: ServiceId;
  readonly backend: BackendId;
  readonly address: string;
}

export function healthCode(state: HealthState): number {
  return LbHealth[state];
}

export function resolutionCode(resolution: NeighborResolution): number {
  if (resolution.state === 'resolved') return LbResolution.resolved;
  switch (resolution.reason) {
    case undefined:
      return LbResolution.pending;
    case 'no-route':
      return LbResolution.no_route;
    case 'other-interface':
      return LbResolution.other_iface;
    case 'no-answer':
      return LbResolution.no_answer;
  }
}

/** Datapath backend id -> whose it is, from the agent's records of what it published. */
function readIdentities(maps: RecordMaps): Map<number, BackendIdentity> {
  const services = new Map<number, ServiceId>();
  for (const [num, meta] of maps.serviceMetas()) services.set(num, serviceId(meta.vip, meta.port, PROTOCOLS.get(meta.proto) ?? 'tcp'));
  const out = new Map<number, BackendIdentity>();
  for (const [num, meta] of maps.backendMetas()) {
    const service = services.get(meta.serviceId);
    if (service !== undefined) out.set(num, { service, backend: backendId(meta.ip, meta.port), address: meta.ip });
  }
  return out;
}

export class RuntimeRecords {
  private identities: Map<number, BackendIdentity> | undefined;
  /** What lb_be_runtime holds, as this agent last wrote (or, at first, found) it. */
  private written: Map<number, LbBackendRuntime> | undefined;
  private active: ReadonlyMap<number, number> | undefined;
  private readonly run: LbAgentRun;
  /** The live config whose digest run.configDigest is, and the one to digest at the next flush. */
  private digested: DesiredState | undefined;
  private live: DesiredState | undefined;
  private flushTimer: unknown;
  private runDirty = true;
  private backendsDirty = true;
  /** Backends whose active connections a GC pass may have changed (ids counted by it or the one before). */
  private activeDirty = new Set<number>();
  private stopped = false;

  constructor(
    private readonly maps: RecordMaps,
    private readonly view: RuntimeView,
    private readonly context: LoopContext,
  ) {
    this.run = {
      startedNs: context.clock(),
      procStartTicks: processStartTicks('self') ?? 0n,
      pid: process.pid,
      reloadResult: LbReloadResult.none,
      reloadNs: 0n,
      appliedNs: 0n,
      configDigest: 0n,
      reloadOperations: 0,
      reloadsApplied: 0,
      reloadsRejected: 0,
      reloadsFailed: 0,
      gcPasses: 0n,
      gcNs: 0n,
      gcDurationNs: 0n,
      gcScanned: 0,
      gcExpired: 0,
      gcRemoved: 0,
      gcEntries: 0,
    };
    this.schedule();
  }

  /**
   * A reload ended; `applied`: the config live after it, and whether the
   * reload added or removed backends (or services), which changes their ids.
   */
  reloaded(result: ReloadResult, operations: number, applied?: { readonly live: DesiredState; readonly backendsChanged: boolean }): void {
    const now = this.context.clock();
    const run = this.run;
    run.reloadResult = LbReloadResult[result];
    run.reloadNs = now;
    run.reloadOperations = operations;
    if (result === 'applied') {
      run.reloadsApplied++;
      run.appliedNs = now;
      // Digested at the flush, off the reload's path, and only for a new config (not a re-plan of the same one).
      if (applied !== undefined) this.live = applied.live;
      // New or removed backends have new ids, and new backends no record yet.
      if (applied?.backendsChanged === true) {
        this.identities = undefined;
        this.backendsDirty = true;
      }
    } else if (result === 'rejected') {
      run.reloadsRejected++;
    } else {
      run.reloadsFailed++;
    }
    this.runDirty = true;
    this.schedule();
  }

  /** A health or neighbour change: some backend's record may differ now. */
  backendsChanged(): void {
    this.backendsDirty = true;
    this.schedule();
  }

  /** A conntrack GC pass ended: its figures, and the active connections per backend. */
  gcPass(stats: GcPassStats): void {
    const run = this.run;
    run.gcPasses++;
    run.gcNs = this.context.clock();
    run.gcDurationNs = BigInt(Math.round(stats.durationMs * 1e6));
    run.gcScanned = stats.scanned;
    run.gcExpired = stats.expired;
    run.gcRemoved = stats.released + stats.purged + stats.orphansFreed;
    run.gcEntries = stats.entries;
    // Until this agent's first pass the records keep their predecessor's counts: compare them all once.
    if (this.active === undefined) this.backendsDirty = true;
    else for (const id of this.active.keys()) this.activeDirty.add(id);
    for (const id of stats.activeByBackend.keys()) this.activeDirty.add(id);
    this.active = stats.activeByBackend;
    this.runDirty = true;
    this.schedule();
  }

  /** No flush after this; what was written stays for `status`. */
  stop(): void {
    this.stopped = true;
    if (this.flushTimer !== undefined) this.context.timers.clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }

  /** Write what changed now (tests; the flush timer calls it otherwise). */
  flush(): void {
    if (this.flushTimer !== undefined) this.context.timers.clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    try {
      if (this.live !== this.digested && this.live !== undefined) {
        this.run.configDigest = configDigest(this.live);
        this.digested = this.live;
      }
      if (this.runDirty) this.maps.putAgentRun(this.run);
      this.runDirty = false;
      // Not before the first plan is applied: until then the loops are still
      // settling, and a restarted agent would overwrite its predecessor's
      // records with "unknown" for a moment.
      if (this.run.appliedNs !== 0n && (this.backendsDirty || this.activeDirty.size > 0)) {
        this.flushBackends(this.backendsDirty ? undefined : this.activeDirty);
        this.backendsDirty = false;
        this.activeDirty.clear();
      }
    } catch (err) {
      // Records are for people and metrics: a failed write must not stop the agent. Kept dirty
      // for the next flush, which then compares every backend.
      this.backendsDirty = true;
      this.context.log.warn({ event: 'runtime-records', err: err instanceof Error ? err.message : String(err) }, 'writing the runtime records failed');
    }
  }

  private schedule(): void {
    if (this.stopped || this.flushTimer !== undefined) return;
    this.flushTimer = this.context.timers.setTimeout(() => {
      this.flushTimer = undefined;
      this.flush();
    }, 0);
  }

  /** Compare the records of `only` (every backend when undefined) with what they should say; write the differences. */
  private flushBackends(only: ReadonlySet<number> | undefined): void {
    const identities = (this.identities ??= readIdentities(this.maps));
    // A restarted agent starts from the records it finds: unchanged ones are not rewritten, and their change times stay.
    const written = (this.written ??= this.maps.backendRuntimes());
    const now = this.context.clock();
    const puts: { id: number; runtime: LbBackendRuntime }[] = [];
    for (const id of only ?? identities.keys()) {
      const who = identities.get(id);
      if (who === undefined) continue;
      const before = written.get(id);
      const health = healthCode(this.view.health(who.service, who.backend));
      const resolution = resolutionCode(this.view.resolution(who.address));
      // Until this agent's first GC pass, the last figure recorded stands.
      const activeConns = this.active === undefined ? (before?.activeConns ?? 0) : (this.active.get(id) ?? 0);
      const stateChanged = before === undefined || before.health !== health || before.resolution !== resolution;
      if (!stateChanged && before.activeConns === activeConns) continue;
      puts.push({ id, runtime: { changedNs: stateChanged ? now : before.changedNs, activeConns, health, resolution } });
    }
    const gone = only === undefined ? [...written.keys()].filter((id) => !identities.has(id)) : [];
    if (puts.length > 0) this.maps.putBackendRuntimes(puts);
    this.maps.deleteBackendRuntimes(gone);
    for (const { id, runtime } of puts) written.set(id, runtime);
    for (const id of gone) written.delete(id);
  }
}

