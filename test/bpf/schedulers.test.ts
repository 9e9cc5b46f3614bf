/*
 * Schedulers measured on the built object: tables from src/sched, choices
 * made by the XDP program, observed in the rewritten packets.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LB_MAC, LoadedDatapath, TEST_MAP_SIZES, VIP, type TestBackend } from '../support/datapath-fixture.js';
import { buildFrame, numberToIpv4, parseFrame } from '../support/packet.js';
import type { SchedulerName } from '../../src/datapath/codecs.js';

const backends = (n: number): TestBackend[] =>
  Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    ip: numberToIpv4(0xc6120000 + 0x100 + i), // 198.18.1.0 + i
    port: 8080,
    mac: `02:00:5e:01:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
  }));

/* Enough SNAT tuples for 100k flows even if one backend took them all. */
const SNAT_ADDRS = Array.from({ length: 8 }, (_, i) => `198.18.0.${100 + i}`);
const SIZES = { ...TEST_MAP_SIZES, lb_ct: 262144, lb_snat: 262144 };

function load(scheduler: SchedulerName, bes: TestBackend[], weights?: number[]): LoadedDatapath {
  const dp = LoadedDatapath.load(SIZES);
  dp.setSnatPool({ addrs: SNAT_ADDRS });
  dp.addService({ id: 0, backends: bes, scheduler, weights });
  return dp;
}

/** The backend address a new flow from client ip:port went to. */
function choose(dp: LoadedDatapath, clientIp: string, clientPort: number): string {
  const frame = buildFrame({
    srcMac: '02:00:5e:00:02:01',
    dstMac: LB_MAC,
    srcIp: clientIp,
    dstIp: VIP,
    proto: 'tcp',
    srcPort: clientPort,
    dstPort: 80,
    tcpFlags: { syn: true },
  });
  const { verdict, out } = dp.run(frame);
  assert.equal(verdict, 'TX', `flow ${clientIp}:${clientPort} not balanced`);
  return parseFrame(out).dstIp;
}

/** Flow i's client: 2^16 ports per address, addresses from 198.19.0.0. */
const flowClient = (i: number): [string, number] => [numberToIpv4(0xc6130000 + Math.floor(i / 60000)), 1024 + (i % 60000)];

function withDatapath<T>(dp: LoadedDatapath, fn: (dp: LoadedDatapath) => T): T {
  try {
    return fn(dp);
  } finally {
    dp.close();
  }
}

describe('schedulers on the built object', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  it('round_robin is strict: rs-1, rs-2, rs-3, rs-1, ...', () => {
    const bes = backends(3);
    const order = withDatapath(load('round_robin', bes), (dp) =>
      Array.from({ length: 7 }, (_, i) => choose(dp, '198.18.2.1', 5000 + i)),
    );
    const [a, b, c] = bes.map((be) => be.ip);
    assert.deepEqual(order, [a, b, c, a, b, c, a]);
  });

  it('weighted_round_robin shares are within 2% of the weights over 100k flows', () => {
    const bes = backends(4);
    const weights = [1, 2, 3, 4];
    const flows = 100_000;
    const counts = withDatapath(load('weighted_round_robin', bes, weights), (dp) => {
      const seen = new Map<string, number>();
      for (let i = 0; i < flows; i++) {
        const ip = choose(dp, ...flowClient(i));
        seen.set(ip, (seen.get(ip) ?? 0) + 1);
      }
      return seen;
    });
    bes.forEach((be, i) => {
      const expected = weights[i]! / 10;
      const share = (counts.get(be.ip) ?? 0) / flows;
      assert.ok(Math.abs(share - expected) <= 0.02 * expected, `${be.ip}: share ${share}, weight share ${expected}`);
    });
  });

  it('maglev moves at most 1.2/N of flows when one of N backends is removed', () => {
    const n = 10;
    const flows = 20_000;
    const bes = backends(n);
    const removed = bes[4]!;
    const before = withDatapath(load('maglev', bes), (dp) => Array.from({ length: flows }, (_, i) => choose(dp, ...flowClient(i))));
    const after = withDatapath(load('maglev', bes.filter((be) => be !== removed)), (dp) =>
      Array.from({ length: flows }, (_, i) => choose(dp, ...flowClient(i))),
    );
    let moved = 0;
    let movedFromKept = 0;
    for (let i = 0; i < flows; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      if (before[i] !== removed.ip) movedFromKept++;
    }
    assert.ok(moved / flows <= 1.2 / n, `moved ${moved / flows} of flows, bound ${1.2 / n}`);
    assert.ok(moved / flows >= 0.5 / n, `the removed backend's flows must move (moved ${moved / flows})`);
    assert.ok(after.every((ip) => ip !== removed.ip));
    assert.ok(movedFromKept / flows <= 0.2 / n, `flows of kept backends moved: ${movedFromKept / flows}`);
  });

  it('maglev spreads flows over every backend', () => {
    const bes = backends(10);
    const counts = withDatapath(load('maglev', bes), (dp) => {
      const seen = new Map<string, number>();
      for (let i = 0; i < 20_000; i++) {
        const ip = choose(dp, ...flowClient(i));
        seen.set(ip, (seen.get(ip) ?? 0) + 1);
      }
      return seen;
    });
    for (const be of bes) {
      const share = (counts.get(be.ip) ?? 0) / 20_000;
      assert.ok(share > 0.07 && share < 0.13, `${be.ip}: share ${share}`);
    }
  });

  it('source_hash keeps every client on one backend and spreads clients', () => {
    const bes = backends(4);
    const perClient = withDatapath(load('source_hash', bes), (dp) =>
      Array.from({ length: 400 }, (_, c) => {
        const ip = numberToIpv4(0xc6130000 + c);
        return new Set(Array.from({ length: 5 }, (_, p) => choose(dp, ip, 3000 + p)));
      }),
    );
    assert.ok(perClient.every((set) => set.size === 1), 'one backend per client address');
    const used = new Map<string, number>();
    for (const set of perClient) for (const ip of set) used.set(ip, (used.get(ip) ?? 0) + 1);
    for (const be of bes) assert.ok((used.get(be.ip) ?? 0) > 60, `${be.ip} got ${used.get(be.ip) ?? 0} of 400 clients`);
  });
});
