import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LB_MAGLEV_TABLE_SIZE } from '../../src/datapath/codecs.js';
import { apportionSlots, buildWeightedRoundRobinTable, smoothInterleave, type SchedBackend } from '../../src/sched/index.js';

function backendsFor(weights: readonly number[]): SchedBackend[] {
  return weights.map((weight, i) => ({ id: 100 + i, key: `198.18.${i >> 8}.${i & 255}:80`, weight }));
}

function counts(table: Uint32Array): Map<number, number> {
  const m = new Map<number, number>();
  for (const id of table) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

/**
 * Each backend's share of the table matches its weight within 2%, or within
 * one slot where 2% of its slots is less than a slot (a table slot is the
 * unit: weight 1 against 65535 cannot get a quarter of a slot).
 */
function assertShares(weights: readonly number[]): Uint32Array {
  const bs = backendsFor(weights);
  const table = buildWeightedRoundRobinTable(bs);
  const total = weights.reduce((s, w) => s + w, 0);
  assert.ok(table.length <= LB_MAGLEV_TABLE_SIZE, `table too long: ${table.length}`);
  const c = counts(table);
  for (const b of bs) {
    const got = c.get(b.id) ?? 0;
    const want = (table.length * b.weight) / total;
    assert.ok(got >= 1, `backend weight ${b.weight} has no slot`);
    assert.ok(Math.abs(got - want) <= Math.max(1, 0.02 * want), `weight ${b.weight}: ${got} slots, expected ${want.toFixed(2)} of ${table.length}`);
  }
  return table;
}

describe('weighted_round_robin shares', () => {
  it('[1,2,3,4]: exact, 10 slots', () => {
    const t = assertShares([1, 2, 3, 4]);
    assert.equal(t.length, 10);
  });

  it('reduces weights by their gcd', () => {
    assert.equal(buildWeightedRoundRobinTable(backendsFor([100, 200, 300])).length, 6);
    assert.equal(buildWeightedRoundRobinTable(backendsFor([5, 5, 5])).length, 3);
  });

  it('[7,13,100]: exact, 120 slots', () => {
    assert.equal(assertShares([7, 13, 100]).length, 120);
  });

  it('[1,65535]: apportioned to the table size, the light one keeps a slot', () => {
    const t = assertShares([1, 65535]);
    assert.equal(t.length, LB_MAGLEV_TABLE_SIZE);
    assert.equal(counts(t).get(100), 1);
  });

  it('256 backends with mixed weights', () => {
    const weights = Array.from({ length: 256 }, (_, i) => ((i * 7919) % 1000) + 1);
    const t = assertShares(weights);
    assert.equal(t.length, LB_MAGLEV_TABLE_SIZE);
  });

  it('256 backends with weights 1..65535 spread', () => {
    const weights = Array.from({ length: 256 }, (_, i) => (i === 0 ? 1 : Math.min(65535, i * 257)));
    assertShares(weights);
  });

  it('256 equal backends: one slot each', () => {
    const t = assertShares(new Array<number>(256).fill(10));
    assert.equal(t.length, 256);
  });
});

describe('weighted_round_robin interleaving', () => {
  it('rotates equal weights without runs', () => {
    const t = buildWeightedRoundRobinTable(backendsFor([3, 3, 3, 3]));
    assert.deepEqual([...t], [100, 101, 102, 103]);
    // Equal weights among unequal ones: never twice in a row, seam included.
    const u = [...buildWeightedRoundRobinTable(backendsFor([4, 4, 4, 4, 2, 2]))];
    assert.equal(u.length, 10);
    for (let i = 0; i < u.length; i++) assert.notEqual(u[i], u[(i + 1) % u.length], `run at ${i}: ${u.join(',')}`);
  });

  it('spreads a heavy backend: smooth sequence for [5,1,1]', () => {
    const t = [...buildWeightedRoundRobinTable(backendsFor([5, 1, 1]))];
    // nginx's smooth sequence for weights 5, 1, 1: a a b a c a a
    assert.deepEqual(t, [100, 100, 101, 100, 102, 100, 100]);
  });

  it('keeps every prefix of the sequence within 1.5 slots of the weights', () => {
    // Smoothness: after k slots, backend i has had k * w_i / W of them, give
    // or take a slot — so no backend runs ahead (a run of r extra slots
    // would show as a discrepancy of about r).
    for (const weights of [[1, 2, 3, 4, 50], [7, 13, 100], [1, 1, 1, 1, 1, 1, 1, 1, 1, 100], Array.from({ length: 50 }, (_, i) => i + 1)]) {
      const t = [...buildWeightedRoundRobinTable(backendsFor(weights))];
      const total = weights.reduce((s, w) => s + w, 0);
      const seen = weights.map(() => 0);
      t.forEach((id, k) => {
        seen[id - 100] = (seen[id - 100] ?? 0) + 1;
        weights.forEach((w, i) => {
          const d = Math.abs((seen[i] ?? 0) - ((k + 1) * w) / total);
          assert.ok(d <= 1.5, `weights ${weights.length}: backend ${i} (w=${w}) off by ${d.toFixed(2)} after ${k + 1} slots`);
        });
      });
    }
  });

  it('runs a heavy backend at most ceil(w_heavy / w_rest) + 1 in a row', () => {
    for (const weights of [[1, 2, 3, 4, 50], [1, 1, 30], [9, 1]]) {
      const t = [...buildWeightedRoundRobinTable(backendsFor(weights))];
      const heavy = 100 + weights.length - (weights[weights.length - 1] === 1 ? 2 : 1);
      const w = weights[heavy - 100] ?? 0;
      const rest = weights.reduce((s, x) => s + x, 0) - w;
      let run = 0;
      let maxRun = 0;
      for (const x of t) {
        run = x === heavy ? run + 1 : 0;
        maxRun = Math.max(maxRun, run);
      }
      assert.ok(maxRun <= Math.ceil(w / rest) + 1, `weights ${weights.join(',')}: run of ${maxRun}`);
    }
  });

  it('has no long runs for equal weights in an apportioned table', () => {
    // 300 backends of weight 60000 and one of 1: equal ones must alternate.
    const weights = [...new Array<number>(300).fill(60000), 1];
    const t = [...buildWeightedRoundRobinTable(backendsFor(weights))];
    for (let i = 1; i < t.length; i++) assert.notEqual(t[i], t[i - 1], `run at ${i}`);
  });

  it('does not depend on input order', () => {
    const bs = backendsFor([1, 2, 3, 4, 5, 6]);
    const want = [...buildWeightedRoundRobinTable(bs)];
    assert.deepEqual([...buildWeightedRoundRobinTable([...bs].reverse())], want);
  });

  it('skips weight 0 and is empty without eligible backends', () => {
    const t = buildWeightedRoundRobinTable(backendsFor([0, 2, 0, 1]));
    assert.deepEqual([...t].sort(), [101, 101, 103]);
    assert.equal(buildWeightedRoundRobinTable(backendsFor([0, 0])).length, 0);
  });
});

describe('apportionSlots / smoothInterleave', () => {
  it('apportions exactly the total, within one slot of each quota', () => {
    const weights = [17, 997, 65535, 400, 250, 3000];
    const c = apportionSlots(weights, LB_MAGLEV_TABLE_SIZE);
    assert.equal(
      c.reduce((s, x) => s + x, 0),
      LB_MAGLEV_TABLE_SIZE,
    );
    const sum = weights.reduce((s, w) => s + w, 0);
    c.forEach((x, i) => {
      assert.ok(Math.abs(x - ((weights[i] ?? 0) * LB_MAGLEV_TABLE_SIZE) / sum) < 1, `weight ${weights[i]}: ${x}`);
    });
  });

  it('gives a slot to every weight even when many round to 0', () => {
    const weights = [1, 1, 1, 997, 3, 65535, 2];
    const c = apportionSlots(weights, 1000);
    assert.equal(
      c.reduce((s, x) => s + x, 0),
      1000,
    );
    assert.deepEqual(
      c.map((x) => x >= 1),
      weights.map(() => true),
    );
    // The 5 forced slots come from the others, a slot at a time.
    const sum = weights.reduce((s, w) => s + w, 0);
    c.forEach((x, i) => {
      const want = ((weights[i] ?? 0) * 1000) / sum;
      assert.ok(Math.abs(x - want) <= 1 + 5, `weight ${weights[i]}: ${x} vs ${want}`);
    });
    assert.ok((c[5] ?? 0) >= 980);
  });

  it('refuses more backends than slots', () => {
    assert.throws(() => apportionSlots([1, 1, 1], 2), { code: 'ERR_SCHED_TOO_MANY' });
  });

  it('interleaves counts into a sequence of their sum', () => {
    assert.deepEqual(smoothInterleave([2, 1]), [0, 1, 0]);
    assert.deepEqual(smoothInterleave([1, 1, 1]), [0, 1, 2]);
    assert.deepEqual(smoothInterleave([]), []);
  });
});
