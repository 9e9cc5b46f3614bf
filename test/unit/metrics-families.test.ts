/*
 * The metric families (src/metrics/) on hand-made samples: names and types
 * by Prometheus conventions, label sets bounded by the config, values as
 * the sample says, lb_counters names mapped to a verdict family and a
 * reason, one read of the kernel per scrape, and the event families
 * (reloads, GC passes). Kernel reads are covered by test/e2e/metrics.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COUNTER_NAMES, type LbTraffic } from '../../src/datapath/codecs.js';
import type { GcPassStats } from '../../src/loops/conntrack-gc.js';
import { AgentMetrics } from '../../src/metrics/agent-metrics.js';
import type { DatapathSample } from '../../src/metrics/datapath-sample.js';
import { counterLabel } from '../../src/metrics/metric-names.js';
import { parseExposition, select, value, type Exposition } from '../support/prometheus-text.js';

function traffic(n: number): LbTraffic {
  return { packetsIn: BigInt(n), bytesIn: BigInt(n * 100), packetsOut: BigInt(n * 2), bytesOut: BigInt(n * 200), newFlows: BigInt(n * 3) };
}

const GC_PASS: GcPassStats = {
  scanned: 12,
  expired: 4,
  released: 1,
  purged: 2,
  orphansFreed: 3,
  durationMs: 7,
  entries: 8,
  capacity: 1024,
  activeByBackend: new Map([[10, 5]]),
  snatInUse: new Map([['198.18.0.5', 6]]),
};

function sample(overrides: Partial<DatapathSample> = {}): DatapathSample {
  return {
    services: [{ name: 'web', vip: '198.18.0.10', port: 80, protocol: 'tcp', scheduler: 'maglev', traffic: traffic(10), activeConnections: 5 }],
    backends: [
      { service: 'web', backend: '198.18.0.2:80', weight: 3, admin: 'active', health: 'healthy', resolved: true, traffic: traffic(7), activeConnections: 5 },
      { service: 'web', backend: '198.18.0.3:80', weight: 1, admin: 'draining', health: 'unknown', resolved: false, traffic: traffic(3), activeConnections: 0 },
    ],
    counters: Object.fromEntries(COUNTER_NAMES.map((name, i) => [name, BigInt(i + 1)])),
    conntrackCapacity: 1024,
    lastGcPass: GC_PASS,
    snatPoolPorts: 22768,
    xdp: { interface: 'eth0', mode: 'generic', configuredMode: 'auto', programId: 42 },
    configDigest: '00c0ffee12345678',
    ...overrides,
  };
}

async function scrape(metrics: AgentMetrics): Promise<Exposition> {
  return parseExposition(await metrics.render());
}

const WEB_RS1 = { service: 'web', backend: '198.18.0.2:80' };
const WEB_RS2 = { service: 'web', backend: '198.18.0.3:80' };

describe('metric names', () => {
  it('maps every datapath counter to dropped or passed and a reason', () => {
    assert.deepEqual(
      COUNTER_NAMES.map(counterLabel),
      [
        { verdict: 'dropped', reason: 'no_conntrack' },
        { verdict: 'dropped', reason: 'fragment' },
        { verdict: 'dropped', reason: 'no_backend' },
        { verdict: 'dropped', reason: 'no_mac' },
        { verdict: 'dropped', reason: 'snat_exhausted' },
        { verdict: 'dropped', reason: 'conntrack_full' },
        { verdict: 'passed', reason: 'malformed' },
      ],
    );
  });

  it('refuses a counter name it cannot place', () => {
    assert.throws(() => counterLabel('redirect_somewhere'), /neither drop_\* nor pass_\*/);
  });

  it('names every family xdp4slb_*, counters *_total, with base units', async () => {
    const metrics = new AgentMetrics({ sample: () => sample(), processMetrics: false });
    const { types } = await scrape(metrics);
    assert.ok(types.size >= 30, `${types.size} families`);
    for (const [name, type] of types) {
      assert.match(name, /^xdp4slb_[a-z0-9_]+$/, name);
      if (type === 'counter') assert.match(name, /_total$/, name);
      else assert.doesNotMatch(name, /_total$/, name);
      assert.doesNotMatch(name, /_(milliseconds|ms|kilobytes|percent)\b/, name);
    }
    assert.equal(types.get('xdp4slb_config_reload_duration_seconds'), 'histogram');
    assert.equal(types.get('xdp4slb_conntrack_gc_duration_seconds'), 'histogram');
  });

  it('adds the process metrics when asked', async () => {
    const { types } = await scrape(new AgentMetrics({ sample: () => sample() }));
    assert.equal(types.get('process_cpu_seconds_total'), 'counter');
  });
});

