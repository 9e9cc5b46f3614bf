import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { formatIssue, parseConfig, parseConfigText, type ConfigIssue, type ParseEnv, type ParseResult } from '../../src/config/index.js';
import { loadDocument } from '../../src/config/load-config.js';
import { parseLoadedConfig } from '../../src/config/parse-config.js';
import type { DesiredState } from '../../src/model/index.js';

const ROOT = new URL('../../../', import.meta.url);
const ENV: ParseEnv = { localPortRange: [32768, 60999] };

/** Lines joined with "\n": line N of the text is argument N. */
const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

function ok(result: ParseResult): { state: DesiredState; warnings: readonly ConfigIssue[] } {
  if (!result.ok) assert.fail(`expected a valid config, got:\n${result.issues.map(formatIssue).join('\n')}`);
  return result;
}

/**
 * parseConfig, held to the same checks over the `yaml` document API's
 * reading of the text: whichever reader load-config.ts picks for a file,
 * the result (state, issues, positions) is the same. And to the two-step
 * form the agent uses (parseConfigText, then the host checks).
 */
function parse(text: string, file: string, env: ParseEnv): ParseResult {
  const result = parseConfig(text, file, env);
  assert.deepEqual(result, parseLoadedConfig(loadDocument(text, file), file, env), `the two readers disagree on:\n${text}`);
  assert.deepEqual(parseConfigText(text, file, env)(env.host), result, `parseConfigText disagrees on:\n${text}`);
  return result;
}

/** Every issue of an invalid config, formatted, in source order. */
function issues(text: string, env: ParseEnv = ENV): string[] {
  const result = parse(text, 't.yaml', env);
  if (result.ok) assert.fail('expected the config to be rejected');
  return result.issues.map(formatIssue);
}

const HEAD = ['interface: eth0', 'snat:', '  addresses: [198.18.0.5]'];

