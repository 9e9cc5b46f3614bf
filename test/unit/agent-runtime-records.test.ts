// The agent's runtime records (src/agent/runtime-records.ts) on plain maps:
// what is written when, that unchanged records are not rewritten, that a
// change keeps its time, that records of removed backends go, and that no
// timer outlives stop().
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LbHealth, LbReloadResult, LbResolution, type LbAgentRun, type LbBackendMeta, type LbBackendRuntime, type LbServiceMeta } from '../../src/datapath/codecs.js';
import { RuntimeRecords, resolutionCode, type RecordMaps } from '../../src/agent/runtime-records.js';
import type { HealthState } from '../../src/loops/health-checker.js';
import type { NeighborResolution } from '../../src/loops/neighbor-decision.js';
import type { GcPassStats } from '../../src/loops/conntrack-gc.js';
import { countingTimers } from '../support/counting-timers.js';
import { createLogger } from '../../src/agent/logger.js';
import { desiredState } from '../support/desired-config.js';

const WEB: LbServiceMeta = { vip: '198.18.0.10', port: 80, proto: 6, scheduler: 0, tableMapId: 1, tableDigest: 0n, name: 'web' };
const meta = (ip: string): LbBackendMeta => ({ ip, port: 80, weight: 1, serviceId: 0, admin: 0 });

class FakeMaps implements RecordMaps {
  backends = new Map([
    [0, meta('198.18.0.2')],
    [1, meta('198.18.0.3')],
  ]);
  runtimes = new Map<number, LbBackendRuntime>();
  run: LbAgentRun | undefined;
  puts: number[][] = [];
  serviceMetas = (): Map<number, LbServiceMeta> => new Map([[0, WEB]]);
  backendMetas = (): Map<number, LbBackendMeta> => new Map(this.backends);
  backendRuntimes = (): Map<number, LbBackendRuntime> => new Map(this.runtimes);
  putBackendRuntimes = (entries: readonly { id: number; runtime: LbBackendRuntime }[]): void => {
    this.puts.push(entries.map((e) => e.id));
    for (const e of entries) this.runtimes.set(e.id, e.runtime);
  };
  deleteBackendRuntimes = (ids: readonly number[]): number => ids.filter((id) => this.runtimes.delete(id)).length;
  putAgentRun = (run: LbAgentRun): void => {
    this.run = { ...run };
  };
}

function world() {
  const maps = new FakeMaps();
  const health = new Map<string, HealthState>([
    ['198.18.0.10:80/tcp|198.18.0.2:80', 'healthy'],
    ['198.18.0.10:80/tcp|198.18.0.3:80', 'unknown'],
  ]);
  const resolutions = new Map<string, NeighborResolution>([['198.18.0.2', { state: 'resolved', mac: '02:00:00:00:00:02' }]]);
  let now = 1_000n;
  const timers = countingTimers();
  const records = new RuntimeRecords(
    maps,
    { health: (s, b) => health.get(`${s}|${b}`) ?? 'unchecked', resolution: (a) => resolutions.get(a) ?? { state: 'unresolved' } },
    { timers, clock: () => now, log: createLogger({ level: 'silent' }) },
  );
  return { maps, health, resolutions, records, timers, tick: (ns: bigint) => (now += ns) };
}

const STATE = desiredState({ services: [] });

/** A world whose agent has applied its first plan (backend records are written from then on). */
function started() {
  const w = world();
  w.records.reloaded('applied', 0, { live: STATE, backendsChanged: false });
  return w;
}

const gcPass = (active: [number, number][]): GcPassStats => ({
  scanned: 7,
  expired: 2,
  released: 1,
  purged: 0,
  orphansFreed: 1,
  durationMs: 1.5,
  entries: 4,
  capacity: 100,
  activeByBackend: new Map(active),
  snatInUse: new Map(),
});

