import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIG_SCHEMA, formatIssue, parseConfig, validateSchema, type ParseEnv } from '../../src/config/index.js';
import type { SchemaNode } from '../../src/config/config-schema.js';

const ROOT = new URL('../../../', import.meta.url);
const ENV: ParseEnv = { localPortRange: [32768, 60999] };

function resolve(node: SchemaNode): SchemaNode {
  if (node.$ref === undefined) return node;
  const name = node.$ref.replace('#/$defs/', '');
  const def = CONFIG_SCHEMA.$defs?.[name];
  assert.ok(def, `unresolved ${node.$ref}`);
  return { ...resolve(def), ...node, $ref: undefined };
}

interface PropertyEntry {
  path: string;
  node: SchemaNode;
}

/** Every property of every object in the schema, with a path like services[].backends[].weight. */
function properties(node: SchemaNode = CONFIG_SCHEMA, path = ''): PropertyEntry[] {
  const schema = resolve(node);
  const out: PropertyEntry[] = [];
  if (schema.type === 'object') {
    assert.equal(schema.additionalProperties, false, `${path || '$'}: additionalProperties must be false`);
    for (const [key, child] of Object.entries(schema.properties ?? {})) {
      const childPath = path === '' ? key : `${path}.${key}`;
      out.push({ path: childPath, node: resolve(child) }, ...properties(child, childPath));
    }
  }
  if (schema.type === 'array' && schema.items !== undefined) out.push(...properties(schema.items, `${path}[]`));
  return out;
}

const byPath = (path: string): SchemaNode => {
  const entry = properties().find((p) => p.path === path);
  assert.ok(entry, `no property ${path}`);
  return entry.node;
};

