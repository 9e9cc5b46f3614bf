/*
 * The running agent: attach the datapath, make the kernel match the config
 * file, and keep it matching — on every change of the file, on SIGHUP
 * (wired by the CLI), and while addresses the config dropped are still
 * carrying flows. Reloads never overlap: one that arrives while another is
 * running is coalesced into one more pass afterwards (level-based: the pass
 * reads the file and the kernel as they are then).
 *
 * A config that is invalid, or that changes a restart-only setting, is
 * rejected with one structured log event and nothing live changes. A failed
 * apply is rolled back (apply-plan.ts) and logged with the operation and
 * errno. Stopping the agent leaves the datapath forwarding; `down` stops it.
 *
 * Metrics (src/metrics/) are served on metrics.listen from the first apply
 * on; every reload pass is counted there, and the listener follows the
 * address of each applied file (a failure to listen is logged, never fatal).
 */
import { performance } from 'node:perf_hooks';
import { formatIssue, type ConfigIssue, type HostFacts } from '../config/index.js';
import { readConfigFile } from '../config/read-config-file.js';
import { restartOnlyChanges, type DesiredState } from '../model/desired-state.js';
import { describeOperation, describePlan, type Operation } from '../plan/index.js';
import { AgentError } from './agent-error.js';
import { applyPlan } from './apply-plan.js';
import { DatapathSession } from './datapath-session.js';
import { hostAnnouncer } from './host-announcer.js';
import { loadDesiredState } from './load-desired-state.js';
import type { Logger } from './logger.js';
import { planAgainstKernel } from './reconcile.js';
import { realTimers, type Timers } from './timers.js';
import { watchConfigFile, type ConfigWatcher } from './watch-config.js';
import { RuntimeLoops } from './runtime-loops.js';
import { RuntimeRecords } from './runtime-records.js';
import { monotonicClock } from '../loops/loop-context.js';
import { gatherHostFacts } from '../host/gather-host-facts.js';
import { LbBackendAdmin } from '../datapath/codecs.js';
import type { DatapathMaps } from '../datapath/datapath-maps.js';
import { AgentMetrics, type ReloadRecord } from '../metrics/agent-metrics.js';
import type { DatapathSample } from '../metrics/datapath-sample.js';
import { MetricsServer } from '../metrics/metrics-server.js';
import { readDatapathSample } from '../metrics/read-datapath-sample.js';

/* Quiet time after a change of the file before reading it: the least the
 * watcher allows, since editors finish a save within it. */
export const WATCH_DEBOUNCE_MS = 50;

/* How often a plan that retained addresses (flows still on them) is re-run. */
const RETAINED_RECHECK_MS = 5_000;
/* How long a reload waits, at most, for the loops' first answers about the
 * backends it adds (a neighbour refresh takes about ANSWER_WAIT_MS; a live
 * backend answers its first health probe sooner). */
const RELOAD_SETTLE_LIMIT_MS = 1_000;

export interface AgentOptions {
  readonly configPath: string;
  readonly pinPath: string;
  readonly objectPath: string;
  readonly log: Logger;
  /** --log-level given: the config's log.level is then ignored. */
  readonly fixedLogLevel?: boolean;
  readonly timers?: Timers;
}

export type ReloadOutcome = 'applied' | 'unchanged' | 'rejected' | 'failed';

/** Datapath ids of the backends the config disables (their flows are removed by the GC). */
function disabledBackendIds(state: DesiredState, maps: DatapathMaps): Set<number> {
  if (!state.services.some((s) => s.backends.some((b) => b.state === 'disabled'))) return new Set();
  const ids = new Set<number>();
  for (const [id, meta] of maps.backendMetas()) if (meta.admin === LbBackendAdmin.disabled) ids.add(id);
  return ids;
}

/**
 * Whether a plan adds or removes backends or services, which gives backends
 * new datapath ids, rather than only editing them in place (a weight, a state).
 */
function changesBackendIds(operations: readonly Operation[]): boolean {
  return operations.some(
    (op) =>
      op.kind === 'delete-backend' ||
      op.kind === 'delete-service' ||
      ((op.kind === 'put-backend' || op.kind === 'put-service') && op.change !== 'update'),
  );
}

