/*
 * The neighbour loop on a fake clock against a simulated kernel (routes,
 * a neighbour table, hosts that answer ARP at once or never) and an
 * in-memory lb_neigh: what it writes and reports, reloads, restarts, failures
 * and stop(). The real kernel: test/e2e/neighbor-resolver.test.ts.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { createLogger } from '../../src/agent/logger.js';
import type { Timers } from '../../src/agent/timers.js';
import { HostError } from '../../src/host/host-error.js';
import type { NeighborEntry, NeighborTarget } from '../../src/host/neighbor-table.js';
import type { NextHop } from '../../src/host/route-lookup.js';
import type { NeighborMaps } from '../../src/loops/neighbor-map.js';
import { ANSWER_WAIT_MS, NeighborResolver, type NeighborHost, type NeighborResolverOptions } from '../../src/loops/neighbor-resolver.js';

const INTERVAL = 1000;
const RS1 = '198.18.0.2';
const RS2 = '198.18.0.3';
const ROUTER = '198.18.0.254';
const BEHIND = '198.18.2.2';
const BEHIND2 = '198.18.2.3';
const MAC = {
  [RS1]: '02:00:00:00:00:02',
  [RS2]: '02:00:00:00:00:03',
  [ROUTER]: '02:00:00:00:00:fe',
};

/** A scheduler whose clock moves only in advance(), running due callbacks in time order. */
class ManualTimers implements Timers {
  now = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; callback: () => void }>();

  setTimeout(callback: () => void, ms: number): unknown {
    this.seq += 1;
    this.pending.set(this.seq, { at: this.now + ms, callback });
    return this.seq;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  get live(): number {
    return this.pending.size;
  }

  readonly clock = (): bigint => BigInt(this.now) * 1_000_000n;

  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await turn();
      const due = [...this.pending].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.pending.delete(due[0]);
      this.now = due[1].at;
      due[1].callback();
    }
    this.now = end;
  }
}

/** Routes, a neighbour table on eth0 and the hosts that answer ARP (at once); records what the loop asked. */
class FakeKernel implements NeighborHost {
  readonly routes = new Map<string, NextHop>([
    [RS1, { nextHop: RS1, ifname: 'eth0' }],
    [RS2, { nextHop: RS2, ifname: 'eth0' }],
    [BEHIND, { nextHop: ROUTER, ifname: 'eth0' }],
    [BEHIND2, { nextHop: ROUTER, ifname: 'eth0' }],
  ]);
  readonly answers = new Map<string, string>(Object.entries(MAC));
  readonly table = new Map<string, NeighborEntry>();
  readonly lookups: number[] = [];
  readonly probes: string[][] = [];
  failLookups = false;
  failProbes = false;

  constructor(private readonly timers: ManualTimers) {}

  nextHops = async (addresses: readonly string[]): Promise<Map<string, NextHop>> => {
    this.lookups.push(this.timers.now);
    if (this.failLookups) throw new HostError('EHOST_IP', ['ip', '-j', '-force', '-batch', 'FILE'], 'exit status 1', 'Cannot open file');
    return new Map(addresses.flatMap((a) => (this.routes.has(a) ? [[a, this.routes.get(a)!] as const] : [])));
  };

  readTable = async (): Promise<NeighborEntry[]> => [...this.table.values()];

  reresolve = async (targets: readonly NeighborTarget[]): Promise<NeighborTarget[]> => {
    this.probes.push(targets.map((t) => t.address));
    for (const t of targets) {
      const mac = this.answers.get(t.address);
      this.set(t.address, mac === undefined ? ['INCOMPLETE'] : ['REACHABLE'], mac);
    }
    if (this.failProbes) throw new HostError('EHOST_IP', ['ip', '-force', '-batch', '-'], 'exit status 1', 'Cannot find device "eth1"');
    return [];
  };

  set(address: string, states: string[], mac?: string): void {
    this.table.set(address, { address, dev: 'eth0', ...(mac === undefined ? {} : { mac }), states, managed: false, externLearn: false });
  }
}

