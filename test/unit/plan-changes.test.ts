import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LbAddrRole } from '../../src/datapath/codecs.js';
import {
  EMPTY_LIVE_STATE,
  PHASE_ORDER,
  describePlan,
  planChanges,
  tableDigest,
  type LiveState,
  type Operation,
  type PlanContext,
} from '../../src/plan/index.js';
import { IdAllocator, IdSet } from '../../src/plan/allocate-ids.js';
import { desiredState, type TestConfig, type TestService } from '../support/desired-config.js';
import { desiredView, liveView, simulateApply } from '../support/simulate-apply.js';

const CTX: PlanContext = {
  limits: { maxServices: 4096, maxBackends: 65536 },
  iface: { name: 'eth0', index: 2 },
  hostAddresses: new Set(),
  addressesInUse: new Set(),
};

const WEB: TestService = {
  name: 'web',
  vip: '198.18.1.10',
  backends: [{ address: '198.18.0.2' }, { address: '198.18.0.3' }],
};
const DNS: TestService = {
  name: 'dns',
  vip: '198.18.1.11',
  port: 53,
  protocol: 'udp',
  scheduler: 'maglev',
  backends: [{ address: '198.18.0.2', port: 53 }, { address: '198.18.0.4', port: 53 }],
};
const BASE: TestConfig = { services: [WEB, DNS] };

/** The host holds what the agent announced (unless a test says what it holds). */
function hostOf(live: LiveState, ctx: PlanContext): PlanContext {
  return ctx === CTX ? { ...ctx, hostAddresses: new Set(live.announced.keys()) } : ctx;
}

function plan(config: TestConfig, live: LiveState, ctx: PlanContext = CTX): Operation[] {
  const result = planChanges(desiredState(config), live, hostOf(live, ctx));
  assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  return [...result.operations];
}

function applied(config: TestConfig, ctx: PlanContext = CTX): LiveState {
  return simulateApply(EMPTY_LIVE_STATE, plan(config, EMPTY_LIVE_STATE, ctx));
}

const kinds = (ops: readonly Operation[]): string[] => ops.map((o) => `${o.kind}${'change' in o ? `:${o.change}` : ''}`);