/** Milliseconds to two decimals, for log fields. */
function ms(value: number): number {
  return Math.round(value * 100) / 100;
}

function issueFields(issue: ConfigIssue): Record<string, unknown> {
  return { file: issue.file, line: issue.line, col: issue.col, path: issue.path, message: issue.message };
}

export class Agent {
  private session: DatapathSession | undefined;
  private live: DesiredState | undefined;
  private watcher: ConfigWatcher | undefined;
  private loops: RuntimeLoops | undefined;
  private records: RuntimeRecords | undefined;
  private running: Promise<ReloadOutcome> | undefined;
  /** Work asked for while a pass was running: the file (a reason) and/or runtime eligibility. */
  private pendingFile: string | undefined;
  private pendingRuntime: string | undefined;
  private recheck: unknown;
  private stopped = false;
  private readonly timers: Timers;
  readonly metrics: AgentMetrics;
  private readonly metricsServer: MetricsServer;

  constructor(private readonly opts: AgentOptions) {
    this.timers = opts.timers ?? realTimers;
    this.metrics = new AgentMetrics({ sample: () => this.sample() });
    this.metricsServer = new MetricsServer(this.metrics, opts.log);
  }

  /** Load, attach, apply, watch. Throws AgentError('ECONFIG') for an invalid config: nothing is attached then. */
  async start(): Promise<void> {
    const { log } = this.opts;
    const loadStarted = performance.now();
    const loaded = await loadDesiredState(this.opts.configPath);
    if (!loaded.ok) {
      this.logRejected(loaded.issues, 'start');
      throw new AgentError('ECONFIG', `invalid config ${this.opts.configPath}:\n${loaded.issues.map(formatIssue).join('\n')}`);
    }
    for (const w of loaded.warnings) log.warn({ event: 'config-warning', ...issueFields(w) }, formatIssue(w));
    const state = loaded.state;
    this.applyLogLevel(state);
    this.session = DatapathSession.open(
      {
        objectPath: this.opts.objectPath,
        pinPath: this.opts.pinPath,
        interface: state.interface,
        xdpMode: state.xdpMode,
        maxFlows: state.conntrack.maxEntries,
      },
      {
        onNativeRefused: (err) => log.warn({ event: 'xdp-native-refused', err: err.message }, 'native XDP refused; attached in generic mode'),
        onStaleLink: (ifname) => log.warn({ event: 'stale-link', interface: ifname }, 'replaced a pinned XDP link whose interface had gone'),
      },
    );
    log.info(
      { event: 'attached', interface: state.interface, ifindex: this.session.ifindex, mode: this.session.attachedMode, resumed: this.session.resumed },
      this.session.resumed ? 'took over the running datapath' : 'attached the datapath',
    );
    const context = { timers: this.timers, clock: monotonicClock, log };
    this.loops = new RuntimeLoops({
      maps: this.session.maps,
      context,
      state,
      onEligibilityChange: (reason) => void this.enqueue('runtime', reason),
      onRecordChange: (gcPass) => {
        if (gcPass === undefined) {
          this.records?.backendsChanged();
          return;
        }
        this.records?.gcPass(gcPass);
        this.metrics.recordGcPass(gcPass);
      },
    });
    const loops = this.loops;
    this.records = new RuntimeRecords(
      this.session.maps,
      { health: (s, b) => loops.health.state(s, b), resolution: (a) => loops.neighbors.resolution(a) },
      context,
    );
    await this.loops.startAndSettle();
    const outcome = await this.reconcile(state, loaded.facts, 'start', loadStarted);
    if (outcome === 'rejected' || outcome === 'failed') throw new AgentError('EAPPLY', 'the initial config could not be applied (see the log)');
    this.loops.startGc();
    await this.metricsServer.listen(state.metrics);

    this.watcher = watchConfigFile(this.opts.configPath, {
      debounceMs: WATCH_DEBOUNCE_MS,
      onChange: () => void this.reload('file-changed'),
      onError: (err) => log.error({ event: 'watch-error', err: String(err) }, 'config watcher error; reloading to be safe'),
      timers: this.timers,
    });
    await this.watcher.ready;
    // An edit saved between the first read above and the start of the watch raised no event,
    // and would stay unapplied until the next one: look at the file once more.
    const now = await readConfigFile(this.opts.configPath);
    if (!now.ok || now.text !== loaded.text) void this.reload('file-changed');
  }

