import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  ConfigError,
  formatIssue,
  formatIssues,
  formatJsonPath,
  parseDuration,
  parseJsonPointer,
  parsePortRange,
  rangesOverlap,
  type ConfigIssue,
} from '../../src/config/index.js';
import { readConfigFile } from '../../src/config/read-config-file.js';
import { parseLocalPortRange, readLocalPortRange } from '../../src/config/read-local-port-range.js';

describe('parseDuration', () => {
  it('converts to whole milliseconds, exactly', () => {
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('2s'), 2000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('1.1s'), 1100);
    assert.equal(parseDuration('0.5m'), 30_000);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('0.4ms'), 0);
    assert.equal(parseDuration('0s'), 0);
    // Digits beyond nanoseconds are ignored; leading zeros are digits like any other.
    assert.equal(parseDuration('1.0000000009999s'), 1000);
    assert.equal(parseDuration('007.5ms'), 8);
  });

  it('rejects anything else, bare numbers included', () => {
    for (const bad of ['2', '', 's', '2 s', '2S', '1d', '-1s', '1.s', '.5s', '1e3ms', '1..5s', '1.5.5s', '1mss', ' 1s', '1s ', '1constructor', '1toString']) {
      assert.equal(parseDuration(bad), undefined, bad);
    }
  });
});

describe('port ranges', () => {
  it('parses LOW-HIGH and tests overlap inclusively', () => {
    assert.deepEqual(parsePortRange('10000-32767'), { low: 10000, high: 32767 });
    assert.equal(parsePortRange('10000'), undefined);
    assert.equal(parsePortRange('1-2-3'), undefined);
    assert.equal(rangesOverlap({ low: 10000, high: 32768 }, { low: 32768, high: 60999 }), true);
    assert.equal(rangesOverlap({ low: 10000, high: 32767 }, { low: 32768, high: 60999 }), false);
    assert.equal(rangesOverlap({ low: 61000, high: 65535 }, { low: 32768, high: 60999 }), false);
  });
});

describe('JSON paths', () => {
  it('formats keys and indexes', () => {
    assert.equal(formatJsonPath([]), '$');
    assert.equal(formatJsonPath(['services', 0, 'backends', 1, 'weight']), 'services[0].backends[1].weight');
    assert.equal(formatJsonPath(['snat', 'a.b']), 'snat["a.b"]');
  });

  it('parses JSON pointers against the data', () => {
    assert.deepEqual(parseJsonPointer('/services/0/port', { services: [{}] }), ['services', 0, 'port']);
    assert.deepEqual(parseJsonPointer('/a~1b/0', { 'a/b': { 0: 1 } }), ['a/b', '0']);
    assert.deepEqual(parseJsonPointer('', {}), []);
  });
});

describe('issues and ConfigError', () => {
  const positioned: ConfigIssue = {
    file: 'c.yaml',
    line: 3,
    col: 7,
    path: 'services[0].port',
    message: 'must be between 1 and 65535',
    severity: 'error',
    code: 'range',
  };

  it('formats PATH:LINE:COL: json.path: message, PATH: message without a position', () => {
    assert.equal(formatIssue(positioned), 'c.yaml:3:7: services[0].port: must be between 1 and 65535');
    assert.equal(formatIssue({ ...positioned, severity: 'warning' }), 'c.yaml:3:7: services[0].port: warning: must be between 1 and 65535');
    assert.equal(formatIssue({ ...positioned, line: null, col: null, path: '', message: 'cannot read' }), 'c.yaml: cannot read');
  });

  it('carries a stable code and every issue', () => {
    const error = new ConfigError('ECONFIG_INVALID', [positioned, positioned]);
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'ConfigError');
    assert.equal(error.code, 'ECONFIG_INVALID');
    assert.equal(error.issues.length, 2);
    assert.equal(error.message, formatIssues([positioned, positioned]));
  });
});

describe('the two readers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xdp4slb-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('readConfigFile: text, or PATH: message', async () => {
    const path = join(dir, 'config.yaml');
    writeFileSync(path, 'interface: eth0\n');
    assert.deepEqual(await readConfigFile(path), { ok: true, text: 'interface: eth0\n' });

    const missing = await readConfigFile(join(dir, 'nope.yaml'));
    assert.equal(missing.ok, false);
    if (!missing.ok) {
      assert.equal(formatIssue(missing.issue), `${join(dir, 'nope.yaml')}: cannot read the config file: no such file (ENOENT)`);
      assert.equal(missing.issue.code, 'file-unreadable');
    }
    const directory = await readConfigFile(dir);
    assert.equal(directory.ok ? '' : formatIssue(directory.issue), `${dir}: cannot read the config file: is a directory, not a file (EISDIR)`);
  });

  it('readLocalPortRange: the two numbers of the sysctl file', async () => {
    const path = join(dir, 'ip_local_port_range');
    writeFileSync(path, '32768\t60999\n');
    assert.deepEqual(await readLocalPortRange(path), [32768, 60999]);
    assert.deepEqual(parseLocalPortRange('1024 65535'), [1024, 65535]);
    assert.throws(() => parseLocalPortRange('60999 32768', 'x'), /x: expected two port numbers "LOW HIGH", got "60999 32768"/);
    assert.throws(() => parseLocalPortRange('', 'x'), /expected two port numbers/);
    await assert.rejects(readLocalPortRange(join(dir, 'absent')), { code: 'ENOENT' });
  });

  it('readLocalPortRange: this namespace has one', async () => {
    const [low, high] = await readLocalPortRange();
    assert.ok(low >= 1 && low <= high && high <= 65535);
  });
});
