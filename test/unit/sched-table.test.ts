import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LB_MAGLEV_TABLE_SIZE, LB_SCHED_HDR_LEN_MASK, SCHEDULER_NAMES } from '../../src/datapath/codecs.js';
import {
  buildMaglevTable,
  buildRoundRobinTable,
  buildSchedulerTable,
  buildWeightedRoundRobinTable,
  decodeSchedulerHeader,
  encodeSchedulerHeader,
  SCHED_TABLE_MAX_SLOTS,
  type SchedBackend,
} from '../../src/sched/index.js';

const bs: SchedBackend[] = [
  { id: 7, key: '198.18.0.3:80', weight: 2 },
  { id: 5, key: '198.18.0.2:80', weight: 1 },
];

describe('scheduler header', () => {
  it('is (scheduler << 24) | length', () => {
    assert.equal(encodeSchedulerHeader('round_robin', 2), 0x00000002);
    assert.equal(encodeSchedulerHeader('weighted_round_robin', 3), 0x01000003);
    assert.equal(encodeSchedulerHeader('maglev', LB_MAGLEV_TABLE_SIZE), 0x02003ffd);
    assert.equal(encodeSchedulerHeader('source_hash', 0), 0x03000000);
  });

  it('round-trips every scheduler', () => {
    for (const s of SCHEDULER_NAMES) {
      for (const len of [0, 1, 16381, LB_SCHED_HDR_LEN_MASK]) {
        assert.deepEqual(decodeSchedulerHeader(encodeSchedulerHeader(s, len)), { scheduler: s, length: len });
      }
    }
  });

  it('rejects bad lengths and unknown schedulers', () => {
    assert.throws(() => encodeSchedulerHeader('maglev', LB_SCHED_HDR_LEN_MASK + 1), { code: 'ERR_SCHED_HEADER' });
    assert.throws(() => encodeSchedulerHeader('maglev', -1), { code: 'ERR_SCHED_HEADER' });
    assert.throws(() => decodeSchedulerHeader(0x04000001), { code: 'ERR_SCHED_HEADER' });
    assert.throws(() => encodeSchedulerHeader('lc' as 'maglev', 1), { code: 'ERR_SCHED_HEADER' });
  });
});

describe('buildSchedulerTable', () => {
  it('puts the header in slot 0 and the builder slots after it', () => {
    const cases = [
      ['round_robin', buildRoundRobinTable(bs)],
      ['weighted_round_robin', buildWeightedRoundRobinTable(bs)],
      ['maglev', buildMaglevTable(bs)],
      ['source_hash', buildMaglevTable(bs)],
    ] as const;
    for (const [sched, slots] of cases) {
      const t = buildSchedulerTable(sched, bs);
      assert.ok(t instanceof Uint32Array);
      assert.equal(t.length, 1 + slots.length);
      assert.deepEqual(decodeSchedulerHeader(t[0] ?? -1), { scheduler: sched, length: slots.length });
      assert.deepEqual([...t.subarray(1)], [...slots]);
    }
    assert.deepEqual([...buildSchedulerTable('round_robin', bs)], [2, 5, 7]);
    assert.deepEqual([...buildSchedulerTable('weighted_round_robin', bs)], [0x01000003, 7, 5, 7]);
  });

  it('is a bare header with length 0 when no backend is eligible', () => {
    for (const s of SCHEDULER_NAMES) {
      const t = buildSchedulerTable(s, [{ id: 1, key: 'a', weight: 0 }]);
      assert.equal(t.length, 1);
      assert.deepEqual(decodeSchedulerHeader(t[0] ?? -1), { scheduler: s, length: 0 });
    }
  });

  it('never exceeds 1 + SCHED_TABLE_MAX_SLOTS entries', () => {
    assert.equal(SCHED_TABLE_MAX_SLOTS, LB_MAGLEV_TABLE_SIZE);
    const many = Array.from({ length: 300 }, (_, i) => ({ id: i, key: `k${i}`, weight: 65535 - i }));
    for (const s of SCHEDULER_NAMES) assert.ok(buildSchedulerTable(s, many).length <= 1 + SCHED_TABLE_MAX_SLOTS);
    const tooMany = Array.from({ length: SCHED_TABLE_MAX_SLOTS + 1 }, (_, i) => ({ id: i, key: `k${i}`, weight: 1 }));
    assert.throws(() => buildSchedulerTable('round_robin', tooMany), { code: 'ERR_SCHED_TOO_MANY' });
  });

  it('rejects an unknown scheduler', () => {
    assert.throws(() => buildSchedulerTable('least_conn' as 'maglev', bs), { code: 'ERR_SCHED_HEADER' });
  });
});
