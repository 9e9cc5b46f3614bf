/*
 * The three background loops of a running agent, held together: neighbour
 * resolution (backend MACs into lb_neigh), health checks, conntrack GC. They
 * own the runtime maps; what they learn reaches the config-owned maps only
 * through the planner, as eligibility: a backend takes new flows when it is
 * healthy (or unchecked) and its MAC is resolved. A change of eligibility
 * calls `onEligibilityChange`, and the agent plans again.
 *
 * A reload hands each loop the new desired state; the loops keep what they
 * know about backends that stay (a reload does not reset health or MACs).
 */
import { backendsInUse } from '../datapath/addresses-in-use.js';
import type { DatapathMaps } from '../datapath/datapath-maps.js';
import type { BackendId, BackendState, DesiredState, ServiceId, ServiceState } from '../model/desired-state.js';
import { ConntrackGc, type GcPassStats, type GcSettings } from '../loops/conntrack-gc.js';
import { HealthChecker } from '../loops/health-checker.js';
import { healthTargets } from '../loops/health-targets.js';
import type { LoopContext } from '../loops/loop-context.js';
import { NeighborResolver } from '../loops/neighbor-resolver.js';

export interface RuntimeLoopsOptions {
  readonly maps: DatapathMaps;
  readonly context: LoopContext;
  readonly state: DesiredState;
  readonly onEligibilityChange: (reason: 'health' | 'neighbors') => void;
  /** What the runtime records show changed: a health status or a resolution (any), or a GC pass ended. */
  readonly onRecordChange?: (gcPass?: GcPassStats) => void;
}

/* How long start-up waits for the first health round and neighbour refresh
 * before its first plan, at most: a restart must not publish tables without
 * backends that were serving a moment ago merely because nothing was known yet. */
const SETTLE_LIMIT_MS = 5_000;
const SETTLE_POLL_MS = 20;

function gcSettings(state: DesiredState): GcSettings {
  const t = state.conntrack.timeouts;
  return {
    intervalMs: state.conntrack.gcIntervalMs,
    timeouts: { tcpSynMs: t.tcpSynMs, tcpEstablishedMs: t.tcpEstablishedMs, tcpClosingMs: t.tcpClosingMs, udpMs: t.udpMs },
  };
}

/** Every backend address of the state (a backend in several services more than once). */
function* backendAddresses(state: DesiredState): Generator<string> {
  for (const service of state.services) for (const backend of service.backends) yield backend.address;
}

/** What settle() waits for: the backends without a first answer when the state was given. */
interface Unsettled {
  addresses: string[];
  checks: { readonly service: ServiceId; readonly backend: BackendId }[];
}

export class RuntimeLoops {
  readonly neighbors: NeighborResolver;
  readonly health: HealthChecker;
  readonly gc: ConntrackGc;
  private disabled: ReadonlySet<number> = new Set();
  /** The backend addresses of the state last given, once each. */
  private addresses: ReadonlySet<string> = new Set();
  private unsettled: Unsettled = { addresses: [], checks: [] };

  constructor(private readonly opts: RuntimeLoopsOptions) {
    const { maps, context, state } = opts;
    this.neighbors = new NeighborResolver({
      maps,
      context,
      refreshIntervalMs: state.neighbors.refreshIntervalMs,
      interface: state.interface,
      onChange: () => this.neighborsChanged(),
      // A removed backend's flows go on (DESIGN.md §4): its MAC stays while they do.
      flowsUse: (addresses) => backendsInUse(maps, addresses),
    });
    // The checker logs each backend's health change itself.
    this.health = new HealthChecker({
      context,
      onChange: () => this.opts.onEligibilityChange('health'),
      onStatusChange: () => this.opts.onRecordChange?.(),
    });
    this.gc = new ConntrackGc({
      maps,
      context,
      settings: gcSettings(state),
      disabledBackends: () => this.disabled,
      onPass: (stats) => this.opts.onRecordChange?.(stats),
    });
    this.update(state);
  }

