/*
 * The systemd unit's CapabilityBoundingSet is what the agent really needs.
 * No systemd runs here, so the agent runs as the unit would run it as far as
 * capabilities go: root with exactly that bounding set (setpriv), in a
 * namespace whose backends answer ARP, through start, a reload that swaps a
 * scheduler table, a restart and `down`. Taking capabilities away shows why
 * each is there. The kernel lets CAP_SYS_ADMIN stand in for CAP_BPF and
 * CAP_PERFMON; those two are listed for what the program itself needs, and
 * CAP_SYS_ADMIN for opening maps by id, which nothing else allows.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AGENT_BIN, AgentHost, type AgentEvent } from '../support/agent-harness.js';
import type { TestConfig } from '../support/desired-config.js';

const UNIT = fileURLToPath(new URL('../../../packaging/xdp4slb-agent.service', import.meta.url));

function unitCapabilities(): string[] {
  const line = /^CapabilityBoundingSet=(.*)$/m.exec(fs.readFileSync(UNIT, 'utf8'));
  assert.ok(line, 'the unit sets CapabilityBoundingSet=');
  return line[1]!.trim().split(/\s+/);
}

/* setpriv words that leave root with only these capabilities (bounding set; nothing inheritable). */
function restrictedTo(caps: readonly string[]): string[] {
  const list = caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');
  return ['setpriv', `--bounding-set=-all,${list}`, '--inh-caps=-all'];
}

const MAGLEV: TestConfig = {
  services: [{ name: 'web', vip: '198.18.0.10', scheduler: 'maglev', backends: [{ address: '198.18.0.2' }, { address: '198.18.0.3' }] }],
};
const REWEIGHTED: TestConfig = {
  services: [{ name: 'web', vip: '198.18.0.10', scheduler: 'maglev', backends: [{ address: '198.18.0.2', weight: 3 }, { address: '198.18.0.3' }] }],
};

const hosts: AgentHost[] = [];
after(async () => {
  for (const host of hosts) await host.destroy();
});

function hostWith(tag: string, caps: readonly string[]): AgentHost {
  const host = AgentHost.create(tag);
  hosts.push(host);
  host.launcher = restrictedTo(caps);
  host.writeConfig(MAGLEV);
  return host;
}

/* The edit that swaps the table, then SIGHUP as `systemctl reload` (ExecReload) sends it. */
function editAndReload(host: AgentHost): void {
  host.writeConfig(REWEIGHTED);
  host.signal('SIGHUP');
}

const isReload = (e: AgentEvent): boolean => e.event === 'reload';

describe('the unit\'s capability set', () => {
  it('names CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON and CAP_SYS_ADMIN', () => {
    assert.deepEqual([...unitCapabilities()].sort(), ['CAP_BPF', 'CAP_NET_ADMIN', 'CAP_PERFMON', 'CAP_SYS_ADMIN']);
  });

  it('is enough to start, swap a scheduler table on reload, restart without writes and go down', async () => {
    const caps = unitCapabilities();
    const host = hostWith('pcap', caps);
    await host.start();
    const start = await host.waitFor((e) => isReload(e) && e.reason === 'start');
    assert.equal(start.result, 'applied', JSON.stringify(start));
    const from = host.events.length;
    editAndReload(host);
    const reload = await host.nextReload(from, 10_000);
    assert.equal(reload.result, 'applied', JSON.stringify(reload));
    assert.equal(await host.stop(), 0);

    const restartFrom = host.events.length;
    await host.start();
    const restart = await host.waitFor((e) => isReload(e) && e.reason === 'start', 15_000, restartFrom);
    assert.equal(restart.result, 'applied', JSON.stringify(restart));
    assert.equal(restart.operations, 0, 'a restart with the same file writes nothing');
    assert.equal(await host.stop(), 0);

    const down = spawnSync('nsenter', [`--net=/run/netns/${host.netns}`, ...restrictedTo(caps), AGENT_BIN, 'down', '--pin-path', host.pinPath], { encoding: 'utf8' });
    assert.equal(down.status, 0, down.stderr);
    assert.match(down.stdout, /detached the XDP program/);
  });

  it('needs CAP_SYS_ADMIN: without it a table swap cannot open the live table', async () => {
    const host = hostWith('pnosa', unitCapabilities().filter((c) => c !== 'CAP_SYS_ADMIN'));
    await host.start();
    const from = host.events.length;
    editAndReload(host);
    const reload = await host.nextReload(from, 10_000);
    assert.notEqual(reload.result, 'applied', `expected EPERM from opening a map by id: ${JSON.stringify(reload)}`);
    assert.match(JSON.stringify(reload), /bpf_map_get_fd_by_id.*EPERM/);
  });

  it('needs CAP_PERFMON (or CAP_SYS_ADMIN): without either the verifier refuses the program', async () => {
    const host = hostWith('pnope', unitCapabilities().filter((c) => c !== 'CAP_PERFMON' && c !== 'CAP_SYS_ADMIN'));
    await host.start();
    const exit = await Promise.race([host.exitCode(), new Promise<string>((r) => setTimeout(() => r('still running'), 20_000))]);
    assert.ok(exit !== 0 && exit !== 'still running', `the agent should have refused to start (exit: ${exit})`);
    assert.ok(host.events.some((e) => e.code === 'EBPF_LOAD'), host.events.map((e) => JSON.stringify(e)).join('\n'));
  });
});
