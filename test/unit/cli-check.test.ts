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

function agent(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('xdp4slb-agent --check', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'xdp4slb-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the shipped example: exit 0, nothing on stderr', () => {
    assert.deepEqual(agent('--check', '--config', EXAMPLE), { status: 0, stdout: '', stderr: '' });
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

  it('prints the version and refuses what this version cannot do', () => {
    const { version } = JSON.parse(readFileSync(PACKAGE, 'utf8')) as { version: string };
    assert.deepEqual(agent('--version'), { status: 0, stdout: `xdp4slb-agent ${version}\n`, stderr: '' });
    assert.match(agent('--help').stdout, /--check/);
    assert.equal(agent('--config', EXAMPLE).status, 2);
    assert.equal(agent('--bogus').status, 2);
  });
});
