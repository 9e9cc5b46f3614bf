/* bin/xdp4slb-agent --check, as Ansible's `validate:` and operators run it. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/xdp4slb-agent', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../examples/config.yaml', import.meta.url));
const PACKAGE = fileURLToPath(new URL('../../../package.json', import.meta.url));

function agentWith(env: NodeJS.ProcessEnv, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

function agent(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return agentWith(process.env, ...args);
}

/* Host checks read this machine's network namespace through `ip`. */
const NO_IP = spawnSync('ip', ['-V']).error !== undefined;

/** Valid on any host except for the interface, which no host has. */
const MISSING_INTERFACE = 'xlb-nosuch0';
const ELSEWHERE_CONFIG = [
  `interface: ${MISSING_INTERFACE}`,
  'snat:',
  '  addresses: [198.18.0.5]',
  'services:',
  '  - name: web',
  '    vip: 198.18.0.10',
  '    port: 80',
  '    backends: [{address: 198.18.0.2, port: 80}]',
  '',
].join('\n');

describe('xdp4slb-agent --check', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'xdp4slb-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the shipped example: exit 0, nothing on stderr but what depends on this host', () => {
    const res = agent('--check', '--config', EXAMPLE);
    assert.deepEqual({ status: res.status, stdout: res.stdout }, { status: 0, stdout: '' });
    // The example names eth0: a host without one, or without `ip`, earns a warning; nothing else may appear.
    for (const line of res.stderr.split('\n').filter((l) => l !== '')) {
      assert.ok(
        line === `${EXAMPLE}:19:12: interface: warning: interface "eth0" does not exist in this network namespace` ||
          line.startsWith(`${EXAMPLE}: warning: host checks (interface exists, SNAT address is local) skipped: `),
        `unexpected on stderr: ${line}`,
      );
    }
  });

  it(
    'warns about an interface this host does not have, and accepts the file: exit 0',
    { skip: NO_IP ? 'needs iproute2 (`ip`)' : false },
    () => {
      const path = join(dir, 'elsewhere.yaml');
      writeFileSync(path, ELSEWHERE_CONFIG);
      assert.deepEqual(agent('--check', '--config', path), {
        status: 0,
        stdout: '',
        stderr: `${path}:1:12: interface: warning: interface "${MISSING_INTERFACE}" does not exist in this network namespace\n`,
      });
    },
  );

  it('skips the host checks with one warning saying why when `ip` cannot run: exit 0', () => {
    const path = join(dir, 'no-ip.yaml');
    writeFileSync(path, ELSEWHERE_CONFIG);
    const emptyBin = mkdtempSync(join(dir, 'bin-'));
    const res = agentWith({ ...process.env, PATH: emptyBin }, '--check', '--config', path);
    assert.equal(res.status, 0);
    assert.equal(res.stdout, '');
    const lines = res.stderr.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, res.stderr);
    assert.match(
      lines[0]!,
      /^.*: warning: host checks \(interface exists, SNAT address is local\) skipped: ip -j .*: cannot run ip: not installed or not on PATH \(ENOENT\)$/,
    );
    assert.ok(lines[0]!.startsWith(`${path}: warning: `), lines[0]);
  });

  it('rejects typos with their positions: exit 1', () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(
      path,
      [
        'interface: eth0',
        'snat:',
        '  addresses: [198.18.0.5]',
        '  portz: 1',
        'services:',
        '  - name: web',
        '    vip: 198.18.0.10',
        '    port: 80',
        '    backends: [{address: 198.18.0.2, wieght: 1}]',
        '',
      ].join('\n'),
    );
    const res = agent('--config', path, '--check');
    assert.equal(res.status, 1);
    assert.equal(
      res.stderr,
      `${path}:4:3: snat.portz: unknown key "portz" (did you mean "ports"?)\n` +
        `${path}:9:38: services[0].backends[0].wieght: unknown key "wieght" (did you mean "weight"?)\n`,
    );
  });

  it('says so when the file cannot be read: exit 1', () => {
    const path = join(dir, 'missing.yaml');
    assert.deepEqual(agent('--check', `--config=${path}`), {
      status: 1,
      stdout: '',
      stderr: `${path}: cannot read the config file: no such file (ENOENT)\n`,
    });
  });

  it('prints the version and the help, and refuses a bad command line with exit 2', () => {
    const { version } = JSON.parse(readFileSync(PACKAGE, 'utf8')) as { version: string };
    assert.deepEqual(agent('--version'), { status: 0, stdout: `xdp4slb-agent ${version}\n`, stderr: '' });
    for (const option of ['--config', '--check', '--dry-run', '--pin-path', '--log-level', 'down', 'status', '--json', '--watch', '--interval', 'conntrack', '--service', '--limit', 'SIGHUP']) {
      assert.match(agent('--help').stdout, new RegExp(option));
    }
    const refused: [string[], RegExp][] = [
      [['--bogus'], /unknown argument "--bogus"/],
      [['--check'], /--check needs --config PATH/],
      [['--check', '--dry-run', '--config', EXAMPLE], /choose one of --check and --dry-run/],
      [['--config'], /--config needs a value/],
      [['--log-level', 'loud', '--config', EXAMPLE], /--log-level must be one of/],
      [[], /running needs --config PATH/],
    ];
    for (const [args, message] of refused) {
      const res = agent(...args);
      assert.equal(res.status, 2, args.join(' '));
      assert.match(res.stderr, message, args.join(' '));
    }
  });
});
