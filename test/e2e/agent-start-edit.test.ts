/*
 * A config saved while the agent is starting (after its first read of the
 * file, before its watch begins) must not be lost: once the agent watches
 * the file it makes sure what is live is what is on disk. Without that, the
 * edit stays unapplied until the next one, however long that takes.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { readLiveState } from '../../src/datapath/read-live-state.js';
import { AgentHost } from '../support/agent-harness.js';
import { desiredState, type TestConfig } from '../support/desired-config.js';
import { desiredView, liveView } from '../support/simulate-apply.js';

const FIRST: TestConfig = { interface: 'lb0', xdp_mode: 'generic', services: [{ name: 'web', vip: '198.18.0.10', backends: [{ address: '198.18.0.2' }] }] };
const EDITED: TestConfig = { ...FIRST, services: [{ ...FIRST.services[0]!, backends: [{ address: '198.18.0.2' }, { address: '198.18.0.3' }] }] };

describe('an edit saved while the agent starts', { timeout: 60_000 }, () => {
  const host = AgentHost.create('cnse');
  after(() => host.destroy());

  it('is applied once the agent watches the file', async () => {
    host.writeConfig(FIRST);
    const starting = host.start();
    // Logged after the first read of the file; the neighbour loop's first round and the
    // initial reconcile (well over 50 ms) still come before the agent watches the file.
    await host.waitFor((e) => e.event === 'attached', 15_000);
    host.writeConfig(EDITED);
    await starting;
    const started = host.events.find((e) => e.event === 'reload' && e.reason === 'start');
    assert.equal(started?.result, 'applied', JSON.stringify(host.events));

    const reload = await host.nextReload(0, 5_000);
    assert.equal(reload.result, 'applied', JSON.stringify(host.events));
    const maps = host.maps();
    try {
      assert.deepEqual(liveView(readLiveState(maps)), desiredView(desiredState(EDITED)));
    } finally {
      maps.close();
    }
  });
});
