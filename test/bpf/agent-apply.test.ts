/*
 * Apply against real maps: a failing operation (a map that is full) stops
 * the apply, names the operation and its errno, and leaves every map as it
 * was before — the previous generation stays live.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, describe, it } from 'node:test';
import { DatapathMaps } from '../../src/datapath/datapath-maps.js';
import { readLiveState } from '../../src/datapath/read-live-state.js';
import { BpfObject } from '../../src/kernel/bpf-object.js';
import { applyPlan, type AddressAnnouncer } from '../../src/agent/apply-plan.js';
import { planChanges, type PlanContext } from '../../src/plan/index.js';
import { OBJECT_PATH } from '../support/datapath-fixture.js';
import { desiredState, type TestConfig, type TestService } from '../support/desired-config.js';
import { dumpConfigMaps } from '../support/map-dump.js';

/* The host side is out of scope here (test/e2e covers it): record what would be announced. */
class RecordingAnnouncer implements AddressAnnouncer {
  readonly present = new Set<string>();
  async add(addresses: readonly string[]): Promise<string[]> {
    const added = addresses.filter((a) => !this.present.has(a));
    for (const a of added) this.present.add(a);
    return added;
  }
  async remove(addresses: readonly string[]): Promise<string[]> {
    return addresses.filter((a) => this.present.delete(a));
  }
}

const service = (n: number, backends: string[]): TestService => ({
  name: `svc-${n}`,
  vip: `198.18.1.${n}`,
  scheduler: 'maglev',
  backends: backends.map((address) => ({ address })),
});

describe('applyPlan against real maps', () => {
  // lb_services holds 2 entries; the planner is told 4096, so the third insert fails in the kernel.
  const object = BpfObject.open(OBJECT_PATH, { maxEntries: { lb_services: 2 } });
  object.load();
  const maps = DatapathMaps.fromObject(object);
  const announcer = new RecordingAnnouncer();
  after(() => object.close());

  const plan = (config: TestConfig) => {
    const ctx: PlanContext = {
      limits: { maxServices: 4096, maxBackends: 65536 },
      iface: { name: 'eth0', index: 1 },
      hostAddresses: new Set(announcer.present),
      addressesInUse: new Set(),
    };
    const result = planChanges(desiredState(config), readLiveState(maps), ctx);
    assert.ok(result.ok);
    return result.operations;
  };

  const two: TestConfig = { services: [service(1, ['198.18.0.2', '198.18.0.3']), service(2, ['198.18.0.4'])] };

  it('a plan that fits applies in full', async () => {
    const operations = plan(two);
    assert.deepEqual(await applyPlan(operations, maps, announcer), { ok: true, applied: operations.length });
    assert.deepEqual(plan(two), []);
    assert.deepEqual([...announcer.present].sort(), ['198.18.0.5', '198.18.1.1', '198.18.1.2']);
  });

  it('a failing operation rolls everything back and is reported with its errno', async () => {
    const before = dumpConfigMaps(maps);
    const announcedBefore = [...announcer.present].sort();
    // Edits to service 1 (a table swap) and the pool come before the failing insert.
    const edit: TestConfig = {
      snat: { addresses: ['198.18.0.5', '198.18.0.6'] },
      services: [service(1, ['198.18.0.2', '198.18.0.3', '198.18.0.9']), service(2, ['198.18.0.4']), service(3, ['198.18.0.7'])],
    };
    const operations = plan(edit);
    const result = await applyPlan(operations, maps, announcer);
    assert.ok(!result.ok);
    assert.equal(result.operation.kind, 'put-service');
    assert.equal(result.operation.kind === 'put-service' && result.operation.name, 'svc-3');
    assert.equal(operations[result.index], result.operation);
    assert.equal(result.error.errno, os.constants.errno.E2BIG);
    assert.match(result.error.message, /lb_services|bpf_map_update_elem/);
    assert.deepEqual(result.rollbackErrors, []);
    assert.deepEqual(dumpConfigMaps(maps), before);
    assert.deepEqual([...announcer.present].sort(), announcedBefore);
    // Nothing half-applied is left for the next plan to trip over.
    assert.deepEqual(plan(two), []);
  });
});
