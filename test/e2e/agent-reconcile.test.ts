/*
 * The agent as operators run it, in a namespace: apply, hot reload, bad
 * edits, restart-only settings, SIGHUP, SIGKILL and restart, repairs of
 * entries changed behind its back, and `down`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { readLiveState } from '../../src/datapath/read-live-state.js';
import { buildSchedulerTable } from '../../src/sched/index.js';
import { AgentHost } from '../support/agent-harness.js';
import { desiredState, configText, type TestConfig, type TestService } from '../support/desired-config.js';
import { changedEntries, dumpConfigMaps, type MapDump } from '../support/map-dump.js';
import { desiredView, liveView } from '../support/simulate-apply.js';

const WEB: TestService = {
  name: 'web',
  vip: '198.18.0.10',
  backends: [{ address: '198.18.0.2' }, { address: '198.18.0.3' }],
};
const DNS: TestService = {
  name: 'dns',
  vip: '198.18.0.11',
  port: 53,
  protocol: 'udp',
  scheduler: 'maglev',
  backends: [{ address: '198.18.0.2', port: 53 }, { address: '198.18.0.4', port: 53, weight: 3 }],
};
const BASE: TestConfig = { interface: 'lb0', xdp_mode: 'generic', services: [WEB, DNS] };

function dump(host: AgentHost): MapDump {
  const maps = host.maps();
  try {
    return dumpConfigMaps(maps);
  } finally {
    maps.close();
  }
}

function xdpAttached(host: AgentHost): boolean {
  return /prog\/xdp id \d+|xdpgeneric/.test(host.ip('link', 'show', 'dev', 'lb0'));
}

describe('agent in a namespace', { timeout: 120_000 }, () => {
  const host = AgentHost.create('agent');
  before(async () => {
    host.writeConfig(BASE);
    await host.start();
  });
  after(() => host.destroy());

  it('applies the config: the live state read back equals the desired state', () => {
    const started = host.events.find((e) => e.event === 'reload' && e.reason === 'start');
    assert.equal(started?.result, 'applied', JSON.stringify(host.events));
    const maps = host.maps();
    try {
      const live = readLiveState(maps);
      assert.deepEqual(liveView(live), desiredView(desiredState(BASE)));
      for (const service of live.services) {
        const desired = desiredState(BASE).services.find((s) => s.id === service.id)!;
        const ids = new Map(live.backends.filter((b) => b.serviceNum === service.num).map((b) => [`${b.address}:${b.port}`, b.num]));
        const expected = buildSchedulerTable(
          desired.scheduler,
          desired.backends.map((b) => ({ id: ids.get(b.id)!, key: b.id, weight: b.weight })),
        );
        assert.deepEqual(maps.schedulerTable(service.num), expected, service.id);
      }
    } finally {
      maps.close();
    }
    assert.ok(xdpAttached(host));
    const addresses = host.ip('-4', '-o', 'addr', 'show', 'dev', 'lb0');
    for (const a of ['198.18.0.10/32', '198.18.0.11/32', '198.18.0.5/32']) assert.match(addresses, new RegExp(a.replace(/\./g, '\\.')));
  });

  it('--dry-run against the live state prints 0 operations', () => {
    const res = host.cli('--dry-run', '--config', host.configPath);
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout, '0 operations\n');
  });

  it('picks up an atomic save within one second; reordering the YAML changes nothing', async () => {
    const before = dump(host);
    const from = host.events.length;
    const saved = Date.now();
    host.writeConfig({ ...BASE, services: [{ ...DNS, backends: [...DNS.backends].reverse() }, WEB] });
    const reload = await host.nextReload(from, 2_000);
    assert.ok(Date.parse(String(reload.time)) - saved < 1_000, `reload ${Date.parse(String(reload.time)) - saved} ms after the save`);
    assert.equal(reload.operations, 0);
    assert.deepEqual(dump(host), before);
  });

  it('an edit of one backend changes only that backend, its table and its service record', async () => {
    const before = dump(host);
    const from = host.events.length;
    host.writeConfig({ ...BASE, services: [{ ...WEB, backends: [...WEB.backends, { address: '198.18.0.6' }] }, DNS] });
    // The reload waits (at most a second) for the new backend's MAC: then it is published and joins its
    // service's table in that reload; else it is published at once and joins at the refresh that resolves it.
    const reload = await host.nextReload(from);
    assert.equal(reload.result, 'applied');
    if (reload.operations !== 2) {
      assert.equal(reload.operations, 1, JSON.stringify(reload));
      const joined = await host.waitFor((e) => e.event === 'reload' && e.reason === 'neighbors' && Number(e.operations) > 0, 5_000, from);
      assert.equal(joined.operations, 1);
    }
    const after = dump(host);
    const webNum = Object.entries(after.lb_svc_meta!).find(([, m]) => (m as { name: string }).name === 'web')![0];
    const added = Object.entries(after.lb_be_meta!).find(([, m]) => (m as { ip: string }).ip === '198.18.0.6')![0];
    assert.deepEqual(changedEntries(before, after), [
      `lb_backends[${added}]`,
      `lb_be_meta[${added}]`,
      `lb_sched[${webNum}]`,
      `lb_svc_meta[${webNum}]`,
    ]);
  });

  it('rejects every bad edit with its position and changes nothing live; the next good edit applies', async () => {
    const reverted = host.events.length;
    host.writeConfig(BASE);
    await host.nextApplied(reverted);
    const before = dump(host);
    const good = configText(BASE);
    const bad: [string, string | null, RegExp][] = [
      ['YAML syntax error', good.replace('services:', 'services: [\n'), /YAML/],
      ['wrong type', good.replace(/port: 53/, 'port: "fifty-three"'), /services\[0\]\.port|port/],
      ['unknown key', good.replace('name: web', 'name: web\n    schedular: maglev'), /schedular/],
      ['duplicate service name', good.replace('name: dns', 'name: web'), /duplicate/],
      ['duplicate vip, port, protocol', configText({ ...BASE, services: [WEB, { ...DNS, vip: WEB.vip, port: 80, protocol: 'tcp' }] }), /duplicate/],
      ['duplicate backend', good.replace('address: 198.18.0.3', 'address: 198.18.0.2'), /duplicate/],
      ['invalid address', good.replace('address: 198.18.0.3', 'address: 198.18.0.300'), /address/],
      ['port 0', good.replace(/port: 53\n/, 'port: 0\n'), /port/],
      ['port above 65535', good.replace(/port: 53\n/, 'port: 65536\n'), /port/],
      ['SNAT pool overlapping the local port range', good.replace('10000-32767', '30000-40000'), /local port range/],
      ['SNAT address equal to a VIP', good.replace('- 198.18.0.5', '- 198.18.0.10'), /VIP/],
      ['empty file', '', /empty/],
      ['file missing', null, /no such file/],
    ];
    for (const [what, text, message] of bad) {
      const from = host.events.length;
      if (text === null) fs.rmSync(host.configPath);
      else host.writeConfig(text);
      const reload = await host.nextReload(from);
      assert.equal(reload.result, 'rejected', `${what}: ${JSON.stringify(reload)}`);
      assert.match(String(reload.msg), message, what);
      assert.equal(reload.file, host.configPath, what);
      if (text !== null && text !== '') assert.ok(Number(reload.line) >= 1 && Number(reload.col) >= 1, `${what}: no position`);
      assert.deepEqual(dump(host), before, what);
    }
    const from = host.events.length;
    host.writeConfig({ ...BASE, services: [{ ...WEB, scheduler: 'weighted_round_robin' }, DNS] });
    const reload = await host.nextReload(from);
    assert.equal(reload.result, 'applied');
    assert.equal(reload.operations, 1);
  });

  it('rejects a change of a restart-only setting, saying how to apply it', async () => {
    const before = dump(host);
    for (const [config, setting] of [
      [{ ...BASE, interface: 'lo' }, 'interface'],
      [{ ...BASE, xdp_mode: 'native' }, 'xdp_mode'],
      [{ ...BASE, conntrack: { max_entries: 4096 } }, 'conntrack.max_entries'],
    ] as const) {
      const from = host.events.length;
      host.writeConfig(config);
      const reload = await host.nextReload(from);
      assert.equal(reload.result, 'rejected', setting);
      assert.deepEqual(reload.settings, [setting]);
      assert.match(String(reload.msg), /restart.*xdp4slb-agent down/);
      assert.deepEqual(dump(host), before, setting);
    }
    const from = host.events.length;
    host.writeConfig(BASE);
    await host.nextApplied(from);
  });

  it('SIGHUP reloads', async () => {
    const from = host.events.length;
    host.signal('SIGHUP');
    const reload = await host.nextReload(from);
    assert.equal(reload.reason, 'SIGHUP');
  });

  it('after SIGKILL the datapath stays attached, and a restart with the same config writes nothing', async () => {
    const before = dump(host);
    assert.equal(await host.stop('SIGKILL'), null);
    assert.ok(xdpAttached(host), 'XDP program detached with the agent');
    await host.start();
    const attached = [...host.events].reverse().find((e) => e.event === 'attached');
    assert.equal(attached?.resumed, true);
    const reload = [...host.events].reverse().find((e) => e.event === 'reload');
    assert.equal(reload?.operations, 0);
    assert.deepEqual(dump(host), before);
  });

  it('--dry-run shows the repair of entries changed behind its back, and a reload makes it', async () => {
    const before = dump(host);
    const backend = Object.keys(before.lb_be_meta!)[0]!;
    const key = Buffer.alloc(4);
    key.writeUInt32LE(Number(backend));
    const hex = (b: Buffer): string[] => [...b].map((x) => x.toString(16).padStart(2, '0'));
    // 198.18.0.99:81 instead of the configured address and port.
    execFileSync('bpftool', ['map', 'update', 'pinned', `${host.pinPath}/lb_backends`, 'key', 'hex', ...hex(key), 'value', 'hex', 'c6', '12', '00', '63', '00', '51', '00', '00']);
    execFileSync('bpftool', ['map', 'delete', 'pinned', `${host.pinPath}/lb_services`, 'key', 'hex', 'c6', '12', '00', '0a', '00', '50', '06', '00']);
    const res = host.cli('--dry-run', '--config', host.configPath);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`^! backend #${backend} `, 'm'));
    assert.match(res.stdout, /^! service #\d+ web 198\.18\.0\.10:80\/tcp$/m);
    assert.match(res.stdout, /\n2 operations\n$/);
    assert.notDeepEqual(dump(host), before);
    const from = host.events.length;
    host.signal('SIGHUP');
    const reload = await host.nextReload(from);
    assert.equal(reload.operations, 2);
    assert.deepEqual(dump(host), before);
  });

  it('down detaches, removes the pins and only the addresses it announced; a second down is a no-op', async () => {
    host.ip('addr', 'add', '198.18.0.77/32', 'dev', 'lb0');
    await host.stop('SIGTERM');
    assert.equal(await host.exitCode(), 0);
    assert.ok(xdpAttached(host), 'SIGTERM must leave the datapath forwarding');
    const res = host.cli('down');
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /detached the XDP program/);
    assert.ok(!xdpAttached(host));
    assert.ok(!fs.existsSync(host.pinPath));
    const addresses = host.ip('-4', '-o', 'addr', 'show', 'dev', 'lb0');
    assert.doesNotMatch(addresses, /198\.18\.0\.(10|11|5)\//);
    assert.match(addresses, /198\.18\.0\.77\/32/);
    assert.match(addresses, /198\.18\.0\.1\/24/);
    const again = host.cli('down');
    assert.equal(again.status, 0);
    assert.match(again.stdout, /nothing attached/);
  });
});

describe('agent start-up refusals', { timeout: 60_000 }, () => {
  const host = AgentHost.create('agent-refuse');
  after(() => host.destroy());

  it('an invalid config at start: exit 1, nothing attached', async () => {
    host.writeConfig(configText(BASE).replace('name: web', 'nmae: web'));
    await host.start();
    assert.equal(await host.exitCode(), 1);
    assert.ok(!xdpAttached(host));
    assert.ok(!fs.existsSync(host.pinPath));
    assert.ok(host.events.some((e) => e.event === 'reload' && e.result === 'rejected' && /nmae/.test(String(e.msg))));
  });

  it('a pin path that is not on bpffs is refused with a clear error', async () => {
    host.writeConfig(BASE);
    const notBpffs = fs.mkdtempSync('/tmp/xlb-pins-');
    try {
      const res = host.cli('--pin-path', notBpffs, '--config', host.configPath);
      assert.equal(res.status, 1);
      assert.match(res.stdout, /not on the host's bpffs/);
      assert.ok(!xdpAttached(host));
    } finally {
      fs.rmSync(notBpffs, { recursive: true, force: true });
    }
  });
});
