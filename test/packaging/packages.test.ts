/*
 * The packages as operators get them: `packaging/build-packages.mjs` (what
 * `npm run package` runs after the build) builds the .deb and the .rpm once;
 * both are inspected; the .deb is installed on this machine, runs the real
 * agent, is upgraded over itself and purged; the Ansible role is applied to
 * localhost with a valid and an invalid set of variables.
 *
 * This machine is changed only for the duration: the test refuses to start if
 * xdp4slb is already installed or something is pinned at the default pin path
 * (/sys/fs/bpf/xdp4slb, which the installed package's `down` manages), and
 * purges the package in after() also when a step failed. No systemd runs
 * here: service start and reload are covered as README's "Install" says.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readAgentEvents, type AgentEvent } from '../../demo/agent-events.js';
import { createNetnsWithVeth, deleteNetns, mountBpffs } from '../support/netns.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const DEB = path.join(REPO, `build/packages/xdp4slb_${VERSION}_amd64.deb`);
const RPM = path.join(REPO, `build/packages/xdp4slb-${VERSION}-1.x86_64.rpm`);
const DEFAULT_PINS = '/sys/fs/bpf/xdp4slb';
const CONFIG = '/etc/xdp4slb/config.yaml';
const UNIT = '/usr/lib/systemd/system/xdp4slb-agent.service';
const ENABLED_LINK = '/etc/systemd/system/multi-user.target.wants/xdp4slb-agent.service';
const DSH_STATE = '/var/lib/systemd/deb-systemd-helper-enabled/xdp4slb-agent.service.dsh-also';
const NETNS = `xpk-${process.pid}`;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Run {
  const res = spawnSync(command, args, { encoding: 'utf8', timeout: options.timeout ?? 120_000, killSignal: 'SIGKILL', ...options });
  if (res.error) throw res.error;
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Run and require exit 0; the assertion message carries the output. */
function ok(command: string, args: string[], options?: Parameters<typeof run>[2]): string {
  const res = run(command, args, options);
  assert.equal(res.status, 0, `${command} ${args.join(' ')} exited ${res.status}:\n${res.stdout}${res.stderr}`);
  return res.stdout;
}

function installed(): boolean {
  return run('dpkg-query', ['-W', '-f', '${db:Status-Status}', 'xdp4slb']).stdout === 'installed';
}

function purge(): void {
  if (run('dpkg-query', ['-W', 'xdp4slb']).status === 0) run('dpkg', ['--purge', 'xdp4slb']);
}

/* Payload paths as "/path" (directories end in "/") → symlink target or ''. */
function debEntries(): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of ok('dpkg-deb', ['-c', DEB]).trim().split('\n')) {
    const m = /^(\S)\S+\s+\S+\s+\d+\s+\S+\s+\S+\s+\.(\/.*?)(?: -> (.+))?$/.exec(line);
    assert.ok(m, `unexpected dpkg-deb -c line: ${line}`);
    entries.set(m[2]!, m[3] ?? '');
  }
  return entries;
}

/* The npm packages the lock file installs without dev dependencies on linux/x64. */
function productionModules(): string[] {
  const lock = JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; os?: string[]; cpu?: string[]; libc?: string[] }>;
  };
  const fits = (list: string[] | undefined, value: string): boolean => list === undefined || list.includes(value);
  return Object.entries(lock.packages)
    .filter(([key, p]) => key.startsWith('node_modules/') && !p.dev && fits(p.os, 'linux') && fits(p.cpu, 'x64'))
    .map(([key]) => key.slice('node_modules/'.length))
    .sort();
}

before(() => {
  assert.ok(!installed(), 'xdp4slb is installed on this machine: this test installs and purges it, so it will not run here');
  assert.ok(!fs.existsSync(DEFAULT_PINS), `${DEFAULT_PINS} exists: a datapath is live at the default pin path, which the package's \`down\` would take`);
  ok(process.execPath, [path.join(REPO, 'packaging/build-packages.mjs')], { cwd: REPO, timeout: 300_000 });
});

after(() => {
  purge();
  if (fs.existsSync(DEFAULT_PINS)) run(process.execPath, [path.join(REPO, 'bin/xdp4slb-agent'), 'down']);
  deleteNetns(NETNS);
});

