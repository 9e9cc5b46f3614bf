import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import {
  backendId,
  compareBackendIds,
  compareServiceIds,
  deepFreeze,
  endpointKey,
  ipv4ToNumber,
  nonUnicastReason,
  nonUnicastReasonOf,
  restartOnlyChanges,
  RESTART_ONLY_SETTINGS,
  type DesiredState,
} from '../../src/model/index.js';

function state(extra: string[] = [], iface = 'eth0'): DesiredState {
  const text = [
    `interface: ${iface}`,
    'snat: { addresses: [198.18.0.5] }',
    'services: [{ name: web, vip: 198.18.0.10, port: 80, backends: [{ address: 198.18.0.2 }] }]',
    ...extra,
  ].join('\n');
  const result = parseConfig(text, 't.yaml', { localPortRange: [32768, 60999] });
  assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.issues));
  return result.state;
}

describe('restartOnlyChanges', () => {
  it('is empty for the same settings, whatever else changes', () => {
    const a = state();
    const b = state(['log: { level: debug }', 'conntrack: { gc_interval: 2s }', 'vip_announce: none']);
    assert.notDeepEqual(a, b);
    assert.deepEqual(restartOnlyChanges(a, b), []);
    assert.deepEqual(restartOnlyChanges(a, a), []);
  });

  it('lists interface, xdp_mode and conntrack.max_entries when they differ', () => {
    const a = state();
    assert.deepEqual(restartOnlyChanges(a, state([], 'eth1')), ['interface']);
    assert.deepEqual(restartOnlyChanges(a, state(['xdp_mode: generic'])), ['xdp_mode']);
    assert.deepEqual(restartOnlyChanges(a, state(['conntrack: { max_entries: 2097152 }'])), ['conntrack.max_entries']);
    assert.deepEqual(restartOnlyChanges(a, state(['xdp_mode: native', 'conntrack: { max_entries: 4096 }'], 'eth1')), [
      'interface',
      'xdp_mode',
      'conntrack.max_entries',
    ]);
    assert.deepEqual([...RESTART_ONLY_SETTINGS], ['interface', 'xdp_mode', 'conntrack.max_entries']);
  });

  it('a default written out is no change', () => {
    assert.deepEqual(restartOnlyChanges(state(), state(['xdp_mode: auto', 'conntrack: { max_entries: 1048576 }'])), []);
  });
});

describe('identities and order', () => {
  it('orders addresses numerically, then port, then protocol', () => {
    const ids = ['198.18.0.10:80/udp', '198.18.0.9:443/tcp', '198.18.0.10:80/tcp', '198.18.0.10:8080/tcp', '198.19.0.1:1/tcp'];
    assert.deepEqual([...ids].sort(compareServiceIds), [
      '198.18.0.9:443/tcp',
      '198.18.0.10:80/tcp',
      '198.18.0.10:80/udp',
      '198.18.0.10:8080/tcp',
      '198.19.0.1:1/tcp',
    ]);
    assert.deepEqual(['198.18.0.10:80', '198.18.0.2:8080', '198.18.0.2:80'].sort(compareBackendIds), [
      '198.18.0.2:80',
      '198.18.0.2:8080',
      '198.18.0.10:80',
    ]);
  });

  it('keys a backend by a number where it can, equal exactly when the backend ids are', () => {
    const cases: [string, number][] = [
      ['198.18.0.2', 80],
      ['198.18.0.2', 8080],
      ['198.18.0.3', 80],
      ['255.255.255.255', 65535],
      ['0.0.0.0', 0],
      ['198.18.0.2', 65536],
      ['198.18.0.2', 1.5],
      ['198.018.0.2', 80],
      ['host', 80],
    ];
    for (const [a, pa] of cases) {
      for (const [b, pb] of cases) assert.equal(endpointKey(a, pa) === endpointKey(b, pb), backendId(a, pa) === backendId(b, pb), `${a}:${pa} ${b}:${pb}`);
    }
    assert.equal(endpointKey('198.18.0.2', 80), 0xc6120002 * 0x10000 + 80);
    assert.equal(endpointKey('198.18.0.2', 80, ipv4ToNumber('198.18.0.2')), endpointKey('198.18.0.2', 80));
  });

  it('classifies addresses that cannot be VIPs, backends or SNAT addresses', () => {
    for (const address of ['198.18.0.10', '127.0.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '240.0.0.1']) {
      assert.equal(nonUnicastReasonOf(ipv4ToNumber(address)!), nonUnicastReason(address), address);
    }
    assert.equal(nonUnicastReason('198.18.0.10'), undefined);
    assert.match(nonUnicastReason('127.0.0.1') ?? '', /loopback/);
    assert.match(nonUnicastReason('0.0.0.0') ?? '', /0\.0\.0\.0\/8/);
    assert.match(nonUnicastReason('224.0.0.1') ?? '', /multicast/);
    assert.match(nonUnicastReason('255.255.255.255') ?? '', /broadcast/);
  });

  it('deepFreeze freezes nested arrays and objects', () => {
    const value = deepFreeze({ a: [{ b: 1 }], c: { d: [2] } });
    assert.ok(Object.isFrozen(value.a[0]) && Object.isFrozen(value.c.d));
  });
});

describe('ipv4ToNumber', () => {
  it('parses dotted quads and nothing else', async () => {
    const { ipv4ToNumber } = await import('../../src/model/index.js');
    assert.equal(ipv4ToNumber('198.18.0.10'), 0xc612000a);
    assert.equal(ipv4ToNumber('0.0.0.0'), 0);
    assert.equal(ipv4ToNumber('255.255.255.255'), 0xffffffff);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '1.2.3.256', '01.2.3.4', '1..2.3', '1.2.3.4.', '.1.2.3', 'a.b.c.d', '1.2.3.-4', '1.2.3.4 ']) {
      assert.equal(ipv4ToNumber(bad), undefined, bad);
    }
  });
});
