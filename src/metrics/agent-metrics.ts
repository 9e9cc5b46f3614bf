/*
 * The agent's Prometheus metrics: a registry of its own (never prom-client's
 * global one, so two agents in one process, as in tests, never mix).
 *
 * Two kinds of families:
 *  - state read at scrape time (state-families.ts: traffic, drops, health,
 *    conntrack fill, the attachment), from the scrape's DatapathSample,
 *    which is read once per scrape (the first family reads it, the others
 *    reuse it) — no timer, so a scrape never sees figures older than itself
 *    and no read races it;
 *  - events counted as they happen (reloads, GC passes), which a scrape
 *    could not reconstruct.
 * See README.md "Metrics" for every family.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GcPassStats } from '../loops/conntrack-gc.js';
import type { DatapathSample } from './datapath-sample.js';
import { METRIC_PREFIX as P } from './metric-names.js';
import { registerStateFamilies } from './state-families.js';

/* Seconds: from a sub-millisecond reload of one backend to a large first apply or a GC pass over a million flows. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ReloadRecord {
  /** What triggered it: start, file-changed, SIGHUP, health, neighbors, … (the log's `reason`). */
  readonly reason: string;
  /** As the log says: applied (also with no operation), rejected, failed. */
  readonly result: 'applied' | 'rejected' | 'failed';
  /** Operations applied (applied only). */
  readonly operations?: number;
  /** Phase durations in milliseconds, for those the reload reached. */
  readonly loadMs?: number;
  readonly planMs?: number;
  readonly applyMs?: number;
}

export interface AgentMetricsOptions {
  /** Reads the kernel and the loops; undefined while there is no datapath (the state families are then empty). */
  readonly sample: () => DatapathSample | undefined;
  /** prom-client's process and Node.js metrics (process_*, nodejs_*) on this registry. Default true. */
  readonly processMetrics?: boolean;
  /** Unix time in seconds; a parameter for tests. */
  readonly now?: () => number;
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly now: () => number;
  private scrape: { sample: DatapathSample | undefined } | undefined;
  private scraping = 0;

  private readonly reloads: Counter<'result' | 'reason'>;
  private readonly reloadOk: Gauge;
  private readonly reloadOkTime: Gauge;
  private readonly operations: Counter;
  private readonly reloadSeconds: Histogram<'phase'>;
  private readonly gcRuns: Counter;
  private readonly gcRemoved: Counter<'reason'>;
  private readonly gcOrphans: Counter;
  private readonly gcLastExpired: Gauge;
  private readonly gcSeconds: Histogram;

  constructor(private readonly opts: AgentMetricsOptions) {
    this.now = opts.now ?? (() => Date.now() / 1000);
    const registers = [this.registry];
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    registerStateFamilies(this.registry, () => this.currentSample());

    this.gcRuns = new Counter({ name: `${P}conntrack_gc_runs_total`, help: 'Completed conntrack GC passes.', registers });
    this.gcRemoved = new Counter({
      name: `${P}conntrack_gc_removed_total`,
      help: 'Flows the GC removed: expired (idle past their timeout), released (tuple reused by a new flow), purged (backend disabled).',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of ['expired', 'released', 'purged']) this.gcRemoved.inc({ reason }, 0);
    this.gcOrphans = new Counter({ name: `${P}snat_orphan_tuples_freed_total`, help: 'SNAT tuples the GC freed that no flow held.', registers });
    this.gcLastExpired = new Gauge({ name: `${P}conntrack_gc_last_expired`, help: 'Flows the last GC pass removed as expired.', registers });
    this.gcSeconds = new Histogram({ name: `${P}conntrack_gc_duration_seconds`, help: 'Duration of conntrack GC passes.', buckets: DURATION_BUCKETS, registers });

    // ---- config
    this.reloads = new Counter({
      name: `${P}config_reloads_total`,
      help: 'Reload passes by result (applied, rejected, failed) and reason (start, file-changed, SIGHUP, health, neighbors, retained-addresses).',
      labelNames: ['result', 'reason'],
      registers,
    });
    this.reloadOk = new Gauge({ name: `${P}config_last_reload_successful`, help: '1 when the last reload applied, 0 when it was rejected or failed (the previous config stays live).', registers });
    this.reloadOkTime = new Gauge({ name: `${P}config_last_reload_success_timestamp_seconds`, help: 'Unix time of the last reload that applied.', registers });
    this.operations = new Counter({ name: `${P}config_operations_applied_total`, help: 'Map operations applied by reloads.', registers });
    this.reloadSeconds = new Histogram({
      name: `${P}config_reload_duration_seconds`,
      help: "Duration of reload phases: load (read and validate the file, wait for new backends' first loop answers), plan (read the kernel, compute operations), apply.",
      labelNames: ['phase'],
      buckets: DURATION_BUCKETS,
      registers,
    });
  }

  /** The exposition text of one scrape. */
  async render(): Promise<string> {
    this.scraping++;
    try {
      return await this.registry.metrics();
    } finally {
      if (--this.scraping === 0) this.scrape = undefined;
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  recordReload(record: ReloadRecord): void {
    this.reloads.inc({ result: record.result, reason: record.reason });
    const ok = record.result === 'applied';
    this.reloadOk.set(ok ? 1 : 0);
    if (ok) {
      this.reloadOkTime.set(this.now());
      this.operations.inc(record.operations ?? 0);
    }
    for (const [phase, ms] of [
      ['load', record.loadMs],
      ['plan', record.planMs],
      ['apply', record.applyMs],
    ] as const) {
      if (ms !== undefined) this.reloadSeconds.observe({ phase }, ms / 1000);
    }
  }

  recordGcPass(stats: GcPassStats): void {
    this.gcRuns.inc();
    this.gcRemoved.inc({ reason: 'expired' }, stats.expired);
    this.gcRemoved.inc({ reason: 'released' }, stats.released);
    this.gcRemoved.inc({ reason: 'purged' }, stats.purged);
    this.gcOrphans.inc(stats.orphansFreed);
    this.gcLastExpired.set(stats.expired);
    this.gcSeconds.observe(stats.durationMs / 1000);
  }

  /** The scrape's sample: read by the first family that needs it, shared by the rest of that scrape. */
  private currentSample(): DatapathSample | undefined {
    if (this.scraping === 0) return this.opts.sample();
    this.scrape ??= { sample: this.opts.sample() };
    return this.scrape.sample;
  }
}