describe('parseConfig: valid files', () => {
  it('accepts examples/config.yaml without warnings', () => {
    const text = readFileSync(new URL('examples/config.yaml', ROOT), 'utf8');
    assert.match(text, /^# yaml-language-server: \$schema=\.\.\/schemas\/config\.schema\.json\n/);
    const { state, warnings } = ok(parse(text, 'examples/config.yaml', ENV));
    assert.deepEqual(warnings, []);
    assert.equal(state.services.length, 1);
    const web = state.services[0];
    assert.equal(web?.id, '198.18.0.10:80/tcp');
    assert.deepEqual(
      web?.backends.map((b) => b.id),
      ['198.18.0.2:80', '198.18.0.3:80'],
    );
    // Only 198.18.0.0/15 addresses (plus the loopback metrics listener).
    for (const address of text.match(/\b\d+\.\d+\.\d+\.\d+\b/g) ?? []) {
      assert.ok(/^198\.1[89]\./.test(address) || address === '127.0.0.1', address);
    }
  });

  it('fills in every default from the schema, and derived ones', () => {
    const text = yaml(
      ...HEAD,
      'services:',
      '  - name: web',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    backends:',
      '      - address: 198.18.0.2',
      '    health_check: { type: http }',
      '  - name: dns',
      '    vip: 198.18.0.10',
      '    port: 53',
      '    protocol: udp',
      '    backends: [{ address: 198.18.0.3, port: 5353 }]',
      '    health_check: {}',
    );
    const { state, warnings } = ok(parse(text, 't.yaml', ENV));
    assert.deepEqual(warnings, []);
    const expected: DesiredState = {
      interface: 'eth0',
      xdpMode: 'auto',
      vipAnnounce: 'arp',
      snat: { addresses: ['198.18.0.5'], portMin: 10000, portMax: 32767, reuseAfterMs: 1000 },
      services: [
        {
          id: '198.18.0.10:53/udp',
          name: 'dns',
          vip: '198.18.0.10',
          port: 53,
          protocol: 'udp',
          scheduler: 'round_robin',
          backends: [{ id: '198.18.0.3:5353', address: '198.18.0.3', port: 5353, weight: 1, state: 'active' }],
          healthCheck: {
            type: 'tcp',
            port: null,
            intervalMs: 2000,
            timeoutMs: 1000,
            rise: 2,
            fall: 3,
            path: null,
            expectStatus: null,
          },
        },
        {
          id: '198.18.0.10:80/tcp',
          name: 'web',
          vip: '198.18.0.10',
          port: 80,
          protocol: 'tcp',
          scheduler: 'round_robin',
          backends: [{ id: '198.18.0.2:80', address: '198.18.0.2', port: 80, weight: 1, state: 'active' }],
          healthCheck: {
            type: 'http',
            port: null,
            intervalMs: 2000,
            timeoutMs: 1000,
            rise: 2,
            fall: 3,
            path: '/',
            expectStatus: 200,
          },
        },
      ],
      conntrack: {
        maxEntries: 1048576,
        timeouts: { tcpSynMs: 30000, tcpEstablishedMs: 600000, tcpClosingMs: 2000, udpMs: 30000 },
        gcIntervalMs: 1000,
      },
      neighbors: { refreshIntervalMs: 10000 },
      metrics: { listen: '127.0.0.1:9740', host: '127.0.0.1', port: 9740 },
      log: { level: 'info' },
    };
    assert.deepEqual(state, expected);
  });

  it('normalizes durations to milliseconds and ports to numbers', () => {
    const text = yaml(
      ...HEAD,
      '  ports: 1024-2047',
      '  reuse_after: 250ms',
      'services: []',
      'conntrack:',
      '  max_entries: 4096',
      '  timeouts: { tcp_syn: 1.5s, tcp_established: 2h, tcp_closing: 0.5m, udp: 1.1s }',
      '  gc_interval: 100ms',
      'neighbors: { refresh_interval: 1m }',
      'metrics: { listen: 0.0.0.0:9999 }',
      'log: { level: debug }',
    );
    const { state } = ok(parse(text, 't.yaml', ENV));
    assert.deepEqual(state.snat, { addresses: ['198.18.0.5'], portMin: 1024, portMax: 2047, reuseAfterMs: 250 });
    assert.deepEqual(state.conntrack, {
      maxEntries: 4096,
      timeouts: { tcpSynMs: 1500, tcpEstablishedMs: 7_200_000, tcpClosingMs: 30_000, udpMs: 1100 },
      gcIntervalMs: 100,
    });
    assert.equal(state.neighbors.refreshIntervalMs, 60_000);
    assert.deepEqual(state.metrics, { listen: '0.0.0.0:9999', host: '0.0.0.0', port: 9999 });
    assert.equal(state.log.level, 'debug');
  });

  it('normalizes health_check type none to no health check', () => {
    const text = yaml(...HEAD, 'services:', '  - { name: a, vip: 198.18.0.10, port: 80, backends: [{address: 198.18.0.2}], health_check: { type: none } }');
    const { state } = ok(parse(text, 't.yaml', ENV));
    assert.equal('healthCheck' in (state.services[0] ?? {}), false);
  });

  it('gives a deep-equal state whatever the order of services, backends and SNAT addresses', () => {
    const a = yaml(
      'interface: eth0',
      'snat: { addresses: [198.18.0.5, 198.18.0.40] }',
      'services:',
      '  - name: web',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    scheduler: maglev',
      '    backends:',
      '      - { address: 198.18.0.2, port: 8080, weight: 3 }',
      '      - { address: 198.18.0.12, port: 8080, weight: 1 }',
      '      - { address: 198.18.0.3, state: draining }',
      '  - name: web-udp',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    protocol: udp',
      '    backends: [{ address: 198.18.0.19 }]',
      '  - name: api',
      '    vip: 198.18.0.9',
      '    port: 443',
      '    backends: [{ address: 198.18.0.4 }, { address: 198.18.0.22 }]',
    );
    const b = yaml(
      'services:',
      '  - name: api',
      '    backends: [{ address: 198.18.0.22 }, { address: 198.18.0.4 }]',
      '    port: 443',
      '    vip: 198.18.0.9',
      '  - name: web-udp',
      '    protocol: udp',
      '    port: 80',
      '    vip: 198.18.0.10',
      '    backends: [{ address: 198.18.0.19 }]',
      '  - vip: 198.18.0.10',
      '    name: web',
      '    backends:',
      '      - { address: 198.18.0.3, state: draining }',
      '      - { weight: 1, address: 198.18.0.12, port: 8080 }',
      '      - { address: 198.18.0.2, weight: 3, port: 8080 }',
      '    scheduler: maglev',
      '    port: 80',
      'snat: { addresses: [198.18.0.40, 198.18.0.5] }',
      'interface: eth0',
    );
    const sa = ok(parse(a, 'a.yaml', ENV)).state;
    const sb = ok(parse(b, 'b.yaml', ENV)).state;
    assert.deepEqual(sa, sb);
    assert.deepEqual(
      sa.services.map((s) => s.id),
      ['198.18.0.9:443/tcp', '198.18.0.10:80/tcp', '198.18.0.10:80/udp'],
    );
    assert.deepEqual(
      sa.services[1]?.backends.map((x) => x.id),
      ['198.18.0.2:8080', '198.18.0.3:80', '198.18.0.12:8080'],
    );
    assert.deepEqual(sa.snat.addresses, ['198.18.0.5', '198.18.0.40']);
  });

  it('returns a deeply frozen state', () => {
    const text = yaml(...HEAD, 'services: [{ name: a, vip: 198.18.0.10, port: 80, backends: [{ address: 198.18.0.2 }] }]');
    const { state } = ok(parse(text, 't.yaml', ENV));
    assert.ok(Object.isFrozen(state));
    assert.ok(Object.isFrozen(state.services));
    assert.ok(Object.isFrozen(state.services[0]?.backends[0]));
    assert.ok(Object.isFrozen(state.conntrack.timeouts));
    assert.throws(() => {
      (state.snat.addresses as string[]).push('198.18.0.6');
    }, TypeError);
  });

  it('does not share defaults between parses', () => {
    const text = yaml(...HEAD, 'services: []');
    const one = ok(parse(text, 't.yaml', ENV)).state;
    const two = ok(parse(text, 't.yaml', ENV)).state;
    assert.notEqual(one.conntrack, two.conntrack);
    assert.deepEqual(one, two);
  });
});

describe('parseConfig: errors, each with its position', () => {
  it('unknown key: at the key, with a suggestion', () => {
    const text = yaml(
      ...HEAD,
      'services:',
      '  - name: web',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    backends:',
      '      - address: 198.18.0.2',
      '        wieght: 3',
    );
    assert.deepEqual(issues(text), ['t.yaml:10:9: services[0].backends[0].wieght: unknown key "wieght" (did you mean "weight"?)']);
  });

  it('unknown key without a near match lists the allowed keys', () => {
    assert.deepEqual(issues(yaml(...HEAD, 'services: []', 'colour: blue')), [
      't.yaml:5:1: colour: unknown key "colour"; expected one of version, interface, xdp_mode, vip_announce, snat, services, conntrack, neighbors, metrics, log',
    ]);
  });

  it('wrong type: at the value', () => {
    const text = yaml(...HEAD, 'services:', '  - name: web', '    vip: 198.18.0.10', '    port: "80"', '    backends: {}');
    assert.deepEqual(issues(text), [
      't.yaml:7:11: services[0].port: expected an integer, got "80"',
      't.yaml:8:15: services[0].backends: expected a list, got a mapping',
    ]);
  });

  it('bad duration and bare-number duration', () => {
    const text = yaml(
      ...HEAD,
      'services: []',
      'conntrack:',
      '  gc_interval: 1 s',
      '  timeouts:',
      '    udp: 30',
      '    tcp_syn: 5sec',
    );
    assert.deepEqual(issues(text), [
      't.yaml:6:16: conntrack.gc_interval: expected a duration like 2s or 1.5s',
      't.yaml:8:10: conntrack.timeouts.udp: expected a duration like 2s or 1.5s',
      't.yaml:9:14: conntrack.timeouts.tcp_syn: expected a duration like 2s or 1.5s',
    ]);
  });

  it('YAML syntax error: at the place the parser stopped', () => {
    const text = yaml('interface: eth0', 'snat:', '  addresses: [198.18.0.5', 'services: []');
    assert.deepEqual(issues(text), [
      't.yaml:4:1: services: YAML: flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
  });

  it('YAML errors are all reported: tab indentation, duplicate keys', () => {
    const text = yaml('interface: eth0', 'interface: eth1', 'snat:', '\taddresses: [198.18.0.5]', 'services: []');
    const found = issues(text);
    assert.ok(found.includes('t.yaml:2:1: interface: YAML: map keys must be unique'), found.join('\n'));
    assert.ok(
      found.some((line) => line.startsWith('t.yaml:4:1: ') && line.includes('YAML: tabs are not allowed as indentation')),
      found.join('\n'),
    );
  });

  it('empty file and a top level that is not a mapping', () => {
    assert.deepEqual(issues(''), ['t.yaml:1:1: $: empty document: expected a mapping with at least interface, snat and services']);
    assert.deepEqual(issues('# just a comment\n'), [
      't.yaml:1:1: $: empty document: expected a mapping with at least interface, snat and services',
    ]);
    assert.deepEqual(issues('- eth0\n'), ['t.yaml:1:1: $: expected a mapping, got a list']);
  });

  it('missing required keys: at the enclosing key or list item', () => {
    const text = yaml('interface: eth0', 'snat: {}', 'services:', '  - name: web', '    port: 80');
    assert.deepEqual(issues(text), [
      't.yaml:2:1: snat.addresses: required key is missing',
      't.yaml:4:5: services[0].vip: required key is missing',
      't.yaml:4:5: services[0].backends: required key is missing',
    ]);
    assert.deepEqual(issues(yaml('# comment', 'snat: { addresses: [198.18.0.5] }')), [
      't.yaml:2:1: interface: required key is missing',
      't.yaml:2:1: services: required key is missing',
    ]);
  });

  it('enum, const, invalid address, port 0 and 65536, weight out of range', () => {
    const text = yaml(
      'version: 2',
      'interface: eth0',
      'xdp_mode: fast',
      'snat:',
      '  addresses: [198.18.0.256]',
      'services:',
      '  - name: web',
      '    vip: 198.18.0.10',
      '    port: 0',
      '    protocol: TCP',
      '    backends:',
      '      - { address: 198.18.0.2, port: 65536, weight: 70000 }',
    );
    assert.deepEqual(issues(text), [
      't.yaml:1:10: version: must be 1',
      't.yaml:3:11: xdp_mode: must be one of auto, native, generic',
      't.yaml:5:15: snat.addresses[0]: expected an IPv4 address like 198.18.0.10',
      't.yaml:9:11: services[0].port: must be between 1 and 65535',
      't.yaml:10:15: services[0].protocol: must be one of tcp, udp',
      't.yaml:12:38: services[0].backends[0].port: must be between 1 and 65535',
      't.yaml:12:53: services[0].backends[0].weight: must be between 0 and 65535',
    ]);
  });

  it('duplicate service name: at the second one', () => {
    const text = yaml(
      ...HEAD,
      'services:',
      '  - name: web',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    backends: [{ address: 198.18.0.2 }]',
      '  - name: web',
      '    vip: 198.18.0.10',
      '    port: 443',
      '    backends: [{ address: 198.18.0.2 }]',
    );
    assert.deepEqual(issues(text), ['t.yaml:9:11: services[1].name: duplicate service name "web": already used by services[0]']);
  });

  it('duplicate (vip, port, protocol): at the second service', () => {
    const text = yaml(
      ...HEAD,
      'services:',
      '  - name: web',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    backends: [{ address: 198.18.0.2 }]',
      '  - name: web2',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    protocol: tcp',
      '    backends: [{ address: 198.18.0.3 }]',
      '  - name: web-udp',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    protocol: udp',
      '    backends: [{ address: 198.18.0.3 }]',
    );
    assert.deepEqual(issues(text), [
      't.yaml:9:5: services[1]: duplicate service 198.18.0.10:80/tcp: already defined by services[0] ("web")',
    ]);
  });

  it('duplicate backend (address, port), the port defaulting to the service port', () => {
    const text = yaml(
      ...HEAD,
      'services:',
      '  - name: web',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    backends:',
      '      - address: 198.18.0.2',
      '      - address: 198.18.0.2',
      '        port: 8080',
      '      - address: 198.18.0.2',
      '        port: 80',
    );
    assert.deepEqual(issues(text), [
      't.yaml:12:9: services[0].backends[2]: duplicate backend 198.18.0.2:80 in service "web": already listed as backends[0]',
    ]);
  });

  it('SNAT pool overlapping the local port range, from the given range', () => {
    const text = yaml(...HEAD, '  ports: "30000-40000"', 'services: []');
    assert.deepEqual(issues(text), [
      "t.yaml:4:10: snat.ports: SNAT ports 30000-40000 overlap the kernel's local port range 32768-60999 (net.ipv4.ip_local_port_range); choose ports outside it",
    ]);
    // The same file is fine where the kernel uses other ports.
    ok(parse(text, 't.yaml', { localPortRange: [40001, 60999] }));
    // The default pool is checked too; it is not in the file, so the position is the snat key.
    assert.deepEqual(issues(yaml(...HEAD, 'services: []'), { localPortRange: [1024, 65535] }), [
      "t.yaml:2:1: snat.ports: SNAT ports 10000-32767 overlap the kernel's local port range 1024-65535 (net.ipv4.ip_local_port_range); choose ports outside it",
    ]);
  });

  it('snat.ports: low above high, out of range', () => {
    assert.deepEqual(issues(yaml(...HEAD, '  ports: 20000-10000', 'services: []')), [
      't.yaml:4:10: snat.ports: the low port 20000 is above the high port 10000',
    ]);
    assert.deepEqual(issues(yaml(...HEAD, '  ports: 0-100', 'services: []')), [
      't.yaml:4:10: snat.ports: ports must be between 1 and 65535, got 0-100',
    ]);
    assert.deepEqual(issues(yaml(...HEAD, '  ports: 10000', 'services: []')), [
      't.yaml:4:10: snat.ports: expected a port range like "10000-32767"',
    ]);
  });

  it('SNAT address equal to a VIP: at the SNAT address', () => {
    const text = yaml(
      'interface: eth0',
      'snat:',
      '  addresses: [198.18.0.5, 198.18.0.10]',
      'services:',
      '  - name: web',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    backends: [{ address: 198.18.0.2 }]',
    );
    assert.deepEqual(issues(text), ['t.yaml:3:27: snat.addresses[1]: SNAT address 198.18.0.10 is also the VIP of service "web"']);
  });

  it('health checks: http-only keys, timeout not shorter than interval', () => {
    const text = yaml(
      ...HEAD,
      'services:',
      '  - name: web',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    backends: [{ address: 198.18.0.2 }]',
      '    health_check:',
      '      type: tcp',
      '      path: /healthz',
      '      expect_status: 204',
      '      interval: 1s',
      '      timeout: 1000ms',
    );
    assert.deepEqual(issues(text), [
      't.yaml:11:7: services[0].health_check.path: "path" applies to http health checks only (type is tcp)',
      't.yaml:12:7: services[0].health_check.expect_status: "expect_status" applies to http health checks only (type is tcp)',
      't.yaml:14:16: services[0].health_check.timeout: timeout (1000ms) must be shorter than interval (1s)',
    ]);
  });

  it('reports many errors of different kinds together, in source order', () => {
    const text = yaml(
      'interface: eth0',
      'snat:',
      '  addresses: [198.18.0.10]',
      '  ports: 30000-33000',
      'services:',
      '  - name: web',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    protocl: tcp',
      '    backends:',
      '      - { address: 198.18.0.2, weight: heavy }',
      '      - { address: 198.18.0.2 }',
      '  - name: web',
      '    vip: 198.18.0.11',
      '    port: 80',
      '    backends: []',
      'conntrack: { gc_interval: 2 }',
      'log: { level: loud }',
    );
    assert.deepEqual(issues(text), [
      't.yaml:3:15: snat.addresses[0]: SNAT address 198.18.0.10 is also the VIP of service "web"',
      "t.yaml:4:10: snat.ports: SNAT ports 30000-33000 overlap the kernel's local port range 32768-60999 (net.ipv4.ip_local_port_range); choose ports outside it",
      't.yaml:9:5: services[0].protocl: unknown key "protocl" (did you mean "protocol"?)',
      't.yaml:11:40: services[0].backends[0].weight: expected an integer, got "heavy"',
      't.yaml:12:9: services[0].backends[1]: duplicate backend 198.18.0.2:80 in service "web": already listed as backends[0]',
      't.yaml:13:11: services[1].name: duplicate service name "web": already used by services[0]',
      't.yaml:16:15: services[1].backends: warning: service "web" has no backends: its new flows will be dropped',
      't.yaml:17:27: conntrack.gc_interval: expected a duration like 2s or 1.5s',
      't.yaml:18:15: log.level: must be one of fatal, error, warn, info, debug, trace',
    ]);
  });

  it('issues are data: file, line, col, path, message, severity, code', () => {
    const result = parse(yaml(...HEAD, 'services: []', 'log: { level: loud }'), 'cfg.yaml', ENV);
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(result.issues, [
      {
        file: 'cfg.yaml',
        line: 5,
        col: 15,
        path: 'log.level',
        message: 'must be one of fatal, error, warn, info, debug, trace',
        severity: 'error',
        code: 'enum',
      },
    ]);
  });
});

describe('parseConfig: warnings', () => {
  it('an empty backends list is valid, with a warning at the list', () => {
    const text = yaml(...HEAD, 'services:', '  - { name: web, vip: 198.18.0.10, port: 80, backends: [] }');
    const { state, warnings } = ok(parse(text, 't.yaml', ENV));
    assert.deepEqual(state.services[0]?.backends, []);
    assert.deepEqual(warnings.map(formatIssue), [
      't.yaml:5:56: services[0].backends: warning: service "web" has no backends: its new flows will be dropped',
    ]);
    assert.equal(warnings[0]?.code, 'empty-backends');
  });
});

describe('parseConfig: host facts', () => {
  const text = yaml(
    'interface: eth9',
    'vip_announce: none',
    'snat:',
    '  addresses: [198.18.0.5, 198.18.0.6]',
    'services: []',
  );
  const facts = { interfaces: ['lo', 'eth0'], localAddresses: ['127.0.0.1', '198.18.0.5'] };

  it('are errors at run time', () => {
    assert.deepEqual(issues(text, { ...ENV, host: { facts, severity: 'error' } }), [
      't.yaml:1:12: interface: interface "eth9" does not exist in this network namespace',
      't.yaml:4:27: snat.addresses[1]: SNAT address 198.18.0.6 is not an address of this host, and with vip_announce: none the agent does not add it',
    ]);
  });

  it('are warnings under --check', () => {
    const { warnings } = ok(parse(text, 't.yaml', { ...ENV, host: { facts, severity: 'warning' } }));
    assert.deepEqual(
      warnings.map((w) => [w.code, w.severity, w.line, w.col]),
      [
        ['host-interface', 'warning', 1, 12],
        ['host-snat-address', 'warning', 4, 27],
      ],
    );
  });

  it('a missing SNAT address is fine with vip_announce: arp (the agent adds it)', () => {
    const arp = text.replace('vip_announce: none', 'vip_announce: arp').replace('eth9', 'eth0');
    ok(parse(arp, 't.yaml', { ...ENV, host: { facts, severity: 'error' } }));
  });

  it('are not run without facts', () => {
    ok(parse(text, 't.yaml', ENV));
  });
});

describe('parseConfig: more semantic checks', () => {
  const service = (...extra: string[]): string[] => [
    'services:',
    '  - name: web',
    '    vip: 198.18.0.10',
    '    port: 80',
    ...extra,
  ];

  it('addresses that cannot be used, and backends that are our own addresses', () => {
    const text = yaml(
      'interface: eth0',
      'snat: { addresses: [198.18.0.5, 127.0.0.1, 198.18.0.5] }',
      'services:',
      '  - name: web',
      '    vip: 224.0.0.1',
      '    port: 80',
      '    backends: [{ address: 198.18.0.5 }, { address: 0.0.0.1 }]',
      '  - name: api',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    backends: [{ address: 198.18.0.10, port: 8080 }, { address: 198.18.0.300 }]',
    );
    assert.deepEqual(issues(text), [
      't.yaml:2:33: snat.addresses[1]: SNAT address 127.0.0.1 is a loopback address (127.0.0.0/8)',
      't.yaml:2:44: snat.addresses[2]: duplicate SNAT address 198.18.0.5: already listed as snat.addresses[0]',
      't.yaml:5:10: services[0].vip: VIP 224.0.0.1 is a multicast address (224.0.0.0/4)',
      't.yaml:7:27: services[0].backends[0].address: backend address 198.18.0.5 is a SNAT address of this balancer: a backend must be another host',
      't.yaml:7:52: services[0].backends[1].address: backend address 0.0.0.1 is in 0.0.0.0/8 ("this network")',
      't.yaml:11:27: services[1].backends[0].address: backend address 198.18.0.10 is the VIP of service "api": a backend must be another host',
      't.yaml:11:65: services[1].backends[1].address: expected an IPv4 address like 198.18.0.10',
    ]);
  });

  it('durations: zero where it makes no sense, absurdly long', () => {
    const text = yaml(
      ...HEAD,
      '  reuse_after: 0s',
      'services: []',
      'neighbors: { refresh_interval: 0ms }',
      'conntrack: { timeouts: { tcp_established: 721h } }',
    );
    assert.deepEqual(issues(text), [
      't.yaml:6:32: neighbors.refresh_interval: must be at least 1ms',
      't.yaml:7:43: conntrack.timeouts.tcp_established: must be at most 720h',
    ]);
  });

  it('metrics.listen must be an IPv4 address and a port', () => {
    assert.deepEqual(issues(yaml(...HEAD, 'services: []', 'metrics: { listen: 1.2.3:80 }')), [
      't.yaml:5:20: metrics.listen: "1.2.3" is not an IPv4 address',
    ]);
    assert.deepEqual(issues(yaml(...HEAD, 'services: []', 'metrics: { listen: "127.0.0.1:0" }')), [
      't.yaml:5:20: metrics.listen: port "0" must be between 1 and 65535',
    ]);
    assert.deepEqual(issues(yaml(...HEAD, 'services: []', 'metrics: { listen: localhost }')), [
      't.yaml:5:20: metrics.listen: expected IPv4ADDRESS:PORT like 127.0.0.1:9740',
    ]);
  });

  it('warns: weights under round_robin, gc_interval above the shortest timeout', () => {
    const text = yaml(
      ...HEAD,
      ...service('    backends:', '      - { address: 198.18.0.2, weight: 3 }', '      - { address: 198.18.0.3, weight: 5 }'),
      'conntrack: { gc_interval: 5s }',
    );
    const { warnings } = ok(parse(text, 't.yaml', ENV));
    assert.deepEqual(warnings.map(formatIssue), [
      't.yaml:9:40: services[0].backends[0].weight: warning: round_robin ignores weights (only 0 excludes a backend); use weighted_round_robin for shares by weight',
      't.yaml:11:27: conntrack.gc_interval: warning: gc_interval (5s) is longer than the shortest conntrack timeout (tcp_closing: 2s): expired flows stay up to gc_interval longer',
    ]);
  });

  it('a value the schema rejected gets no second, semantic error', () => {
    const text = yaml(...HEAD, ...service('    backends: [{ address: 198.18.0.2 }]', '    health_check: { interval: 0, timeout: 1s }'));
    assert.deepEqual(issues(text), ['t.yaml:9:31: services[0].health_check.interval: expected a duration like 2s or 1.5s']);
  });

  it('YAML: several documents in one file, aliases', () => {
    const found = issues(yaml(...HEAD, 'services: []', '---', 'interface: eth1'));
    assert.deepEqual(found, [
      't.yaml:5:1: $: YAML: source contains multiple documents; please use YAML.parseAllDocuments()',
    ]);
    // A bad value reached through an alias is reported under each path, at the anchored value.
    const aliased = yaml(
      ...HEAD,
      'services:',
      '  - name: web',
      '    vip: 198.18.0.10',
      '    port: 80',
      '    backends: &be [{ address: 198.18.0.2, weight: -1 }]',
      '  - name: web2',
      '    vip: 198.18.0.11',
      '    port: 80',
      '    backends: *be',
    );
    assert.deepEqual(issues(aliased), [
      't.yaml:8:51: services[0].backends[0].weight: must be between 0 and 65535',
      't.yaml:8:51: services[1].backends[0].weight: must be between 0 and 65535',
    ]);
  });
});