describe('metric families from a sample', () => {
  it('traffic per service and backend, by direction, and new flows', async () => {
    const e = await scrape(new AgentMetrics({ sample: () => sample(), processMetrics: false }));
    assert.equal(value(e, 'xdp4slb_service_packets_total', { service: 'web', direction: 'in' }), 10);
    assert.equal(value(e, 'xdp4slb_service_packets_total', { service: 'web', direction: 'out' }), 20);
    assert.equal(value(e, 'xdp4slb_service_bytes_total', { service: 'web', direction: 'out' }), 2000);
    assert.equal(value(e, 'xdp4slb_service_new_flows_total', { service: 'web' }), 30);
    assert.equal(value(e, 'xdp4slb_backend_packets_total', { ...WEB_RS1, direction: 'in' }), 7);
    assert.equal(value(e, 'xdp4slb_backend_bytes_total', { ...WEB_RS2, direction: 'in' }), 300);
    assert.equal(value(e, 'xdp4slb_backend_new_flows_total', WEB_RS2), 9);
    assert.equal(value(e, 'xdp4slb_backend_active_connections', WEB_RS1), 5);
    assert.equal(value(e, 'xdp4slb_service_active_connections', { service: 'web' }), 5);
    assert.deepEqual(select(e, 'xdp4slb_service_info')[0]!.labels, { service: 'web', vip: '198.18.0.10', port: '80', protocol: 'tcp', scheduler: 'maglev' });
  });

  it('label sets hold only config-bounded names: service, backend, direction, state, reason, address', async () => {
    const e = await scrape(new AgentMetrics({ sample: () => sample(), processMetrics: false }));
    const allowed = new Set(['service', 'backend', 'direction', 'state', 'reason', 'address', 'hash', 'phase', 'result', 'le', 'vip', 'port', 'protocol', 'scheduler', 'interface', 'mode', 'configured_mode', 'program_id']);
    for (const s of e.samples) for (const label of Object.keys(s.labels)) assert.ok(allowed.has(label), `${s.name} has label ${label}`);
    // Per backend: one series per (service, backend) and direction or state; never more.
    assert.equal(select(e, 'xdp4slb_backend_packets_total').length, 2 * 2);
    assert.equal(select(e, 'xdp4slb_backend_health').length, 2);
    assert.equal(select(e, 'xdp4slb_backend_admin_state').length, 2);
  });

  it('health and admin state as one series labelled with the current state; MAC resolution and weight as gauges', async () => {
    const e = await scrape(new AgentMetrics({ sample: () => sample(), processMetrics: false }));
    const states = (name: string, labels: Record<string, string>): Record<string, number> =>
      Object.fromEntries(select(e, name, labels).map((s) => [s.labels['state'], s.value]));
    assert.deepEqual(states('xdp4slb_backend_health', WEB_RS1), { healthy: 1 });
    assert.deepEqual(states('xdp4slb_backend_health', WEB_RS2), { unknown: 1 });
    assert.deepEqual(states('xdp4slb_backend_admin_state', WEB_RS2), { draining: 1 });
    assert.equal(value(e, 'xdp4slb_backend_mac_resolved', WEB_RS1), 1);
    assert.equal(value(e, 'xdp4slb_backend_mac_resolved', WEB_RS2), 0);
    assert.equal(value(e, 'xdp4slb_backend_weight', WEB_RS1), 3);
  });

  it('drops and passes by reason, every reason present', async () => {
    const e = await scrape(new AgentMetrics({ sample: () => sample(), processMetrics: false }));
    assert.equal(select(e, 'xdp4slb_packets_dropped_total').length, 6);
    assert.equal(value(e, 'xdp4slb_packets_dropped_total', { reason: 'no_conntrack' }), 1);
    assert.equal(value(e, 'xdp4slb_packets_dropped_total', { reason: 'conntrack_full' }), 6);
    assert.equal(value(e, 'xdp4slb_packets_passed_total', { reason: 'malformed' }), 7);
  });

  it('conntrack, SNAT, the attachment and the live config', async () => {
    const e = await scrape(new AgentMetrics({ sample: () => sample(), processMetrics: false }));
    assert.deepEqual(select(e, 'xdp4slb_config_info'), [{ name: 'xdp4slb_config_info', labels: { hash: '00c0ffee12345678' }, value: 1 }]);
    assert.equal(value(e, 'xdp4slb_conntrack_entries'), 8);
    assert.equal(value(e, 'xdp4slb_conntrack_capacity'), 1024);
    assert.equal(value(e, 'xdp4slb_snat_ports_in_use', { address: '198.18.0.5' }), 6);
    assert.equal(value(e, 'xdp4slb_snat_pool_ports'), 22768);
    assert.deepEqual(select(e, 'xdp4slb_datapath_info')[0], {
      name: 'xdp4slb_datapath_info',
      labels: { interface: 'eth0', mode: 'generic', configured_mode: 'auto', program_id: '42' },
      value: 1,
    });
  });

  it('before the first GC pass: no active connections or entries, rather than zeroes that would be wrong', async () => {
    const noPass = sample({
      lastGcPass: undefined,
      services: sample().services.map((s) => ({ ...s, activeConnections: undefined })),
      backends: sample().backends.map((b) => ({ ...b, activeConnections: undefined })),
    });
    const e = await scrape(new AgentMetrics({ sample: () => noPass, processMetrics: false }));
    assert.deepEqual(select(e, 'xdp4slb_backend_active_connections'), []);
    assert.deepEqual(select(e, 'xdp4slb_service_active_connections'), []);
    assert.deepEqual(select(e, 'xdp4slb_conntrack_entries'), []);
    assert.equal(value(e, 'xdp4slb_conntrack_capacity'), 1024);
  });

  it('reads the sample once per scrape, and again for the next one; a backend gone is gone', async () => {
    let reads = 0;
    let current = sample();
    const metrics = new AgentMetrics({ sample: () => (reads++, current), processMetrics: false });
    await scrape(metrics);
    assert.equal(reads, 1);
    current = sample({ backends: sample().backends.slice(0, 1) });
    const e = await scrape(metrics);
    assert.equal(reads, 2);
    assert.equal(select(e, 'xdp4slb_backend_weight').length, 1);
  });

  it('no datapath yet: the state families are empty, the event families are there', async () => {
    const e = await scrape(new AgentMetrics({ sample: () => undefined, processMetrics: false }));
    assert.deepEqual(select(e, 'xdp4slb_service_packets_total'), []);
    assert.equal(e.types.get('xdp4slb_service_packets_total'), 'counter');
    assert.equal(value(e, 'xdp4slb_conntrack_gc_runs_total'), 0);
  });
});

