// Large configs (1,000 services x 16 backends, about 1 MB), as the reload
// path meets them: the fast reader gives the same result as the `yaml`
// document API, errors deep in the file are placed exactly, a file full of
// errors is handled without quadratic work, and the generator the benchmark
// uses makes what it promises.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { formatIssue, MAX_BACKENDS_TOTAL, parseConfig, type ParseEnv, type ParseResult } from '../../src/config/index.js';
import { loadDocument } from '../../src/config/load-config.js';
import { parseLoadedConfig } from '../../src/config/parse-config.js';
import { scanSimpleYaml } from '../../src/config/scan-simple-yaml.js';
import { compareBackendIds, compareServiceIds, type DesiredState } from '../../src/model/index.js';
import { generateConfig } from '../../bench/support/generate-config.js';

const ENV: ParseEnv = { localPortRange: [32768, 60999] };
const LARGE = { services: 1000, backendsPerService: 16 };

function ok(result: ParseResult): DesiredState {
  if (!result.ok) assert.fail(`expected a valid config, got:\n${result.issues.slice(0, 10).map(formatIssue).join('\n')}`);
  assert.deepEqual(result.warnings, []);
  return result.state;
}

/** The result through the `yaml` document API (the reader for anything outside the fast reader's subset). */
function parseWithDocument(text: string, file: string): ParseResult {
  return parseLoadedConfig(loadDocument(text, file), file, ENV);
}

/** 1-based number of the first line at or after `from` (0-based) that `test` accepts. */
function lineWhere(lines: readonly string[], from: number, test: (line: string) => boolean): number {
  const index = lines.findIndex((line, i) => i >= from && test(line));
  assert.ok(index >= 0);
  return index + 1;
}

describe('large configs: the fast reader and the document API agree', () => {
  it('give the same DesiredState for 1,000 x 16', () => {
    const text = generateConfig(LARGE);
    assert.ok(Buffer.byteLength(text) > 1_000_000);
    assert.notEqual(scanSimpleYaml(text), undefined, 'the generated config is not read by the fast reader');
    const fast = ok(parseConfig(text, 'big.yaml', ENV));
    assert.deepEqual(fast, ok(parseWithDocument(text, 'big.yaml')));
    assert.equal(fast.services.length, 1000);
    assert.equal(fast.services.reduce((sum, s) => sum + s.backends.length, 0), 16_000);
  });

  it('give the same issues, at the same places, for a file with many kinds of problems', () => {
    let text = generateConfig({ services: 100, backendsPerService: 16 });
    text = text
      .replace('  - name: svc-0003\n', '  - name: svc-0003\n    protocl: tcp\n') // unknown key
      .replace('vip: 198.19.0.3\n', 'vip: 198.19.0.1\n') // svc-0002 becomes svc-0000's 198.19.0.1:80/tcp
      .replace('address: 198.18.1.100\n', 'address: 198.18.1.99\n') // duplicate backend in svc-0006
      .replace('address: 198.18.2.0\n', 'address: 198.19.0.1\n') // a backend that is a VIP
      .replace('  - name: svc-0050\n', '  - name: svc-0049\n') // duplicate name
      .replace('        weight: 4\n', '        weight: heavy\n') // wrong type, first match only
      .replace('timeout: 500ms\n', 'timeout: 5s\n') // timeout not shorter than interval
      .replace('  - name: svc-0098\n    vip: 198.19.0.99\n    port: 80\n', '  - name: svc-0098\n    vip: 198.19.0.99\n    port: 0\n'); // out of range
    const fast = parseConfig(text, 'broken.yaml', ENV);
    assert.equal(fast.ok, false);
    assert.notEqual(scanSimpleYaml(text), undefined);
    assert.deepEqual(fast, parseWithDocument(text, 'broken.yaml'));
    if (fast.ok) return;
    assert.deepEqual(
      new Set(fast.issues.map((i) => i.code)),
      new Set([
        'unknown-key',
        'duplicate-service',
        'duplicate-backend',
        'backend-is-local',
        'duplicate-service-name',
        'type',
        'health-timeout',
        'range',
      ]),
    );
  });
});

