import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import type { DesiredState } from '../../src/model/desired-state.js';
import { healthKey, healthTargets } from '../../src/loops/health-targets.js';

function state(services: string[]): DesiredState {
  const text = ['interface: eth0', 'snat: { addresses: [198.18.0.5] }', 'services:', ...services.map((s) => `  - ${s}`)].join('\n');
  const result = parseConfig(text, 't.yaml', { localPortRange: [32768, 60999] });
  assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.issues));
  return result.state;
}

describe('healthTargets', () => {
  it('makes one target per backend of each service with a health check, in the state order', () => {
    const targets = healthTargets(
      state([
        '{ name: plain, vip: 198.18.0.9, port: 80, backends: [{ address: 198.18.0.2 }] }',
        '{ name: none, vip: 198.18.0.11, port: 80, backends: [{ address: 198.18.0.2 }], health_check: { type: none } }',
        '{ name: web, vip: 198.18.0.10, port: 80, backends: [{ address: 198.18.0.4, port: 8080, state: disabled }, { address: 198.18.0.3, weight: 0 }],' +
          ' health_check: { type: http, interval: 500ms, timeout: 200ms, rise: 4, fall: 5, path: /healthz, expect_status: 204 } }',
        '{ name: dns, vip: 198.18.0.10, port: 53, protocol: udp, backends: [{ address: 198.18.0.3, port: 5353 }], health_check: { port: 53 } }',
      ]),
    );
    assert.deepEqual(targets, [
      {
        type: 'tcp',
        key: '198.18.0.10:53/udp|198.18.0.3:5353',
        serviceId: '198.18.0.10:53/udp',
        backendId: '198.18.0.3:5353',
        address: '198.18.0.3',
        port: 53,
        timeoutMs: 1000,
        intervalMs: 2000,
        rise: 2,
        fall: 3,
      },
      {
        type: 'http',
        path: '/healthz',
        expectStatus: 204,
        key: '198.18.0.10:80/tcp|198.18.0.3:80',
        serviceId: '198.18.0.10:80/tcp',
        backendId: '198.18.0.3:80',
        address: '198.18.0.3',
        port: 80,
        timeoutMs: 200,
        intervalMs: 500,
        rise: 4,
        fall: 5,
      },
      {
        type: 'http',
        path: '/healthz',
        expectStatus: 204,
        key: '198.18.0.10:80/tcp|198.18.0.4:8080',
        serviceId: '198.18.0.10:80/tcp',
        backendId: '198.18.0.4:8080',
        address: '198.18.0.4',
        port: 8080,
        timeoutMs: 200,
        intervalMs: 500,
        rise: 4,
        fall: 5,
      },
    ]);
  });

  it('keys a target by service and backend, so the same backend in two services is two targets', () => {
    const targets = healthTargets(
      state([
        '{ name: a, vip: 198.18.0.10, port: 80, backends: [{ address: 198.18.0.2 }], health_check: {} }',
        '{ name: b, vip: 198.18.0.10, port: 81, backends: [{ address: 198.18.0.2, port: 80 }], health_check: {} }',
      ]),
    );
    assert.deepEqual(
      targets.map((t) => t.key),
      [healthKey('198.18.0.10:80/tcp', '198.18.0.2:80'), healthKey('198.18.0.10:81/tcp', '198.18.0.2:80')],
    );
  });

  it('gives the same targets for the same config whatever the order in the file', () => {
    const a = '{ name: a, vip: 198.18.0.10, port: 80, backends: [{ address: 198.18.0.2 }, { address: 198.18.0.3 }], health_check: {} }';
    const b = '{ name: a, vip: 198.18.0.10, port: 80, backends: [{ address: 198.18.0.3 }, { address: 198.18.0.2 }], health_check: {} }';
    assert.deepEqual(healthTargets(state([a])), healthTargets(state([b])));
  });
});