describe('schemas/config.schema.json', () => {
  it('is draft 2020-12 and is the file the agent loads', () => {
    const onDisk = JSON.parse(readFileSync(new URL('schemas/config.schema.json', ROOT), 'utf8')) as unknown;
    assert.deepEqual(CONFIG_SCHEMA, onDisk);
    assert.equal(CONFIG_SCHEMA['$schema'], 'https://json-schema.org/draft/2020-12/schema');
  });

  it('has every DESIGN.md §2 field, under its contract name', () => {
    const paths = new Set(properties().map((p) => p.path));
    for (const path of [
      'version',
      'interface',
      'xdp_mode',
      'vip_announce',
      'snat.addresses',
      'snat.ports',
      'snat.reuse_after',
      'services[].name',
      'services[].vip',
      'services[].port',
      'services[].protocol',
      'services[].scheduler',
      'services[].backends[].address',
      'services[].backends[].port',
      'services[].backends[].weight',
      'services[].backends[].state',
      'services[].health_check.type',
      'services[].health_check.port',
      'services[].health_check.interval',
      'services[].health_check.timeout',
      'services[].health_check.rise',
      'services[].health_check.fall',
      'services[].health_check.path',
      'services[].health_check.expect_status',
      'conntrack.max_entries',
      'conntrack.timeouts.tcp_syn',
      'conntrack.timeouts.tcp_established',
      'conntrack.timeouts.tcp_closing',
      'conntrack.timeouts.udp',
      'conntrack.gc_interval',
      'neighbors.refresh_interval',
      'metrics.listen',
      'log.level',
    ]) {
      assert.ok(paths.has(path), `missing ${path}`);
    }
  });

  it('closes every object (additionalProperties: false) and describes every property', () => {
    for (const { path, node } of properties()) {
      assert.equal(typeof node.description, 'string', `${path}: no description`);
      assert.ok((node.description ?? '').length > 10, `${path}: description too short`);
    }
  });

  it('has a default for every field but the required ones and the derived ones', () => {
    const withoutDefault = properties()
      .filter(({ node }) => !('default' in node))
      .map((p) => p.path)
      .sort();
    assert.deepEqual(withoutDefault, [
      'interface',
      'services',
      'services[].backends',
      'services[].backends[].address',
      // default: the service's port (derived, applied by build-desired-state)
      'services[].backends[].port',
      // optional block: absent = always healthy
      'services[].health_check',
      // http only: the defaults ("/", 200) are in the schema's if/then for type http
      'services[].health_check.expect_status',
      'services[].health_check.path',
      // default: each backend's port (derived)
      'services[].health_check.port',
      'services[].name',
      'services[].port',
      'services[].vip',
      'snat',
      'snat.addresses',
    ]);
  });

  it('has the enums of the contract', () => {
    assert.deepEqual(byPath('xdp_mode').enum, ['auto', 'native', 'generic']);
    assert.deepEqual(byPath('vip_announce').enum, ['arp', 'none']);
    assert.deepEqual(byPath('services[].protocol').enum, ['tcp', 'udp']);
    assert.deepEqual(byPath('services[].scheduler').enum, ['round_robin', 'weighted_round_robin', 'maglev', 'source_hash']);
    assert.deepEqual(byPath('services[].backends[].state').enum, ['active', 'draining', 'disabled']);
    assert.deepEqual(byPath('services[].health_check.type').enum, ['tcp', 'http', 'none']);
    assert.deepEqual(byPath('log.level').enum, ['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
  });

  it('has the limits: ports, weight, list sizes', () => {
    for (const path of ['services[].port', 'services[].backends[].port', 'services[].health_check.port']) {
      assert.deepEqual([byPath(path).minimum, byPath(path).maximum], [1, 65535], path);
    }
    assert.deepEqual([byPath('services[].backends[].weight').minimum, byPath('services[].backends[].weight').maximum], [0, 65535]);
    assert.equal(byPath('services').maxItems, 4096);
    assert.equal(byPath('services[].backends').maxItems, 256);
    assert.equal(byPath('snat.addresses').maxItems, 64);
    assert.equal(byPath('conntrack.max_entries').default, 1048576);
    assert.equal(byPath('snat.reuse_after').default, '1s');
    assert.equal(byPath('snat.ports').default, '10000-32767');
    assert.equal(byPath('metrics.listen').default, '127.0.0.1:9740');
  });

  it('uses one duration type: a number and ms, s, m or h; a bare number is not one', () => {
    const durations = properties().filter(({ node }) => node.pattern === '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$');
    assert.deepEqual(
      durations.map((d) => d.path).sort(),
      [
        'conntrack.gc_interval',
        'conntrack.timeouts.tcp_closing',
        'conntrack.timeouts.tcp_established',
        'conntrack.timeouts.tcp_syn',
        'conntrack.timeouts.udp',
        'neighbors.refresh_interval',
        'services[].health_check.interval',
        'services[].health_check.timeout',
        'snat.reuse_after',
      ],
    );
    const base = (reuse: unknown): unknown => ({ interface: 'eth0', snat: { addresses: ['198.18.0.5'], reuse_after: reuse }, services: [] });
    for (const good of ['0s', '2s', '1.5s', '250ms', '10m', '1h']) assert.deepEqual(validateSchema(base(good)), [], good);
    for (const bad of [2, '2', '2 s', '1.s', '.5s', '2sec', '-1s', '1d']) {
      assert.deepEqual(
        validateSchema(base(bad)).map((f) => f.message),
        ['expected a duration like 2s or 1.5s'],
        String(bad),
      );
    }
  });

  it('enforces the list limits with a message', () => {
    const services = Array.from({ length: 4097 }, (_, i) => `  - { name: s${i}, vip: 198.18.${(i >> 8) + 1}.${i & 255}, port: 80, backends: [] }`);
    const result = parseConfig(['interface: eth0', 'snat: { addresses: [198.19.0.5] }', 'services:', ...services].join('\n'), 't.yaml', ENV);
    assert.equal(result.ok, false);
    if (result.ok) return;
    const errors = result.issues.filter((i) => i.severity === 'error').map(formatIssue);
    assert.ok(errors.includes('t.yaml:4:3: services: at most 4096 entries allowed, got 4097'), errors.slice(0, 3).join('\n'));

    const backends = Array.from({ length: 257 }, (_, i) => `      - { address: 198.19.${(i >> 8) + 1}.${i & 255} }`);
    const text = ['interface: eth0', 'snat: { addresses: [198.18.0.5] }', 'services:', '  - name: big', '    vip: 198.18.0.10', '    port: 80', '    backends:', ...backends].join('\n');
    const big = parseConfig(text, 't.yaml', ENV);
    assert.equal(big.ok, false);
    if (big.ok) return;
    assert.deepEqual(big.issues.map(formatIssue), ['t.yaml:8:7: services[0].backends: at most 256 entries allowed, got 257']);
  });
});