/** lb_neigh in memory, with every write in order. */
class FakeMaps implements NeighborMaps {
  readonly entries = new Map<string, string>();
  readonly writes: string[] = [];

  putNeighbor(ip: string, mac: string): void {
    this.writes.push(`put ${ip} ${mac}`);
    this.entries.set(ip, mac);
  }

  deleteNeighbor(ip: string): boolean {
    this.writes.push(`delete ${ip}`);
    return this.entries.delete(ip);
  }

  neighbors(): Map<string, string> {
    return new Map(this.entries);
  }
}

interface Rig {
  timers: ManualTimers;
  kernel: FakeKernel;
  maps: FakeMaps;
  resolver: NeighborResolver;
  changes: string[][];
  logs: { level: number; msg: string }[];
}

function rig(options: Partial<NeighborResolverOptions> = {}): Rig {
  const timers = new ManualTimers();
  const kernel = new FakeKernel(timers);
  const maps = new FakeMaps();
  const changes: string[][] = [];
  const logs: { level: number; msg: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(JSON.parse(chunk.toString('utf8')) as { level: number; msg: string });
      done();
    },
  });
  const resolver = new NeighborResolver({
    maps,
    context: { timers, clock: timers.clock, log: createLogger({ level: 'info', pretty: false, destination }) },
    refreshIntervalMs: INTERVAL,
    onChange: (changed) => changes.push(changed),
    host: kernel,
    ...options,
  });
  return { timers, kernel, maps, resolver, changes, logs };
}

/** update() and start(), then run the first refresh to its end (the answer wait). */
async function started(r: Rig, addresses: readonly string[]): Promise<void> {
  r.resolver.update(addresses, INTERVAL);
  r.resolver.start();
  await r.timers.advance(ANSWER_WAIT_MS);
}

const WARN = 40;