describe('RuntimeRecords', () => {
  it('writes no backend record before the first plan is applied (the loops are still settling)', () => {
    const w = world();
    w.maps.runtimes.set(0, { changedNs: 7n, activeConns: 9, health: LbHealth.healthy, resolution: LbResolution.resolved });
    w.records.backendsChanged();
    w.records.flush();
    assert.deepEqual(w.maps.puts, []);
    assert.equal(w.maps.run!.reloadResult, LbReloadResult.none, 'the agent record is written at once');
    w.records.reloaded('applied', 0, { live: STATE, backendsChanged: false });
    w.records.flush();
    assert.deepEqual(w.maps.puts, [[1]], 'then every record that differs');
    w.records.stop();
  });

  it('records every backend once, then only what changes, keeping the time of the last change', () => {
    const w = started();
    w.records.flush();
    assert.deepEqual(w.maps.puts, [[0, 1]]);
    assert.deepEqual(w.maps.runtimes.get(0), { changedNs: 1_000n, activeConns: 0, health: LbHealth.healthy, resolution: LbResolution.resolved });
    assert.deepEqual(w.maps.runtimes.get(1), { changedNs: 1_000n, activeConns: 0, health: LbHealth.unknown, resolution: LbResolution.pending });

    w.tick(500n);
    w.records.backendsChanged();
    w.records.flush();
    assert.deepEqual(w.maps.puts, [[0, 1]], 'nothing changed: nothing written');

    w.health.set('198.18.0.10:80/tcp|198.18.0.3:80', 'unhealthy');
    w.records.backendsChanged();
    w.records.flush();
    assert.deepEqual(w.maps.puts.at(-1), [1]);
    assert.equal(w.maps.runtimes.get(1)!.changedNs, 1_500n);
    assert.equal(w.maps.runtimes.get(0)!.changedNs, 1_000n);

    w.records.gcPass(gcPass([[0, 3]]));
    w.records.flush();
    assert.deepEqual(w.maps.puts.at(-1), [0], 'active connections of backend 0 only');
    assert.deepEqual([w.maps.runtimes.get(0)!.activeConns, w.maps.runtimes.get(0)!.changedNs], [3, 1_000n], 'a new count is no state change');
    assert.deepEqual(
      [w.maps.run!.gcPasses, w.maps.run!.gcScanned, w.maps.run!.gcExpired, w.maps.run!.gcRemoved, w.maps.run!.gcEntries, w.maps.run!.gcDurationNs],
      [1n, 7, 2, 2, 4, 1_500_000n],
    );
    w.records.stop();
    assert.equal(w.timers.live.size, 0);
  });

  it('compares only what can have changed: after a GC pass the backends it or the one before counted, after a reload that kept every backend none', () => {
    const w = started();
    w.records.gcPass(gcPass([]));
    w.records.flush();
    assert.deepEqual(w.maps.puts, [[0, 1]], "the first pass compares every record (a predecessor's counts)");
    // Changed without telling the records: only a comparison of backend 1 would see it.
    w.health.set('198.18.0.10:80/tcp|198.18.0.3:80', 'unhealthy');
    w.records.gcPass(gcPass([[0, 3]]));
    w.records.flush();
    assert.deepEqual(w.maps.puts.at(-1), [0]);
    w.records.gcPass(gcPass([]));
    w.records.flush();
    assert.deepEqual([w.maps.puts.at(-1), w.maps.runtimes.get(0)!.activeConns], [[0], 0], 'counted by the pass before: back to 0');
    w.records.reloaded('applied', 2, { live: STATE, backendsChanged: false });
    w.records.flush();
    assert.equal(w.maps.puts.length, 3, 'a weight edit compares no backend');
    w.records.backendsChanged();
    w.records.flush();
    assert.deepEqual(w.maps.puts.at(-1), [1]);
    w.records.stop();
  });

  it('a reload that changed something reads the ids again and drops the records of backends gone', () => {
    const w = started();
    w.records.flush();
    w.maps.backends.delete(1);
    w.maps.backends.set(2, meta('198.18.0.4'));
    w.records.reloaded('applied', 3, { live: STATE, backendsChanged: true });
    w.records.flush();
    assert.deepEqual([...w.maps.runtimes.keys()].sort(), [0, 2]);
    const run = w.maps.run!;
    assert.deepEqual([run.reloadResult, run.reloadOperations, run.reloadsApplied, run.pid], [LbReloadResult.applied, 3, 2, process.pid]);
    assert.match(run.configDigest.toString(16), /^[0-9a-f]+$/);
    assert.notEqual(run.configDigest, 0n);
    w.records.reloaded('rejected', 0);
    w.records.flush();
    assert.deepEqual([w.maps.run!.reloadResult, w.maps.run!.reloadsRejected, w.maps.run!.configDigest], [LbReloadResult.rejected, 1, run.configDigest]);
    w.records.stop();
  });

  it('a restarted agent adopts the records it finds: unchanged ones are not rewritten', () => {
    const w = started();
    w.maps.runtimes.set(0, { changedNs: 7n, activeConns: 9, health: LbHealth.healthy, resolution: LbResolution.resolved });
    w.maps.runtimes.set(5, { changedNs: 7n, activeConns: 1, health: LbHealth.healthy, resolution: LbResolution.resolved });
    w.records.flush();
    assert.deepEqual(w.maps.puts, [[1]]);
    assert.equal(w.maps.runtimes.has(5), false, 'a record of no backend goes');
    assert.equal(w.maps.runtimes.get(0)!.activeConns, 9, "the last figure stands until this agent's first GC pass");
    w.records.stop();
  });

  it('flushes on its own, once per turn of the event loop, and never after stop()', async () => {
    const w = started();
    w.records.backendsChanged();
    w.records.backendsChanged();
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(w.maps.puts, [[0, 1]]);
    w.health.set('198.18.0.10:80/tcp|198.18.0.2:80', 'unhealthy');
    w.records.backendsChanged();
    w.records.stop();
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(w.maps.puts, [[0, 1]]);
    assert.equal(w.timers.live.size, 0);
  });

  it('resolution codes', () => {
    assert.deepEqual(
      [
        { state: 'resolved', mac: '02:00:00:00:00:01' },
        { state: 'unresolved' },
        { state: 'unresolved', reason: 'no-route' },
        { state: 'unresolved', reason: 'other-interface' },
        { state: 'unresolved', reason: 'no-answer' },
      ].map((r) => resolutionCode(r as NeighborResolution)),
      [LbResolution.resolved, LbResolution.pending, LbResolution.no_route, LbResolution.other_iface, LbResolution.no_answer],
    );
  });
});