describe('the .deb', () => {
  it('carries the built agent, the production modules only, and the files an operator needs', () => {
    const entries = debEntries();
    const lib = '/usr/lib/xdp4slb';
    for (const file of [
      `${lib}/dist/src/cli/main.js`,
      `${lib}/build/bpf/xdp4slb.bpf.o`,
      `${lib}/schemas/config.schema.json`,
      `${lib}/package.json`,
      `${lib}/bin/xdp4slb-agent`,
      CONFIG,
      UNIT,
      '/usr/share/man/man8/xdp4slb-agent.8.gz',
      '/usr/share/doc/xdp4slb/copyright',
      '/usr/share/doc/xdp4slb/LICENSE',
      '/usr/share/doc/xdp4slb/LICENSES/GPL-2.0.txt',
      '/usr/share/doc/xdp4slb/LICENSES/BSD-2-Clause.txt',
    ]) {
      assert.ok(entries.has(file), `${file} is not in the .deb`);
    }
    assert.equal(entries.get('/usr/bin/xdp4slb-agent'), '../lib/xdp4slb/bin/xdp4slb-agent');
    const stray = [...entries.keys()].filter(
      (p) => /^\/usr\/lib\/xdp4slb\/dist\/(?!src\/|$)|^\/usr\/lib\/xdp4slb\/dist\/.*\.map$|^\/usr\/lib\/xdp4slb\/build\/bpf\/(?!xdp4slb\.bpf\.o$)./.test(p),
    );
    assert.deepEqual(stray, [], 'compiled tests, benchmarks, the demo, source maps and benchmark objects stay out');

    const modules = [...entries.keys()]
      .map((p) => /^\/usr\/lib\/xdp4slb\/node_modules\/((?:@[^/]+\/)?[^/@.][^/]*(?:\/node_modules\/(?:@[^/]+\/)?[^/]+)*)\/package\.json$/.exec(p)?.[1])
      .filter((m): m is string => m !== undefined)
      .sort();
    assert.deepEqual(modules, productionModules());
    for (const dev of ['typescript', 'fast-check', '@types/node']) assert.ok(!modules.includes(dev), `${dev} is a dev dependency`);
  });

  it('declares its dependencies, the config as a conffile, and the maintainer scripts', () => {
    assert.equal(ok('dpkg-deb', ['-f', DEB, 'Package']).trim(), 'xdp4slb');
    assert.equal(ok('dpkg-deb', ['-f', DEB, 'Version']).trim(), VERSION);
    assert.equal(ok('dpkg-deb', ['-f', DEB, 'Architecture']).trim(), 'amd64');
    assert.equal(ok('dpkg-deb', ['-f', DEB, 'Depends']).trim(), 'nodejs (>= 20), libbpf1, iproute2');
    assert.equal(ok('dpkg-deb', ['-I', DEB, 'conffiles']).trim(), CONFIG);
    const info = ok('dpkg-deb', ['-I', DEB]);
    for (const script of ['postinst', 'prerm', 'postrm']) assert.match(info, new RegExp(`\\s\\*\\s+${script}\\s+#!/bin/sh`));
  });

  it('ships native code for x86-64 glibc only (koffi carries other builds)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xpk-deb-'));
    try {
      ok('dpkg-deb', ['-x', DEB, dir]);
      const natives = ok('find', [dir, '-name', '*.node', '-o', '-name', '*.so*']).trim().split('\n').filter(Boolean);
      assert.ok(natives.length > 0, 'koffi needs its native module');
      for (const file of natives) {
        const elf = fs.readFileSync(file);
        assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF', `${file} is not ELF`);
        assert.equal(elf.readUInt16LE(18), 62, `${file} is not x86-64 (e_machine ${elf.readUInt16LE(18)})`);
        assert.ok(!elf.includes('libc.musl'), `${file} needs musl`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the .rpm', () => {
  it('holds the same files as the .deb, with the config %config(noreplace)', () => {
    const rpmFiles = new Map(
      ok('rpm', ['-qp', '--qf', '[%{FILENAMES}\\t%{FILEMODES:perms}\\t%{FILEFLAGS:fflags}\\n]', RPM])
        .trim().split('\n').map((line) => line.split('\t'))
        .map(([name, perms, flags]) => [name!, { dir: perms!.startsWith('d'), flags: flags! }]),
    );
    const debFiles = [...debEntries().keys()].filter((p) => !p.endsWith('/')).sort();
    assert.deepEqual([...rpmFiles].filter(([, f]) => !f.dir).map(([name]) => name).sort(), debFiles);
    assert.equal(rpmFiles.get(CONFIG)?.flags, 'cn', 'config.yaml is %config(noreplace)');
    assert.equal(ok('rpm', ['-qp', '--configfiles', RPM]).trim(), CONFIG);
  });

  it('is named NAME-VERSION-RELEASE.x86_64 and requires only what it declares', () => {
    const info = ok('rpm', ['-qip', RPM]);
    assert.match(info, /^Name\s*: xdp4slb$/m);
    assert.match(info, new RegExp(`^Version\\s*: ${VERSION.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(info, /^Release\s*: 1$/m);
    assert.match(info, /^Architecture: x86_64$/m);
    const requires = ok('rpm', ['-qp', '--requires', RPM]).trim().split('\n');
    for (const needed of ['nodejs >= 1:20', 'libbpf', 'iproute']) assert.ok(requires.includes(needed), `missing Requires: ${needed}`);
    const unexpected = requires.filter((r) => !['nodejs >= 1:20', 'libbpf', 'iproute', '/bin/sh'].includes(r) && !r.startsWith('rpmlib('));
    assert.deepEqual(unexpected, [], 'no automatic requirements derived from bundled files');
  });
});

describe('the .rpm payload', () => {
  it('installs into a scratch root (this machine is not rpm-based), where the agent runs', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'xpk-rpmroot-'));
    try {
      ok('rpm', ['--root', root, '-i', '--nodeps', '--noscripts', RPM]);
      assert.equal(fs.readlinkSync(path.join(root, 'usr/bin/xdp4slb-agent')), '../lib/xdp4slb/bin/xdp4slb-agent');
      const agent = path.join(root, 'usr/lib/xdp4slb/bin/xdp4slb-agent');
      assert.equal(ok(agent, ['--version']).trim(), `xdp4slb-agent ${VERSION}`);
      ok(agent, ['--check', '--config', path.join(root, CONFIG)]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

/* Start the installed agent in the test namespace on the default pin path; resolve after its first reconcile. */
async function runInstalledAgentOnce(configPath: string): Promise<AgentEvent[]> {
  const events: AgentEvent[] = [];
  const child = spawn('nsenter', [`--net=/run/netns/${NETNS}`, '/usr/bin/xdp4slb-agent', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  readAgentEvents(child, (e) => events.push(e));
  const deadline = Date.now() + 30_000;
  while (!events.some((e) => e.event === 'reload' && e.reason === 'start') && child.exitCode === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGTERM');
  assert.equal(await exited, 0, `the installed agent did not start and stop cleanly:\n${events.map((e) => JSON.stringify(e)).join('\n')}`);
  return events;
}

function xdpProgramOn(ifname: string): boolean {
  const [link] = JSON.parse(ok('ip', ['-n', NETNS, '-j', '-d', 'link', 'show', ifname])) as Array<{ xdp?: unknown }>;
  return link?.xdp !== undefined;
}

describe('installing the .deb on this machine', () => {
  it('installs, runs the agent, keeps the operator\'s config over an upgrade, and purges without a trace', async () => {
    ok('dpkg', ['-i', DEB]);
    assert.equal(ok('xdp4slb-agent', ['--version']).trim(), `xdp4slb-agent ${VERSION}`);
    ok('xdp4slb-agent', ['--check', '--config', CONFIG]);
    const verify = run('systemd-analyze', ['verify', UNIT]);
    assert.equal(verify.status, 0, verify.stderr);
    assert.equal(verify.stderr.trim(), '', 'systemd-analyze verify is clean');

    // The installed agent for real: load and attach from /usr/lib/xdp4slb in
    // a namespace, then stop, leaving the datapath pinned (as a running service would).
    mountBpffs();
    createNetnsWithVeth(NETNS, 'lb0', 'lb1');
    ok('ip', ['-n', NETNS, 'addr', 'add', '198.18.0.5/24', 'dev', 'lb0']);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${NETNS}-`));
    try {
      const configPath = path.join(dir, 'config.yaml');
      fs.writeFileSync(configPath, [
        'version: 1', 'interface: lb0', 'xdp_mode: generic', 'vip_announce: none',
        'snat: { addresses: [198.18.0.5] }',
        'services:', '  - { name: web, vip: 198.18.0.10, port: 80, backends: [{ address: 198.18.0.2 }] }', '',
      ].join('\n'));
      const events = await runInstalledAgentOnce(configPath);
      assert.ok(events.some((e) => e.event === 'reload' && e.reason === 'start' && e.result === 'applied'), 'the installed agent applied its config');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(fs.existsSync(`${DEFAULT_PINS}/link`) && xdpProgramOn('lb0'), 'the datapath stays after the agent stops');

    // The operator edits the config and enables the service (offline: systemctl only makes the link).
    fs.appendFileSync(CONFIG, '# edited by the operator\n');
    ok('systemctl', ['enable', 'xdp4slb-agent.service']);
    assert.ok(fs.existsSync(ENABLED_LINK));

    // Upgrade (the same package over itself runs the upgrade paths of the scripts).
    ok('dpkg', ['-i', DEB]);
    assert.match(fs.readFileSync(CONFIG, 'utf8'), /# edited by the operator\n$/, 'the conffile keeps the edit');
    assert.ok(fs.existsSync(`${DEFAULT_PINS}/link`) && xdpProgramOn('lb0'), 'an upgrade does not take the datapath down');

    const purged = ok('dpkg', ['--purge', 'xdp4slb']);
    assert.match(purged, /detached the XDP program/, 'removal ran `xdp4slb-agent down`');
    assert.ok(!xdpProgramOn('lb0'), 'no XDP program is left on the NIC');
    for (const gone of [DEFAULT_PINS, '/etc/xdp4slb', '/usr/lib/xdp4slb', '/usr/bin/xdp4slb-agent', UNIT, ENABLED_LINK, DSH_STATE]) {
      assert.ok(!fs.existsSync(gone), `${gone} is left after purge`);
    }
    assert.notEqual(run('dpkg-query', ['-W', 'xdp4slb']).status, 0, 'dpkg forgot the package');
  });
});

describe('the Ansible role on localhost', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'xpk-ansible-'));
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  const valid = {
    xdp4slb_package: DEB,
    xdp4slb_manage_service: false,
    xdp4slb_interface: 'eth9',
    xdp4slb_snat_addresses: ['198.18.0.5'],
    xdp4slb_services: [{
      name: 'web', vip: '198.18.0.10', port: 80, scheduler: 'maglev',
      backends: [{ address: '198.18.0.2', weight: 2 }, { address: '198.18.0.3', state: 'draining' }],
      health_check: { type: 'http', path: '/healthz', interval: '2s', timeout: '1s' },
    }],
    xdp4slb_log: { level: 'debug' },
  };
  const invalid = { ...valid, xdp4slb_services: [{ ...valid.xdp4slb_services[0]!, backends: [{ address: '198.18.0.2', weight: 70000 }] }] };

  function playbook(vars: object): Run {
    const varsFile = path.join(work, 'vars.json');
    fs.writeFileSync(varsFile, JSON.stringify(vars));
    return run('ansible-playbook', ['-i', 'localhost,', '-c', 'local', path.join(REPO, 'examples/ansible/playbook.yml'), '-e', `@${varsFile}`], {
      cwd: work,
      timeout: 300_000,
      env: {
        ...process.env,
        ANSIBLE_LOCALHOST_WARNING: 'false',
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_RETRY_FILES_ENABLED: 'false',
        ANSIBLE_PYTHON_INTERPRETER: 'auto_silent',
        ANSIBLE_LOCAL_TEMP: path.join(work, 'tmp'),
        ANSIBLE_REMOTE_TEMP: path.join(work, 'tmp'),
      },
    });
  }
  const HANDLER = 'RUNNING HANDLER [xdp4slb : Report the config change (service not managed here)]';

  it('installs the package, writes a valid config and notifies the reload handler; a second run changes nothing', () => {
    const first = playbook(valid);
    assert.equal(first.status, 0, first.stdout + first.stderr);
    assert.ok(installed(), 'the role installed the package');
    const config = fs.readFileSync(CONFIG, 'utf8');
    assert.match(config, /^interface: "eth9"$/m);
    assert.match(config, /"address": "198\.18\.0\.3", "state": "draining"/);
    ok('xdp4slb-agent', ['--check', '--config', CONFIG]);
    const handler = first.stdout.indexOf(HANDLER);
    assert.ok(handler >= 0, `the handler did not run:\n${first.stdout}`);
    assert.match(first.stdout.slice(handler), /^ok: \[localhost\] => \{\n\s+"msg": "\/etc\/xdp4slb\/config\.yaml changed/m);
    assert.match(first.stdout, /TASK \[xdp4slb : Enable and start xdp4slb-agent\] \*+\nskipping/, 'service tasks are skipped by the variable');

    const second = playbook(valid);
    assert.equal(second.status, 0, second.stdout + second.stderr);
    assert.ok(!second.stdout.includes('RUNNING HANDLER'), 'an unchanged config notifies nothing');
    assert.equal(fs.readFileSync(CONFIG, 'utf8'), config);
  });

  it('fails at validate on a bad variable set and leaves the previous config in place', () => {
    const before = fs.readFileSync(CONFIG, 'utf8');
    const res = playbook(invalid);
    assert.notEqual(res.status, 0, 'the play must fail');
    assert.match(res.stdout, /TASK \[xdp4slb : Write the xdp4slb config\][^\n]*\nfatal: \[localhost\]: FAILED!.*failed to validate/);
    assert.match(res.stdout, /:\d+:\d+: services\[0\]\.backends\[0\]\.weight: must be between 0 and 65535/, 'the agent\'s positioned error is shown');
    assert.equal(fs.readFileSync(CONFIG, 'utf8'), before, 'the previous config is untouched');
    assert.ok(!res.stdout.includes('RUNNING HANDLER'));
  });

  it('leaves nothing after purge', () => {
    ok('dpkg', ['--purge', 'xdp4slb']);
    assert.ok(!fs.existsSync('/etc/xdp4slb') && !installed());
  });
});