  /** Re-read the config file and apply it. Concurrent calls are coalesced. */
  reload(reason: string): Promise<ReloadOutcome> {
    return this.enqueue('file', reason);
  }

  /**
   * One pass at a time: work asked for meanwhile runs once afterwards. A
   * file pass also covers runtime changes (it plans with the loops' current
   * view); a runtime pass plans the last good config again, so a health
   * change applies even while the file on disk is invalid.
   */
  private enqueue(kind: 'file' | 'runtime', reason: string): Promise<ReloadOutcome> {
    if (kind === 'file') this.pendingFile = reason;
    else this.pendingRuntime = reason;
    if (this.running) return this.running;
    const run = async (): Promise<ReloadOutcome> => {
      let outcome: ReloadOutcome = 'unchanged';
      while (!this.stopped && (this.pendingFile !== undefined || this.pendingRuntime !== undefined)) {
        const file = this.pendingFile;
        const runtime = this.pendingRuntime;
        this.pendingFile = this.pendingRuntime = undefined;
        outcome = file !== undefined ? await this.reloadOnce(file) : await this.runtimeOnce(runtime!);
      }
      return outcome;
    };
    this.running = run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Runtime eligibility changed (health, MACs): plan the live config again. */
  private async runtimeOnce(reason: string): Promise<ReloadOutcome> {
    if (this.session === undefined || this.live === undefined) return 'unchanged';
    const started = performance.now();
    return this.reconcile(this.live, await gatherHostFacts(), reason, started);
  }

  /** Stop watching and release fds; the datapath keeps forwarding. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.recheck !== undefined) this.timers.clearTimeout(this.recheck);
    this.recheck = undefined;
    await this.watcher?.close();
    await this.running;
    await this.metricsServer.close();
    await this.loops?.stop();
    this.records?.stop();
    this.session?.close();
    this.session = undefined;
  }

  private async reloadOnce(reason: string): Promise<ReloadOutcome> {
    if (this.stopped || this.session === undefined || this.live === undefined) return 'rejected';
    const loadStarted = performance.now();
    const loaded = await loadDesiredState(this.opts.configPath);
    if (!loaded.ok) {
      this.logRejected(loaded.issues, reason);
      return 'rejected';
    }
    const restartOnly = restartOnlyChanges(this.live, loaded.state);
    if (restartOnly.length > 0) {
      this.opts.log.error(
        { event: 'reload', result: 'rejected', reason, settings: restartOnly },
        `config rejected: ${restartOnly.join(', ')} changed, which only takes effect on restart: ` +
          'run `xdp4slb-agent down` and start the agent again (nothing was changed)',
      );
      this.countRejected({ reason, loadMs: performance.now() - loadStarted });
      return 'rejected';
    }
    this.applyLogLevel(loaded.state);
    // The loops learn about new backends first: those take flows once healthy and resolved.
    this.loops?.update(loaded.state);
    // An edit that replaces a service's backends must publish the new ones with the removal of the old,
    // not a table without either while the new MACs are being resolved: those new flows would be dropped.
    await this.loops?.settle(RELOAD_SETTLE_LIMIT_MS);
    if (this.stopped) return 'rejected';
    const outcome = await this.reconcile(loaded.state, loaded.facts, reason, loadStarted);
    if (outcome === 'rejected' || outcome === 'failed') this.loops?.update(this.live);
    else if (!this.stopped) await this.metricsServer.listen(loaded.state.metrics);
    return outcome;
  }

  /** `loadStarted`: when reading the file began, for the reload's duration. */
  private async reconcile(state: DesiredState, facts: HostFacts, reason: string, loadStarted: number): Promise<ReloadOutcome> {
    const { log } = this.opts;
    const session = this.session!;
    const started = performance.now();
    const loops = this.loops;
    const plan = await planAgainstKernel(state, session.maps, session.ifindex, facts.localAddresses, loops && ((s, b) => loops.isEligible(s, b)));
    const planned = performance.now();
    if (!plan.ok) {
      log.error({ event: 'reload', result: 'rejected', reason, errors: plan.errors }, `config rejected: ${plan.errors.join('; ')}`);
      this.countRejected({ reason, loadMs: started - loadStarted, planMs: planned - started });
      return 'rejected';
    }
    const result = await applyPlan(plan.operations, session.maps, hostAnnouncer);
    const fields = {
      event: 'reload',
      reason,
      operations: plan.operations.length,
      loadMs: ms(started - loadStarted),
      planMs: ms(planned - started),
      applyMs: ms(performance.now() - planned),
      durationMs: ms(performance.now() - loadStarted),
    };
    this.metrics.recordReload({ ...fields, result: result.ok ? 'applied' : 'failed' });
    if (!result.ok) {
      log.error(
        {
          ...fields,
          result: 'failed',
          failedOperation: result.index,
          operation: describeOperation(result.operation),
          code: result.error.code,
          errno: result.error.errno,
          error: result.error.message,
          rolledBack: result.rollbackErrors.length === 0,
          rollbackErrors: result.rollbackErrors.map((e) => e.message),
        },
        `apply failed at operation ${result.index + 1} of ${plan.operations.length} (${describeOperation(result.operation)}): ` +
          `${result.error.message}; ${result.rollbackErrors.length === 0 ? 'rolled back, the previous config stays live' : 'rollback incomplete'}`,
      );
      this.records?.reloaded('failed', plan.operations.length);
      return 'failed';
    }
    this.live = state;
    this.loops?.setDisabledBackends(disabledBackendIds(state, session.maps));
    if (plan.operations.length > 0) log.debug({ event: 'plan', reason }, describePlan(plan.operations).trimEnd());
    log.info({ ...fields, result: 'applied' }, plan.operations.length === 0 ? 'config unchanged' : `applied ${plan.operations.length} operations`);
    this.records?.reloaded('applied', plan.operations.length, { live: state, backendsChanged: changesBackendIds(plan.operations) });
    this.scheduleRecheck(plan.retained.map((r) => r.address));
    return plan.operations.length === 0 ? 'unchanged' : 'applied';
  }

  /** Addresses kept for their flows: plan again later, to remove them once the flows end. */
  private scheduleRecheck(retained: readonly string[]): void {
    if (this.recheck !== undefined) this.timers.clearTimeout(this.recheck);
    this.recheck = undefined;
    if (retained.length === 0 || this.stopped) return;
    this.opts.log.info({ event: 'addresses-retained', addresses: retained }, 'addresses removed from the config stay until their flows end');
    this.recheck = this.timers.setTimeout(() => {
      this.recheck = undefined;
      void this.reload('retained-addresses');
    }, RETAINED_RECHECK_MS);
  }

  /** What the metrics read at scrape time; nothing before the datapath is open. */
  private sample(): DatapathSample | undefined {
    const { session, loops, live } = this;
    if (session === undefined || loops === undefined || live === undefined) return undefined;
    return readDatapathSample({
      maps: session.maps,
      runtime: {
        health: (service, backend) => loops.health.state(service, backend),
        resolved: (address) => loops.neighbors.resolution(address).state === 'resolved',
        lastGcPass: loops.lastGcPass,
      },
      interface: live.interface,
      ifindex: session.ifindex,
    });
  }

  /** A rejected reload in the metrics and the pinned record (the live config stays). */
  private countRejected(record: Omit<ReloadRecord, 'result'>): void {
    this.metrics.recordReload({ ...record, result: 'rejected' });
    this.records?.reloaded('rejected', 0);
  }

  private logRejected(issues: readonly ConfigIssue[], reason: string): void {
    this.countRejected({ reason });
    const first = issues[0]!;
    this.opts.log.error(
      { event: 'reload', result: 'rejected', reason, ...issueFields(first), issues: issues.map(issueFields) },
      `config rejected, the last good config stays live:\n${issues.map(formatIssue).join('\n')}`,
    );
  }

  private applyLogLevel(state: DesiredState): void {
    if (!this.opts.fixedLogLevel) this.opts.log.level = state.log.level;
  }
}
