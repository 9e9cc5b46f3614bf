/*
 * Signals that arrive while the agent is still starting (systemd's reload
 * right after its start, a stop during a slow load) are handled, not left to
 * Node's default action, which would kill the agent: a SIGHUP reloads once
 * the start is done, a SIGTERM stops it cleanly (exit 0, datapath pinned).
 * The 'attached' event is logged halfway through the start.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { AgentHost } from '../support/agent-harness.js';
import type { TestConfig } from '../support/desired-config.js';

const CONFIG: TestConfig = { services: [{ name: 'web', vip: '198.18.0.10', backends: [{ address: '198.18.0.2' }] }] };

const hosts: AgentHost[] = [];
after(async () => {
  for (const host of hosts) await host.destroy();
});

function startingHost(tag: string): { host: AgentHost; started: Promise<void> } {
  const host = AgentHost.create(tag);
  hosts.push(host);
  host.writeConfig(CONFIG);
  return { host, started: host.start() };
}

describe('signals during the start', () => {
  it('a SIGHUP reloads after the start instead of killing the agent', async () => {
    const { host, started } = startingHost('esh');
    await host.waitFor((e) => e.event === 'attached', 15_000);
    host.signal('SIGHUP');
    await started;
    const reload = await host.waitFor((e) => e.event === 'reload' && e.reason === 'SIGHUP', 10_000);
    assert.equal(reload.result, 'applied', JSON.stringify(reload));
    assert.equal(await host.stop(), 0, 'the agent was still running and stopped cleanly');
  });

  it('a SIGTERM stops the agent cleanly once it has started', async () => {
    const { host, started } = startingHost('est');
    await host.waitFor((e) => e.event === 'attached', 15_000);
    host.signal('SIGTERM');
    await started;
    assert.equal(await host.exitCode(), 0);
    assert.ok(host.events.some((e) => e.event === 'stopping'), 'the agent logged its stop');
    assert.ok(fs.existsSync(`${host.pinPath}/link`), 'the datapath stays pinned');
  });
});