  /** The config changed: every loop takes its part of the new state. */
  update(state: DesiredState): void {
    const addresses = new Set(backendAddresses(state));
    const added = this.neighbors.update(addresses, state.neighbors.refreshIntervalMs);
    this.health.update(healthTargets(state));
    this.gc.update(gcSettings(state));
    this.addresses = addresses;
    // Found once here: settle() then polls only these (none after a reload that adds no backend):
    // the addresses new to the resolver, and those still waiting since an earlier update.
    const checks: Unsettled['checks'] = [];
    for (const s of state.services) {
      if (s.healthCheck === undefined) continue;
      for (const b of s.backends) if (this.health.state(s.id, b.id) === 'unknown') checks.push({ service: s.id, backend: b.id });
    }
    const unanswered = (a: string): boolean => this.neighbors.resolution(a).updatedAt === undefined;
    const waiting = this.unsettled.addresses.filter((a) => addresses.has(a));
    this.unsettled = { addresses: [...waiting, ...added].filter(unanswered), checks };
  }

  /** Datapath ids of backends with `state: disabled`: the GC removes their flows. */
  setDisabledBackends(ids: ReadonlySet<number>): void {
    this.disabled = ids;
  }

  /** Whether a backend may take new flows as far as runtime state goes (the planner adds admin state and weight). */
  isEligible(service: ServiceState, backend: BackendState): boolean {
    return this.health.isHealthy(service.id, backend.id) && this.neighbors.resolution(backend.address).state === 'resolved';
  }

  /** Start neighbours and health checks, and wait (bounded) until both have a first answer for everything. */
  async startAndSettle(): Promise<void> {
    this.neighbors.start();
    this.health.start();
    await this.settle(SETTLE_LIMIT_MS);
  }

  /**
   * Wait, at most `limitMs`, until neighbours and health checks have a first
   * answer for every backend of the state (those added by the last update()
   * are the ones still unknown). Returns at once when nothing is unknown.
   */
  async settle(limitMs: number): Promise<void> {
    const { timers, clock } = this.opts.context;
    const deadline = clock() + BigInt(limitMs) * 1_000_000n;
    while (clock() < deadline && !this.settled()) {
      await new Promise<void>((resolve) => timers.setTimeout(resolve, SETTLE_POLL_MS));
    }
  }

  /** GC starts once the first plan is applied (its purge set comes from that plan). */
  startGc(): void {
    this.gc.start();
  }

  get lastGcPass(): GcPassStats | undefined {
    return this.gc.lastPass;
  }

  async stop(): Promise<void> {
    await Promise.all([this.neighbors.stop(), this.health.stop(), this.gc.stop()]);
  }

  /** Counts of resolved and unresolved backend addresses. */
  neighborCounts(): { resolved: number; unresolved: number } {
    let resolved = 0;
    for (const a of this.addresses) if (this.neighbors.resolution(a).state === 'resolved') resolved++;
    return { resolved, unresolved: this.addresses.size - resolved };
  }

  /** Whether every backend unsettled at the last update() has its first answers (an answer, once there, stays). */
  private settled(): boolean {
    const u = this.unsettled;
    u.addresses = u.addresses.filter((a) => this.neighbors.resolution(a).updatedAt === undefined);
    u.checks = u.checks.filter((c) => this.health.state(c.service, c.backend) === 'unknown');
    return u.addresses.length === 0 && u.checks.length === 0;
  }

  /** The resolver logs each address's change; this adds the totals an operator (and the demo) waits on. */
  private neighborsChanged(): void {
    const counts = this.neighborCounts();
    this.opts.context.log.info({ event: 'neighbors', ...counts }, `backend MACs: ${counts.resolved} resolved, ${counts.unresolved} unresolved`);
    this.opts.onRecordChange?.();
    this.opts.onEligibilityChange('neighbors');
  }
}