describe('event families', () => {
  it('counts reloads by result and reason; the last success and its time; operations and phase durations', async () => {
    let now = 1_700_000_000;
    const metrics = new AgentMetrics({ sample: () => undefined, processMetrics: false, now: () => now });
    metrics.recordReload({ reason: 'start', result: 'applied', operations: 12, loadMs: 3, planMs: 2, applyMs: 40 });
    now += 60;
    metrics.recordReload({ reason: 'file-changed', result: 'applied', operations: 2, loadMs: 1, planMs: 1, applyMs: 1 });
    let e = await scrape(metrics);
    assert.equal(value(e, 'xdp4slb_config_last_reload_successful'), 1);
    assert.equal(value(e, 'xdp4slb_config_last_reload_success_timestamp_seconds'), 1_700_000_060);
    now += 60;
    metrics.recordReload({ reason: 'file-changed', result: 'rejected' });
    e = await scrape(metrics);
    assert.equal(value(e, 'xdp4slb_config_reloads_total', { result: 'applied', reason: 'start' }), 1);
    assert.equal(value(e, 'xdp4slb_config_reloads_total', { result: 'applied', reason: 'file-changed' }), 1);
    assert.equal(value(e, 'xdp4slb_config_reloads_total', { result: 'rejected', reason: 'file-changed' }), 1);
    assert.equal(value(e, 'xdp4slb_config_last_reload_successful'), 0);
    assert.equal(value(e, 'xdp4slb_config_last_reload_success_timestamp_seconds'), 1_700_000_060, 'a rejected reload keeps the last success');
    assert.equal(value(e, 'xdp4slb_config_operations_applied_total'), 14);
    assert.equal(value(e, 'xdp4slb_config_reload_duration_seconds_count', { phase: 'apply' }), 2);
    assert.equal(value(e, 'xdp4slb_config_reload_duration_seconds_sum', { phase: 'apply' }), 0.041);
    assert.equal(value(e, 'xdp4slb_config_reload_duration_seconds_bucket', { phase: 'apply', le: '0.05' }), 2);
    assert.equal(value(e, 'xdp4slb_config_reload_duration_seconds_bucket', { phase: 'apply', le: '0.025' }), 1);
  });

  it('GC passes: runs, removals by reason, orphans, last expired, duration', async () => {
    const metrics = new AgentMetrics({ sample: () => undefined, processMetrics: false });
    metrics.recordGcPass(GC_PASS);
    metrics.recordGcPass({ ...GC_PASS, expired: 1, durationMs: 200 });
    const e = await scrape(metrics);
    assert.equal(value(e, 'xdp4slb_conntrack_gc_runs_total'), 2);
    assert.equal(value(e, 'xdp4slb_conntrack_gc_removed_total', { reason: 'expired' }), 5);
    assert.equal(value(e, 'xdp4slb_conntrack_gc_removed_total', { reason: 'purged' }), 4);
    assert.equal(value(e, 'xdp4slb_snat_orphan_tuples_freed_total'), 6);
    assert.equal(value(e, 'xdp4slb_conntrack_gc_last_expired'), 1);
    assert.equal(value(e, 'xdp4slb_conntrack_gc_duration_seconds_count'), 2);
    assert.equal(value(e, 'xdp4slb_conntrack_gc_duration_seconds_bucket', { le: '0.1' }), 1);
  });
});
