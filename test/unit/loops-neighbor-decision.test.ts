/*
 * The rules by which one refresh resolves a backend address or not, on
 * plain data (src/loops/neighbor-decision.ts): one case per rule, and what
 * counts as a change for the agent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NeighborEntry } from '../../src/host/neighbor-table.js';
import { decideResolution, resolutionChanged, type NeighborResolution } from '../../src/loops/neighbor-decision.js';

const NOW = 5_000_000_000n;
const HOP = '198.18.0.254';
const OLD: NeighborResolution = { state: 'resolved', mac: '02:00:00:00:00:01', nextHop: HOP, updatedAt: 1n };

function entry(states: string[], mac?: string): NeighborEntry {
  return { address: HOP, dev: 'eth0', ...(mac === undefined ? {} : { mac }), states, managed: false, externLearn: false };
}

describe('neighbour decisions', () => {
  it('1: takes the MAC the kernel shows after the probe, a changed one included', () => {
    const observed = { route: 'ok', nextHop: HOP, before: entry(['REACHABLE'], '02:00:00:00:00:01'), after: entry(['REACHABLE'], '02:00:00:00:00:09') } as const;
    assert.deepEqual(decideResolution(OLD, observed, NOW), { state: 'resolved', mac: '02:00:00:00:00:09', nextHop: HOP, updatedAt: NOW });
    assert.deepEqual(decideResolution(undefined, observed, NOW), { state: 'resolved', mac: '02:00:00:00:00:09', nextHop: HOP, updatedAt: NOW });
  });

  it('2: takes the MAC of before the probe when the answer is not in yet (it came after the last refresh read)', () => {
    const observed = { route: 'ok', nextHop: HOP, before: entry(['REACHABLE'], '02:00:00:00:00:07'), after: entry(['INCOMPLETE']) } as const;
    assert.deepEqual(decideResolution(undefined, observed, NOW), { state: 'resolved', mac: '02:00:00:00:00:07', nextHop: HOP, updatedAt: NOW });
  });

  it('2: a static entry resolves, also when it is never probed', () => {
    const permanent = entry(['PERMANENT'], '02:00:00:00:00:05');
    assert.equal(decideResolution(undefined, { route: 'ok', nextHop: HOP, before: permanent, after: permanent }, NOW).mac, '02:00:00:00:00:05');
  });

  it('3: unresolved once the kernel gave up (FAILED before the probe) and no answer came since', () => {
    for (const after of [entry(['INCOMPLETE']), undefined]) {
      const observed = { route: 'ok', nextHop: HOP, before: entry(['FAILED']), after } as const;
      assert.deepEqual(decideResolution(OLD, observed, NOW), { state: 'unresolved', nextHop: HOP, reason: 'no-answer', updatedAt: NOW });
    }
  });

  it('4: keeps the last MAC while the kernel is still resolving (INCOMPLETE) or has no entry (a flush)', () => {
    for (const before of [entry(['INCOMPLETE']), undefined]) {
      const observed = { route: 'ok', nextHop: HOP, before, after: entry(['INCOMPLETE']) } as const;
      assert.equal(decideResolution(OLD, observed, NOW), OLD);
    }
  });

  it('5: unresolved when it never answered', () => {
    const observed = { route: 'ok', nextHop: HOP, before: undefined, after: entry(['INCOMPLETE']) } as const;
    assert.deepEqual(decideResolution(undefined, observed, NOW), { state: 'unresolved', nextHop: HOP, reason: 'no-answer', updatedAt: NOW });
    assert.deepEqual(decideResolution({ state: 'unresolved' }, observed, NOW).state, 'unresolved');
  });

  it('unresolved at once without a route, or with one out of another interface, whatever it was', () => {
    assert.deepEqual(decideResolution(OLD, { route: 'none' }, NOW), { state: 'unresolved', reason: 'no-route', updatedAt: NOW });
    assert.deepEqual(decideResolution(OLD, { route: 'other-interface', nextHop: HOP }, NOW), {
      state: 'unresolved',
      nextHop: HOP,
      reason: 'other-interface',
      updatedAt: NOW,
    });
  });

  it('reports a change of state or MAC, not of time, next hop or reason', () => {
    const same = { ...OLD, nextHop: '198.18.0.2', updatedAt: NOW };
    assert.equal(resolutionChanged(OLD, same), false);
    assert.equal(resolutionChanged(OLD, { ...OLD, mac: '02:00:00:00:00:09' }), true);
    assert.equal(resolutionChanged(OLD, { state: 'unresolved', reason: 'no-answer' }), true);
    assert.equal(resolutionChanged(undefined, OLD), true);
    assert.equal(resolutionChanged(undefined, { state: 'unresolved', reason: 'no-answer' }), false, 'a new address starts unresolved');
    assert.equal(resolutionChanged({ state: 'unresolved', reason: 'no-route' }, { state: 'unresolved', reason: 'no-answer' }), false);
  });
});