describe('large configs: errors are placed exactly', () => {
  it('places an error on the last backend of the last service', () => {
    const text = generateConfig({ ...LARGE, editWeight: { service: 999, backend: 15, weight: 70000 } });
    const lines = text.split('\n');
    const service = lineWhere(lines, 0, (l) => l === '  - name: svc-0999');
    let line = service;
    for (let k = 0; k < 16; k++) line = lineWhere(lines, line, (l) => l.startsWith('        weight: '));
    assert.equal(lines[line - 1], '        weight: 70000');
    const result = parseConfig(text, 'big.yaml', ENV);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(result.issues.map(formatIssue), [`big.yaml:${line}:17: services[999].backends[15].weight: must be between 0 and 65535`]);
  });

  it('places semantic errors and unknown keys in the middle of the file', () => {
    const text = generateConfig(LARGE)
      .replace('  - name: svc-0500\n', '  - name: svc-0500\n    schedular: maglev\n')
      .replace('address: 198.18.40.15\n', 'address: 198.18.40.14\n');
    const lines = text.split('\n');
    const typo = lineWhere(lines, 0, (l) => l === '    schedular: maglev');
    const first = lineWhere(lines, 0, (l) => l.endsWith('address: 198.18.40.14'));
    const second = lineWhere(lines, first, (l) => l.endsWith('address: 198.18.40.14'));
    const result = parseConfig(text, 'big.yaml', ENV);
    assert.equal(result.ok, false);
    if (result.ok) return;
    // Backends are numbered from 198.18.1.0, 16 to a service: 198.18.40.14 is number 39 * 256 + 14 = 9998, backend 14 of service 624.
    assert.deepEqual(result.issues.map(formatIssue), [
      `big.yaml:${typo}:5: services[500].schedular: unknown key "schedular" (did you mean "scheduler"?)`,
      `big.yaml:${second}:9: services[624].backends[15]: duplicate backend 198.18.40.14:80 in service "svc-0624": already listed as backends[14]`,
    ]);
  });

  it('reports every error of a file where every backend is broken', () => {
    const text = generateConfig(LARGE)
      .replace(/weight: \d+/g, 'weight: heavy')
      .replace(/address: 198\.18\.(\d+)\.\d+/g, 'address: 198.18.$1.0');
    const result = parseConfig(text, 'broken.yaml', ENV);
    assert.equal(result.ok, false);
    if (result.ok) return;
    const byCode = new Map<string, number>();
    for (const issue of result.issues) byCode.set(issue.code, (byCode.get(issue.code) ?? 0) + 1);
    assert.equal(byCode.get('type'), 16_000);
    // Backends sharing a .0 address within a service: all but the first of each group.
    assert.ok((byCode.get('duplicate-backend') ?? 0) > 10_000);
    assert.deepEqual(result.issues.slice(0, 1).map(formatIssue), [
      'broken.yaml:18:17: services[0].backends[0].weight: expected an integer, got "heavy"',
    ]);
  });
});

describe('large configs: the canonical order', () => {
  it('does not depend on the order of the file, and is the order of the model comparators', () => {
    const text = generateConfig({ services: 300, backendsPerService: 16 });
    const data = parseYaml(text) as { services: { backends: unknown[] }[] };
    // A fixed shuffle: reversed services, backends rotated by their service's index.
    data.services.reverse();
    data.services.forEach((s, i) => s.backends.push(...s.backends.splice(0, i % 16)));
    const shuffled = stringifyYaml(data);
    const state = ok(parseConfig(shuffled, 'shuffled.yaml', ENV));
    assert.deepEqual(state, ok(parseConfig(text, 'sorted.yaml', ENV)));
    const ids = state.services.map((s) => s.id);
    assert.deepEqual(ids, [...ids].sort(compareServiceIds));
    for (const service of state.services) {
      const backendIds = service.backends.map((b) => b.id);
      assert.deepEqual(backendIds, [...backendIds].sort(compareBackendIds));
    }
  });
});

describe('generateConfig', () => {
  it('makes a valid config from 198.18.0.0/15 only, VIPs, backends and SNAT address all distinct', () => {
    const text = generateConfig({ services: 50, backendsPerService: 8 });
    const state = ok(parseConfig(text, 'gen.yaml', ENV));
    assert.deepEqual(state.snat.addresses, ['198.18.0.5']);
    assert.deepEqual([state.snat.portMin, state.snat.portMax], [10000, 32767]);
    assert.equal(state.interface, 'eth0');
    assert.deepEqual(new Set(state.services.map((s) => s.scheduler)), new Set(['round_robin', 'weighted_round_robin', 'maglev', 'source_hash']));
    const addresses = [...state.snat.addresses, ...state.services.flatMap((s) => [s.vip, ...s.backends.map((b) => b.address)])];
    assert.equal(new Set(addresses).size, addresses.length);
    for (const address of text.match(/\b\d+\.\d+\.\d+\.\d+\b/g) ?? []) {
      assert.ok(/^198\.1[89]\./.test(address) || address === '127.0.0.1', address);
    }
    assert.equal(generateConfig({ services: 50, backendsPerService: 8 }), text);
  });

  it('changes exactly one line to edit one weight', () => {
    const base = generateConfig({ services: 20, backendsPerService: 4 }).split('\n');
    const edited = generateConfig({ services: 20, backendsPerService: 4, editWeight: { service: 7, backend: 2, weight: 9 } }).split('\n');
    assert.equal(edited.length, base.length);
    const changed = base.flatMap((line, i) => (line === edited[i] ? [] : [[line, edited[i]]]));
    assert.equal(changed.length, 1);
    assert.match(changed[0]?.[1] ?? '', /^ {8}weight: 9$/);
  });

  it('refuses more backends than the agent accepts', () => {
    assert.throws(() => generateConfig({ services: 4096, backendsPerService: 17 }), new RegExp(`at most ${MAX_BACKENDS_TOTAL}`));
    assert.throws(() => generateConfig({ services: 10, backendsPerService: 4, editWeight: { service: 10, backend: 0, weight: 1 } }), RangeError);
  });
});