describe('neighbour resolver', () => {
  it('resolves every address to the MAC of its next hop, writes lb_neigh and reports them', async () => {
    const r = rig();
    await started(r, [RS1, BEHIND]);
    assert.deepEqual(Object.fromEntries(r.maps.entries), { [RS1]: MAC[RS1], [BEHIND]: MAC[ROUTER] });
    assert.deepEqual(r.changes, [[RS1, BEHIND]]);
    assert.deepEqual(r.resolver.resolution(BEHIND), {
      state: 'resolved',
      mac: MAC[ROUTER],
      nextHop: ROUTER,
      updatedAt: BigInt(ANSWER_WAIT_MS) * 1_000_000n,
    });
    await r.resolver.stop();
  });

  it('refreshes every interval from its start, resolves a shared next hop once, writes and reports only changes', async () => {
    const r = rig();
    await started(r, [RS1, BEHIND, BEHIND2]);
    await r.timers.advance(2 * INTERVAL);
    assert.deepEqual(r.kernel.lookups, [0, 1000, 2000]);
    assert.deepEqual(r.kernel.probes, [[RS1, ROUTER], [RS1, ROUTER], [RS1, ROUTER]]);
    assert.deepEqual(r.maps.writes, [`put ${RS1} ${MAC[RS1]}`, `put ${BEHIND} ${MAC[ROUTER]}`, `put ${BEHIND2} ${MAC[ROUTER]}`]);
    assert.equal(r.changes.length, 1);
    assert.equal(r.resolver.resolution(RS1).updatedAt, 2100n * 1_000_000n, 'confirmed at every refresh');
    await r.resolver.stop();
  });

  it('picks up a changed MAC at the next refresh (lb_neigh serves new and existing flows)', async () => {
    const r = rig();
    await started(r, [RS1, RS2]);
    r.kernel.answers.set(RS1, '02:00:00:00:aa:01');
    await r.timers.advance(INTERVAL);
    assert.equal(r.maps.entries.get(RS1), '02:00:00:00:aa:01');
    assert.equal(r.maps.writes.at(-1), `put ${RS1} 02:00:00:00:aa:01`);
    assert.deepEqual(r.changes.at(-1), [RS1]);
    await r.resolver.stop();
  });

  it('leaves unresolved, with no entry, an address without a route, routed out of another interface, or not answering', async () => {
    const r = rig({ interface: 'eth0' });
    r.kernel.routes.set('198.18.0.4', { nextHop: '198.18.0.4', ifname: 'eth1' });
    r.kernel.routes.set('198.18.0.5', { nextHop: '198.18.0.5', ifname: 'eth0' });
    await started(r, [RS1, '198.18.0.4', '198.18.0.5', '198.18.0.9']);
    assert.deepEqual([...r.maps.entries.keys()], [RS1]);
    assert.equal(r.resolver.resolution('198.18.0.4').reason, 'other-interface');
    assert.equal(r.resolver.resolution('198.18.0.5').reason, 'no-answer');
    assert.equal(r.resolver.resolution('198.18.0.9').reason, 'no-route');
    assert.deepEqual(r.kernel.probes, [[RS1, '198.18.0.5']], 'only next hops on the interface are probed');
    r.kernel.routes.delete(RS1);
    await r.timers.advance(INTERVAL);
    assert.equal(r.maps.entries.size, 0);
    // Nothing left to probe (198.18.0.5 is INCOMPLETE), so no answer wait: decided at the refresh's start.
    assert.deepEqual(r.resolver.resolution(RS1), { state: 'unresolved', reason: 'no-route', updatedAt: 1000n * 1_000_000n });
    assert.deepEqual(r.changes.at(-1), [RS1]);
    await r.resolver.stop();
  });

  it('keeps the MAC of a next hop that stops answering until the kernel gives up, then deletes it', async () => {
    const r = rig();
    await started(r, [RS1]);
    r.kernel.answers.delete(RS1);
    await r.timers.advance(INTERVAL);
    assert.equal(r.kernel.table.get(RS1)?.states[0], 'INCOMPLETE');
    assert.equal(r.maps.entries.get(RS1), MAC[RS1], 'its REACHABLE entry of before the probe still counts');
    await r.timers.advance(INTERVAL);
    assert.equal(r.kernel.probes.length, 2, 'an INCOMPLETE entry is left to the kernel');
    assert.equal(r.maps.entries.get(RS1), MAC[RS1], 'kept while the kernel resolves');
    assert.equal(r.changes.length, 1);
    r.kernel.set(RS1, ['FAILED']);
    await r.timers.advance(INTERVAL);
    assert.equal(r.maps.entries.has(RS1), false);
    assert.equal(r.resolver.resolution(RS1).reason, 'no-answer');
    assert.deepEqual(r.changes.at(-1), [RS1]);
    r.kernel.answers.set(RS1, MAC[RS1]);
    r.kernel.set(RS1, ['FAILED']);
    await r.timers.advance(INTERVAL);
    assert.equal(r.maps.entries.get(RS1), MAC[RS1], 'back as soon as it answers');
    await r.resolver.stop();
  });

  it('reads static entries and never probes them', async () => {
    const r = rig();
    r.kernel.set(ROUTER, ['PERMANENT'], '02:00:00:00:00:99');
    await started(r, [RS1, BEHIND]);
    assert.deepEqual(r.kernel.probes, [[RS1]]);
    assert.equal(r.maps.entries.get(BEHIND), '02:00:00:00:00:99');
    await r.resolver.stop();
  });

  it('update() keeps the state of addresses that stay, resolves new ones at once and deletes the entries of removed ones', async () => {
    const r = rig();
    await started(r, [RS1, BEHIND]);
    const before = r.resolver.resolution(RS1);
    r.resolver.update([RS1, RS2, RS1], INTERVAL);
    assert.equal(r.maps.entries.has(BEHIND), false, 'deleted by update() itself');
    assert.deepEqual(r.resolver.resolution(BEHIND), { state: 'unresolved' });
    assert.equal(r.resolver.resolution(RS1), before, 'not reset by the reload');
    await r.timers.advance(ANSWER_WAIT_MS);
    assert.deepEqual(r.kernel.lookups, [0, ANSWER_WAIT_MS], 'the new address is resolved at once');
    assert.deepEqual(Object.fromEntries(r.maps.entries), { [RS1]: MAC[RS1], [RS2]: MAC[RS2] });
    assert.deepEqual(r.changes.at(-1), [RS2]);
    assert.equal(r.maps.writes.filter((w) => w.includes(RS1)).length, 1, `${RS1} written once: ${r.maps.writes.join(', ')}`);
    await r.resolver.stop();
  });

  it('with flowsUse, an address out of the config keeps its entry, refreshed, while flows use it; then it goes', async () => {
    const inUse = new Set([RS2]);
    const asked: string[][] = [];
    const r = rig({
      flowsUse: async (addresses) => {
        asked.push([...addresses]);
        return new Set(addresses.filter((a) => inUse.has(a)));
      },
    });
    // A restarted agent finds the entry of an address its config no longer has, which a flow still uses.
    r.maps.entries.set(RS2, MAC[RS2]);
    await started(r, [RS1]);
    assert.deepEqual(asked, [[RS2]]);
    assert.deepEqual(Object.fromEntries(r.maps.entries), { [RS1]: MAC[RS1], [RS2]: MAC[RS2] }, 'kept for its flow');
    r.kernel.answers.set(RS2, '02:00:00:00:00:33');
    await r.timers.advance(INTERVAL);
    assert.equal(r.maps.entries.get(RS2), '02:00:00:00:00:33', 'refreshed like a configured address');
    inUse.clear();
    await r.timers.advance(INTERVAL);
    assert.deepEqual(Object.fromEntries(r.maps.entries), { [RS1]: MAC[RS1] }, 'no flow uses it any more');
    assert.deepEqual(r.resolver.resolution(RS2), { state: 'unresolved' });

    // Configured, then removed by a reload while a flow uses it: update() leaves the entry.
    r.resolver.update([RS1, RS2], INTERVAL);
    await r.timers.advance(ANSWER_WAIT_MS);
    const questions = asked.length;
    inUse.add(RS2);
    r.resolver.update([RS1], INTERVAL);
    assert.equal(r.maps.entries.get(RS2), '02:00:00:00:00:33', 'not deleted by update()');
    assert.equal(r.resolver.resolution(RS2).state, 'resolved');
    await r.timers.advance(INTERVAL);
    assert.deepEqual(asked.slice(questions), [[RS2]]);
    assert.equal(r.maps.entries.get(RS2), '02:00:00:00:00:33');
    await r.resolver.stop();
  });

  it('update() during a refresh: a removed address is not written back, a new one gets a refresh right after', async () => {
    const r = rig();
    r.resolver.update([RS1], INTERVAL);
    r.resolver.start();
    await r.timers.advance(0);
    r.resolver.update([RS2], INTERVAL);
    await r.timers.advance(ANSWER_WAIT_MS);
    assert.deepEqual(r.kernel.lookups, [0, ANSWER_WAIT_MS]);
    await r.timers.advance(ANSWER_WAIT_MS);
    assert.deepEqual(Object.fromEntries(r.maps.entries), { [RS2]: MAC[RS2] });
    await r.resolver.stop();
  });

  it('a shorter interval from update() counts from the start of the last refresh', async () => {
    const r = rig();
    await started(r, [RS1]);
    r.resolver.update([RS1], 300);
    await r.timers.advance(700);
    assert.deepEqual(r.kernel.lookups, [0, 300, 600]);
    await r.resolver.stop();
  });

  it('adopts lb_neigh after a restart: keeps the MACs of configured addresses while the kernel resolves, deletes the others', async () => {
    const r = rig();
    r.maps.entries.set(RS1, MAC[RS1]);
    r.maps.entries.set('198.18.0.77', '02:00:00:00:00:77');
    r.kernel.answers.delete(RS1);
    await started(r, [RS1]);
    assert.deepEqual(Object.fromEntries(r.maps.entries), { [RS1]: MAC[RS1] });
    assert.deepEqual(r.maps.writes, ['delete 198.18.0.77']);
    assert.deepEqual(r.changes, [], 'still resolved, same MAC');
    assert.equal(r.resolver.resolution(RS1).state, 'resolved');
    await r.resolver.stop();
  });

  it('does nothing before the first update(): an empty set would delete what a restarted agent forwards with', async () => {
    const r = rig();
    r.maps.entries.set(RS1, MAC[RS1]);
    r.resolver.start();
    await r.timers.advance(5 * INTERVAL);
    assert.deepEqual(r.kernel.lookups, []);
    assert.deepEqual(r.maps.writes, []);
    r.resolver.update([RS1], INTERVAL);
    await r.timers.advance(0);
    assert.deepEqual(r.kernel.lookups, [5 * INTERVAL]);
    await r.resolver.stop();
  });

  it('a refresh that fails changes nothing and is logged; the next one retries', async () => {
    const r = rig();
    r.maps.entries.set(RS1, MAC[RS1]);
    r.kernel.failLookups = true;
    await started(r, [RS1, RS2]);
    assert.deepEqual(r.maps.writes, []);
    assert.match(r.logs.find((l) => l.level === WARN)?.msg ?? '', /refresh failed/);
    r.kernel.failLookups = false;
    await r.timers.advance(INTERVAL);
    assert.deepEqual(Object.fromEntries(r.maps.entries), { [RS1]: MAC[RS1], [RS2]: MAC[RS2] });
    await r.resolver.stop();
  });

  it('a failed line of the probe batch costs the others nothing', async () => {
    const r = rig();
    r.kernel.failProbes = true;
    await started(r, [RS1]);
    assert.equal(r.maps.entries.get(RS1), MAC[RS1]);
    assert.match(r.logs.find((l) => l.level === WARN)?.msg ?? '', /resolving some neighbours failed/);
    await r.resolver.stop();
  });

  it('an onChange that throws is logged and the loop goes on', async () => {
    const r = rig({
      onChange: () => {
        throw new Error('re-plan failed');
      },
    });
    await started(r, [RS1]);
    r.kernel.answers.set(RS1, '02:00:00:00:aa:01');
    await r.timers.advance(INTERVAL);
    assert.equal(r.maps.entries.get(RS1), '02:00:00:00:aa:01');
    assert.equal(r.logs.filter((l) => /onChange failed/.test(l.msg)).length, 2);
    await r.resolver.stop();
  });

  it('stop() leaves no timer, between refreshes and during the answer wait, and then writes nothing', async () => {
    const idle = rig();
    await started(idle, [RS1]);
    assert.equal(idle.timers.live, 1, 'the next refresh is armed');
    await idle.resolver.stop();
    assert.equal(idle.timers.live, 0);

    const waiting = rig();
    waiting.resolver.update([RS1], INTERVAL);
    waiting.resolver.start();
    await waiting.timers.advance(0);
    assert.equal(waiting.kernel.probes.length, 1, 'in the answer wait');
    await waiting.resolver.stop();
    assert.equal(waiting.timers.live, 0);
    await waiting.timers.advance(10 * INTERVAL);
    assert.deepEqual(waiting.maps.writes, []);
    assert.deepEqual(waiting.kernel.lookups, [0]);
    assert.throws(() => waiting.resolver.start(), /cannot start again/);
  });

  it('refuses a non-positive interval and anything but IPv4 addresses', () => {
    assert.throws(() => rig({ refreshIntervalMs: 0 }), RangeError);
    const r = rig();
    assert.throws(() => r.resolver.update([RS1], Number.NaN), RangeError);
    assert.throws(() => r.resolver.update(['198.18.0.2/32'], INTERVAL), RangeError);
    assert.deepEqual(r.maps.writes, []);
  });
});
