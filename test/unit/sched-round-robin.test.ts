import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRoundRobinTable, compareKeys, type SchedBackend } from '../../src/sched/index.js';

const be = (id: number, key: string, weight = 1): SchedBackend => ({ id, key, weight });

describe('round_robin', () => {
  const backends = [be(1, '198.18.0.2:80'), be(2, '198.18.0.3:80'), be(3, '198.18.0.10:80'), be(4, '198.18.0.2:8080')];

  it('has one slot per backend, in key order', () => {
    assert.deepEqual([...buildRoundRobinTable(backends)], [1, 4, 2, 3]);
  });

  it('does not depend on input order', () => {
    const want = [...buildRoundRobinTable(backends)];
    for (const perm of [[3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]]) {
      const shuffled = perm.map((i) => backends[i] as SchedBackend);
      assert.deepEqual([...buildRoundRobinTable(shuffled)], want, `order ${perm.join(',')}`);
    }
  });

  it('ignores weights except 0, which removes the backend', () => {
    assert.deepEqual([...buildRoundRobinTable([be(1, 'a', 100), be(2, 'b', 1), be(3, 'c', 0)])], [1, 2]);
  });

  it('is empty without backends', () => {
    assert.equal(buildRoundRobinTable([]).length, 0);
  });

  it('rejects duplicate keys and ids and bad weights', () => {
    assert.throws(() => buildRoundRobinTable([be(1, 'a'), be(2, 'a')]), { code: 'ERR_SCHED_DUPLICATE' });
    assert.throws(() => buildRoundRobinTable([be(1, 'a'), be(1, 'b')]), { code: 'ERR_SCHED_DUPLICATE' });
    assert.throws(() => buildRoundRobinTable([be(1, 'a', 65536)]), { code: 'ERR_SCHED_BACKEND' });
    assert.throws(() => buildRoundRobinTable([be(-1, 'a')]), { code: 'ERR_SCHED_BACKEND' });
  });
});

describe('compareKeys', () => {
  it('orders numbers inside keys numerically, and is a total order', () => {
    const keys = ['198.18.0.10:80', '198.18.0.2:80', 'rs-10', 'rs-9', '198.18.0.2:443', 'rs-09', 'b', 'a'];
    const sorted = [...keys].sort(compareKeys);
    assert.deepEqual(sorted, ['198.18.0.2:80', '198.18.0.2:443', '198.18.0.10:80', 'a', 'b', 'rs-09', 'rs-9', 'rs-10']);
    for (const a of keys) {
      assert.equal(compareKeys(a, a), 0);
      for (const b of keys) if (a !== b) assert.equal(Math.sign(compareKeys(a, b)), -Math.sign(compareKeys(b, a)));
    }
  });
});