describe('planChanges: from nothing', () => {
  it('publishes addresses, backends, tables, services and the pool, in phase order', () => {
    const ops = plan(BASE, EMPTY_LIVE_STATE);
    assert.deepEqual(kinds(ops), [
      ...Array(3).fill('put-address:add'),
      ...Array(3).fill('announce-address:add'),
      ...Array(4).fill('put-backend:add'),
      ...Array(2).fill('put-service:add'),
      'put-snat-pool:add',
    ]);
    const phases = ops.map((o) => PHASE_ORDER.indexOf(o.kind));
    assert.deepEqual(phases, [...phases].sort((a, b) => a - b));
    const addresses = ops.filter((o) => o.kind === 'put-address');
    assert.deepEqual(
      addresses.map((o) => [o.address, o.roles]),
      [
        ['198.18.1.10', LbAddrRole.VIP],
        ['198.18.1.11', LbAddrRole.VIP],
        ['198.18.0.5', LbAddrRole.SNAT],
      ],
    );
  });

  it('every table refers only to backends put earlier in the plan, of its own service', () => {
    const ops = plan(BASE, EMPTY_LIVE_STATE);
    const put = new Map<number, number>();
    for (const op of ops) {
      if (op.kind === 'put-backend') put.set(op.num, op.serviceNum);
      if (op.kind === 'put-service') {
        for (const b of op.table!.backends) assert.equal(put.get(b.id), op.num, `${op.service} slot ${b.key}`);
        assert.equal(op.table!.backends.length, 2);
      }
    }
  });

  it('gives distinct ids to the same address:port in two services', () => {
    const ops = plan(BASE, EMPTY_LIVE_STATE).filter((o) => o.kind === 'put-backend');
    assert.equal(new Set(ops.map((o) => o.num)).size, ops.length);
  });

  it('ends the dry-run text with "N operations"', () => {
    const text = describePlan(plan(BASE, EMPTY_LIVE_STATE));
    assert.match(text, /\n13 operations\n$/);
    assert.match(text, /^\+ backend #\d+ 198\.18\.0\.2:80 of 198\.18\.1\.10:80\/tcp: weight 1, active$/m);
    assert.equal(describePlan([]), '0 operations\n');
  });
});

describe('planChanges: against what it published', () => {
  const live = applied(BASE);

  it('an unchanged config plans nothing', () => {
    assert.deepEqual(plan(BASE, live), []);
  });

  it('reordering services and backends in the YAML plans nothing', () => {
    const reordered: TestConfig = {
      services: [DNS, { ...WEB, backends: [...WEB.backends].reverse() }].map((s) => ({ ...s })),
    };
    assert.deepEqual(plan(reordered, live), []);
  });

  it('adding one backend touches only that backend and its service', () => {
    const edited: TestConfig = { services: [{ ...WEB, backends: [...WEB.backends, { address: '198.18.0.6' }] }, DNS] };
    const ops = plan(edited, live);
    assert.deepEqual(kinds(ops), ['put-backend:add', 'put-service:update']);
    const [backend, service] = ops as [Extract<Operation, { kind: 'put-backend' }>, Extract<Operation, { kind: 'put-service' }>];
    assert.equal(backend.address, '198.18.0.6');
    assert.equal(service.name, 'web');
    assert.deepEqual(service.table!.backends.map((b) => b.key), ['198.18.0.2:80', '198.18.0.3:80', '198.18.0.6:80']);
  });

  it('pairs backends by content when their ids are not in address order', () => {
    // 198.18.0.1 sorts first but gets the next free id, after 0.2 and 0.3.
    const edited: TestConfig = { services: [{ ...WEB, backends: [{ address: '198.18.0.1' }, ...WEB.backends] }, DNS] };
    const after = simulateApply(live, plan(edited, live));
    assert.deepEqual(plan(edited, after), []);
    const weighed: TestConfig = { services: [{ ...WEB, backends: [{ address: '198.18.0.1' }, { address: '198.18.0.2', weight: 3 }, WEB.backends[1]!] }, DNS] };
    const ops = plan(weighed, after).filter((o) => o.kind === 'put-backend');
    assert.deepEqual(ops.map((o) => [o.change, o.address, o.weight]), [['update', '198.18.0.2', 3]]);
  });

  it('removing one backend republishes the table first, then deletes the backend', () => {
    const edited: TestConfig = { services: [{ ...WEB, backends: [WEB.backends[0]!] }, DNS] };
    const ops = plan(edited, live);
    assert.deepEqual(kinds(ops), ['put-service:update', 'delete-backend']);
  });

  it('re-weighting, draining or disabling a backend updates it and its table', () => {
    for (const change of [{ weight: 5 }, { state: 'draining' as const }, { state: 'disabled' as const }, { weight: 0 }]) {
      const edited: TestConfig = { services: [{ ...WEB, backends: [{ address: '198.18.0.2', ...change }, WEB.backends[1]!] }, DNS] };
      const ops = plan(edited, live);
      assert.deepEqual(kinds(ops), ['put-backend:update', 'put-service:update'], JSON.stringify(change));
      const table = (ops[1] as Extract<Operation, { kind: 'put-service' }>).table!;
      const expected = 'weight' in change && change.weight === 5 ? 2 : 1;
      assert.equal(table.backends.length, expected, JSON.stringify(change));
    }
  });

  it('switching scheduler republishes that service only', () => {
    const ops = plan({ services: [{ ...WEB, scheduler: 'maglev' }, DNS] }, live);
    assert.deepEqual(kinds(ops), ['put-service:update']);
    assert.equal((ops[0] as Extract<Operation, { kind: 'put-service' }>).table!.scheduler, 'maglev');
  });

  it('renaming a service rewrites its record and keeps its table', () => {
    const ops = plan({ services: [{ ...WEB, name: 'www' }, DNS] }, live);
    assert.deepEqual(kinds(ops), ['put-service:update']);
    assert.equal((ops[0] as Extract<Operation, { kind: 'put-service' }>).table, null);
  });

  it('removing a service removes its entry, backends, VIP and announcement', () => {
    const ops = plan({ services: [WEB] }, live);
    assert.deepEqual(kinds(ops), ['delete-service', 'delete-backend', 'delete-backend', 'delete-address', 'withdraw-address']);
    assert.ok(ops.every((o) => !('address' in o) || o.kind === 'delete-backend' || o.address === DNS.vip));
  });

  it('keeps a removed VIP recognised and announced while flows use it', () => {
    const result = planChanges(desiredState({ services: [WEB] }), live, { ...hostOf(live, CTX), addressesInUse: new Set([DNS.vip]) });
    assert.ok(result.ok);
    assert.deepEqual(kinds(result.operations), ['delete-service', 'delete-backend', 'delete-backend']);
    assert.deepEqual(result.retained.map((r) => r.address), [DNS.vip]);
  });

  it('a removed SNAT address leaves the pool at once but stays recognised while flows use it', () => {
    const two = applied({ ...BASE, snat: { addresses: ['198.18.0.5', '198.18.0.7'] } });
    const result = planChanges(desiredState(BASE), two, { ...hostOf(two, CTX), addressesInUse: new Set(['198.18.0.7']) });
    assert.ok(result.ok);
    assert.deepEqual(kinds(result.operations), ['put-snat-pool:update']);
    assert.deepEqual(result.retained.map((r) => r.address), ['198.18.0.7']);
    const later = plan(BASE, simulateApply(two, result.operations));
    assert.deepEqual(kinds(later), ['delete-address', 'withdraw-address']);
  });

  it('does not reuse an id freed in the same plan', () => {
    const edited: TestConfig = { services: [{ ...WEB, backends: [WEB.backends[0]!, { address: '198.18.0.9' }] }, DNS] };
    const ops = plan(edited, live);
    const deleted = ops.find((o) => o.kind === 'delete-backend')!;
    const added = ops.find((o) => o.kind === 'put-backend')!;
    assert.notEqual(added.kind === 'put-backend' && added.num, deleted.kind === 'delete-backend' && deleted.num);
  });

  it('leaves out unhealthy backends, and a health change touches only that table', () => {
    const ctx: PlanContext = { ...hostOf(live, CTX), isEligible: (service, backend) => !(service.id === '198.18.1.10:80/tcp' && backend.id === '198.18.0.3:80') };
    const ops = plan(BASE, live, ctx);
    assert.deepEqual(kinds(ops), ['put-service:update']);
    assert.deepEqual((ops[0] as Extract<Operation, { kind: 'put-service' }>).table!.backends.map((b) => b.key), ['198.18.0.2:80']);
  });

  it('with vip_announce: none, withdraws what it announced and announces nothing', () => {
    const ops = plan({ ...BASE, vip_announce: 'none' }, live);
    assert.deepEqual(kinds(ops), Array(3).fill('withdraw-address'));
  });

  it('never announces or withdraws an address the host had before', () => {
    const ctx = { ...CTX, hostAddresses: new Set(['198.18.0.5']) };
    const ops = plan(BASE, EMPTY_LIVE_STATE, ctx);
    assert.ok(!ops.some((o) => o.kind === 'announce-address' && o.address === '198.18.0.5'));
    const after = simulateApply(EMPTY_LIVE_STATE, ops);
    assert.ok(!plan({ ...BASE, vip_announce: 'none' }, after, ctx).some((o) => o.kind === 'withdraw-address' && o.address === '198.18.0.5'));
  });

  it('re-announces an address it added that has gone from the host', () => {
    const ctx = { ...CTX, hostAddresses: new Set(['198.18.1.10', '198.18.0.5']) };
    assert.deepEqual(
      plan(BASE, live, ctx).map((o) => [o.kind, 'change' in o ? o.change : '', 'address' in o ? o.address : '']),
      [['announce-address', 'repair', '198.18.1.11']],
    );
  });

  it('refuses a plan that needs more ids than the maps hold', () => {
    const result = planChanges(desiredState(BASE), EMPTY_LIVE_STATE, { ...CTX, limits: { maxServices: 1, maxBackends: 65536 } });
    assert.ok(!result.ok);
    assert.match(result.errors[0]!, /no free service id, lb_services holds at most 1/);
  });
});

describe('planChanges: repairs what differs from its records', () => {
  const live = applied(BASE);
  const web = live.services.find((s) => s.name === 'web')!;
  const edit = (services: LiveState['services'], backends = live.backends): LiveState => ({ ...live, services, backends });

  it('an lb_services entry deleted behind its back is put back, table kept', () => {
    const ops = plan(BASE, edit(live.services.map((s) => (s === web ? { ...s, published: false } : s))));
    assert.deepEqual(kinds(ops), ['put-service:repair']);
    assert.equal((ops[0] as Extract<Operation, { kind: 'put-service' }>).table, null);
  });

  it('a table swapped behind its back is rebuilt', () => {
    const ops = plan(BASE, edit(live.services.map((s) => (s === web ? { ...s, tablePublished: false } : s))));
    assert.deepEqual(kinds(ops), ['put-service:repair']);
    assert.notEqual((ops[0] as Extract<Operation, { kind: 'put-service' }>).table, null);
  });

  it('a backend entry changed behind its back is rewritten', () => {
    const backends = live.backends.map((b, i) => (i === 0 ? { ...b, published: false } : b));
    assert.deepEqual(kinds(plan(BASE, edit(live.services, backends))), ['put-backend:repair']);
  });

  it('a stray lb_services entry is deleted, unless it sits on a desired key', () => {
    const stray = { vip: '198.18.1.99', port: 80, protocol: 'tcp' as const };
    assert.deepEqual(kinds(plan(BASE, { ...live, strayServices: [stray] })), ['delete-service']);
    const onWeb = { vip: WEB.vip, port: 80, protocol: 'tcp' as const };
    const unpublished = live.services.map((s) => (s === web ? { ...s, published: false } : s));
    assert.deepEqual(kinds(plan(BASE, { ...live, services: unpublished, strayServices: [onWeb] })), ['put-service:repair']);
  });

  it('a lost address role is restored', () => {
    const addresses = new Map(live.addresses);
    addresses.delete(WEB.vip);
    assert.deepEqual(kinds(plan(BASE, { ...live, addresses })), ['put-address:add']);
  });
});

describe('planChanges: properties over random configs', () => {
  const octet = fc.integer({ min: 2, max: 30 });
  const backend = fc.record({
    address: octet.map((n) => `198.18.0.${n}`),
    port: fc.constantFrom(80, 8080),
    weight: fc.integer({ min: 0, max: 5 }),
    state: fc.constantFrom('active' as const, 'draining' as const, 'disabled' as const),
  });
  const service = fc.record({
    vip: fc.integer({ min: 1, max: 12 }).map((n) => `198.18.1.${n}`),
    port: fc.constantFrom(80, 443),
    protocol: fc.constantFrom('tcp' as const, 'udp' as const),
    scheduler: fc.constantFrom('round_robin' as const, 'weighted_round_robin' as const, 'maglev' as const, 'source_hash' as const),
    backends: fc.uniqueArray(backend, { maxLength: 6, selector: (b) => `${b.address}:${b.port}` }),
  });
  const config = fc
    .record({
      services: fc.uniqueArray(service, { maxLength: 6, selector: (s) => `${s.vip}:${s.port}/${s.protocol}` }),
      snat: fc.uniqueArray(fc.integer({ min: 100, max: 104 }).map((n) => `198.18.0.${n}`), { minLength: 1, maxLength: 3 }),
      announce: fc.constantFrom('arp' as const, 'none' as const),
    })
    .map(
      (c): TestConfig => ({
        vip_announce: c.announce,
        snat: { addresses: c.snat },
        services: c.services.map((s, i) => ({ name: `svc-${i}`, ...s })),
      }),
    );

  it('applying a plan reaches the desired state, and planning again gives nothing', () => {
    fc.assert(
      fc.property(config, config, (first, second) => {
        const live1 = simulateApply(EMPTY_LIVE_STATE, plan(first, EMPTY_LIVE_STATE));
        assert.deepEqual(liveView(live1), desiredView(desiredState(first)));
        assert.deepEqual(plan(first, live1), []);
        const live2 = simulateApply(live1, plan(second, live1));
        assert.deepEqual(liveView(live2), desiredView(desiredState(second)));
        assert.deepEqual(plan(second, live2), []);
      }),
      { numRuns: 150 },
    );
  });

  it('services the edit does not change get no operations', () => {
    fc.assert(
      fc.property(config, config, (first, second) => {
        const live1 = simulateApply(EMPTY_LIVE_STATE, plan(first, EMPTY_LIVE_STATE));
        const before = new Map(desiredState(first).services.map((s) => [s.id, JSON.stringify(s)]));
        const unchanged = new Set(desiredState(second).services.filter((s) => before.get(s.id) === JSON.stringify(s)).map((s) => s.id));
        for (const op of plan(second, live1)) {
          if ('service' in op) assert.ok(!unchanged.has(op.service), `${op.kind} touches unchanged ${op.service}`);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('tableDigest', () => {
  it('is the digest tables were published with, so an upgraded agent leaves them alone', () => {
    // Computed by the streaming implementation these digests were first stored with.
    const backends = [
      { id: 0, key: '198.18.0.2:80', weight: 1 },
      { id: 17, key: '198.18.0.10:8080', weight: 65535 },
    ];
    assert.equal(tableDigest('maglev', backends), '33f03a6c07d850b3');
    assert.equal(tableDigest('round_robin', []), '036c8db5e3e58615');
    assert.equal(tableDigest('weighted_round_robin', [{ id: 65535, key: 'bäckend:1', weight: 0 }]), '36032fb3053547ad');
  });
});

describe('IdSet and IdAllocator', () => {
  it('hands out the lowest free ids below the capacity, and takes ids beyond its size', () => {
    const used = IdSet.of([{ num: 0 }, { num: 2 }, { num: 70_000 }], (r) => r.num, 4);
    assert.ok(used.has(70_000) && used.has(2) && !used.has(1) && !used.has(3));
    const ids = new IdAllocator(used, 5);
    assert.deepEqual([ids.take(), ids.take(), ids.take(), ids.take()], [1, 3, 4, undefined]);
  });
});
