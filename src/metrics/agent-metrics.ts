/*
 * The agent's Prometheus metrics: a registry of its own (never prom-client's
 * global one, so two agents in one process, as in tests, never mix).
 *
 * Two kinds of families:
 *  - state read at scrape time (traffic, drops, health, conntrack fill, the
 *    attachment): each family computes its series from the scrape's
 *    DatapathSample (sampled-family.ts), which is read once per scrape (the
 *    first family reads it, the others reuse it) — no timer, so a scrape
 *    never sees figures older than itself and no read races it;
 *  - events counted as they happen (reloads, GC passes), which a scrape
 *    could not reconstruct.
 * See README.md "Metrics" for every family.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GcPassStats } from '../loops/conntrack-gc.js';
import type { DatapathSample } from './datapath-sample.js';
import { DIRECTIONS, METRIC_PREFIX as P, counterLabel, sampleValue } from './metric-names.js';
import { SampledCounter, SampledGauge, type Series } from './sampled-family.js';

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

type Labels<N extends string> = Partial<Record<N, string>>;

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
    /** A family of series from the scrape's sample; `fill` calls `put` once per series. */
    const sampled = <N extends string>(
      Family: typeof SampledGauge | typeof SampledCounter,
      name: string,
      help: string,
      labelNames: readonly N[],
      fill: (sample: DatapathSample, put: (labels: Labels<N>, value: number | bigint) => void) => void,
    ): void => {
      new Family<N>({
        name: P + name,
        help,
        labelNames,
        registers,
        series: () => {
          const sample = this.currentSample();
          const out: Series<N>[] = [];
          if (sample !== undefined) fill(sample, (labels, value) => out.push({ labels, value: sampleValue(value) }));
          return out;
        },
      });
    };
    const gauge = <N extends string>(name: string, help: string, labelNames: readonly N[], fill: Parameters<typeof sampled<N>>[4]): void =>
      sampled(SampledGauge, name, help, labelNames, fill);
    const counter = <N extends string>(name: string, help: string, labelNames: readonly N[], fill: Parameters<typeof sampled<N>>[4]): void =>
      sampled(SampledCounter, name, help, labelNames, fill);

    // ---- services
    gauge('service_info', 'A configured service (always 1), with its VIP, port, protocol and scheduler.', ['service', 'vip', 'port', 'protocol', 'scheduler'], (s, put) => {
      for (const v of s.services) put({ service: v.name, vip: v.vip, port: String(v.port), protocol: v.protocol, scheduler: v.scheduler }, 1);
    });
    counter('service_packets_total', 'Packets forwarded for a service; direction in: client to backend, out: backend to client.', ['service', 'direction'], (s, put) => {
      for (const v of s.services) {
        put({ service: v.name, direction: DIRECTIONS[0] }, v.traffic.packetsIn);
        put({ service: v.name, direction: DIRECTIONS[1] }, v.traffic.packetsOut);
      }
    });
    counter('service_bytes_total', 'Bytes (Ethernet frames as the datapath sees them) forwarded for a service, by direction.', ['service', 'direction'], (s, put) => {
      for (const v of s.services) {
        put({ service: v.name, direction: DIRECTIONS[0] }, v.traffic.bytesIn);
        put({ service: v.name, direction: DIRECTIONS[1] }, v.traffic.bytesOut);
      }
    });
    counter('service_new_flows_total', 'Flows created for a service (a TCP SYN or a UDP datagram without a conntrack entry).', ['service'], (s, put) => {
      for (const v of s.services) put({ service: v.name }, v.traffic.newFlows);
    });
    gauge('service_active_connections', 'Flows of a service in conntrack at the last GC pass.', ['service'], (s, put) => {
      for (const v of s.services) if (v.activeConnections !== undefined) put({ service: v.name }, v.activeConnections);
    });

    // ---- backends
    counter('backend_packets_total', 'Packets forwarded to (in) and from (out) a backend.', ['service', 'backend', 'direction'], (s, put) => {
      for (const b of s.backends) {
        put({ service: b.service, backend: b.backend, direction: DIRECTIONS[0] }, b.traffic.packetsIn);
        put({ service: b.service, backend: b.backend, direction: DIRECTIONS[1] }, b.traffic.packetsOut);
      }
    });
    counter('backend_bytes_total', 'Bytes (Ethernet frames) forwarded to (in) and from (out) a backend.', ['service', 'backend', 'direction'], (s, put) => {
      for (const b of s.backends) {
        put({ service: b.service, backend: b.backend, direction: DIRECTIONS[0] }, b.traffic.bytesIn);
        put({ service: b.service, backend: b.backend, direction: DIRECTIONS[1] }, b.traffic.bytesOut);
      }
    });
    counter('backend_new_flows_total', 'Flows the scheduler gave a backend.', ['service', 'backend'], (s, put) => {
      for (const b of s.backends) put({ service: b.service, backend: b.backend }, b.traffic.newFlows);
    });
    gauge('backend_active_connections', 'Flows of a backend in conntrack at the last GC pass.', ['service', 'backend'], (s, put) => {
      for (const b of s.backends) if (b.activeConnections !== undefined) put({ service: b.service, backend: b.backend }, b.activeConnections);
    });
    // One series per backend, labelled with its current state (not one per possible state: at 16,000
    // backends that would be 112,000 series of zeroes); a change ends the old series and starts a new one.
    gauge('backend_health', 'Health-check state of a backend (always 1): healthy, unhealthy, unknown (not probed yet), unchecked (no health check).', ['service', 'backend', 'state'], (s, put) => {
      for (const b of s.backends) put({ service: b.service, backend: b.backend, state: b.health }, 1);
    });
    gauge('backend_mac_resolved', "1 when the backend's next hop has a MAC the datapath uses, else 0 (it then takes no new flows).", ['service', 'backend'], (s, put) => {
      for (const b of s.backends) put({ service: b.service, backend: b.backend }, b.resolved ? 1 : 0);
    });
    gauge('backend_weight', 'Configured weight of a backend (0 takes no new flows).', ['service', 'backend'], (s, put) => {
      for (const b of s.backends) put({ service: b.service, backend: b.backend }, b.weight);
    });
    gauge('backend_admin_state', 'Configured state of a backend (always 1): active, draining or disabled.', ['service', 'backend', 'state'], (s, put) => {
      for (const b of s.backends) put({ service: b.service, backend: b.backend, state: b.admin }, 1);
    });

    // ---- datapath counters (lb_counters)
    for (const verdict of ['dropped', 'passed'] as const) {
      const what = verdict === 'dropped' ? 'Packets for a VIP or SNAT address the datapath dropped' : 'Packets for a VIP or SNAT address the datapath passed to the host stack untouched';
      counter(`packets_${verdict}_total`, `${what}, by reason.`, ['reason'], (s, put) => {
        for (const [name, value] of Object.entries(s.counters)) {
          const label = counterLabel(name);
          if (label.verdict === verdict) put({ reason: label.reason }, value);
        }
      });
    }
    gauge('datapath_info', 'The attached XDP program (always 1): interface, mode in use (native, generic; none when detached), configured mode, program id.', ['interface', 'mode', 'configured_mode', 'program_id'], (s, put) => {
      put({ interface: s.xdp.interface, mode: s.xdp.mode, configured_mode: s.xdp.configuredMode, program_id: String(s.xdp.programId) }, 1);
    });

    gauge('config_info', 'The live config (always 1): hash is a digest of the normalized config, equal on every balancer running the same config.', ['hash'], (s, put) => {
      if (s.configDigest !== undefined) put({ hash: s.configDigest }, 1);
    });

    // ---- conntrack and SNAT
    gauge('conntrack_entries', 'Flows in conntrack (lb_ct) at the last GC pass.', [], (s, put) => {
      if (s.lastGcPass) put({}, s.lastGcPass.entries);
    });
    gauge('conntrack_capacity', 'Flows conntrack can hold (conntrack.max_entries).', [], (s, put) => put({}, s.conntrackCapacity));
    gauge('snat_ports_in_use', 'SNAT tuples in use per SNAT address at the last GC pass.', ['address'], (s, put) => {
      for (const [address, count] of s.lastGcPass?.snatInUse ?? []) put({ address }, count);
    });
    gauge('snat_pool_ports', 'Ports in the SNAT pool (snat.ports): each SNAT address has them towards each backend.', [], (s, put) => put({}, s.snatPoolPorts));

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
      help: 'Duration of reload phases: load (read and validate the file), plan (read the kernel, compute operations), apply.',
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
