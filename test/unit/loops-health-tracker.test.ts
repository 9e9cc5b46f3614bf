import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NEW_BACKEND, recordResult, takesNewFlows, type HealthRecord, type HealthStatus, type RiseFall } from '../../src/loops/health-tracker.js';

/** The status after each result, starting from `from` ('+' success, '-' failure). */
function walk(results: string, riseFall: RiseFall, from: HealthRecord = NEW_BACKEND): HealthStatus[] {
  const statuses: HealthStatus[] = [];
  let record = from;
  for (const r of results) {
    record = recordResult(record, r === '+', riseFall);
    statuses.push(record.status);
  }
  return statuses;
}

const RISE2_FALL3 = { rise: 2, fall: 3 };

describe('health tracker', () => {
  it('a new backend is unknown and takes no new flows', () => {
    assert.equal(NEW_BACKEND.status, 'unknown');
    assert.equal(takesNewFlows('unknown'), false);
    assert.equal(takesNewFlows('unhealthy'), false);
    assert.equal(takesNewFlows('healthy'), true);
  });

  it('unknown -> healthy on the first success, whatever rise says', () => {
    assert.deepEqual(walk('+', { rise: 5, fall: 3 }), ['healthy']);
    assert.deepEqual(walk('--+', RISE2_FALL3), ['unknown', 'unknown', 'healthy']);
  });

  it('unknown -> unhealthy after fall consecutive failures, not before', () => {
    assert.deepEqual(walk('---', RISE2_FALL3), ['unknown', 'unknown', 'unhealthy']);
    assert.deepEqual(walk('-', { rise: 2, fall: 1 }), ['unhealthy']);
  });

  it('healthy -> unhealthy after fall consecutive failures; a success in between starts the count again', () => {
    assert.deepEqual(walk('+---', RISE2_FALL3), ['healthy', 'healthy', 'healthy', 'unhealthy']);
    assert.deepEqual(walk('+--+--', RISE2_FALL3), ['healthy', 'healthy', 'healthy', 'healthy', 'healthy', 'healthy']);
    assert.deepEqual(walk('+--+---', RISE2_FALL3).at(-1), 'unhealthy');
  });

  it('unhealthy -> healthy after rise consecutive successes; a failure in between starts the count again', () => {
    const down = { status: 'unhealthy', streak: 0 } as const;
    assert.deepEqual(walk('++', RISE2_FALL3, down), ['unhealthy', 'healthy']);
    assert.deepEqual(walk('+-+', RISE2_FALL3, down), ['unhealthy', 'unhealthy', 'unhealthy']);
    assert.deepEqual(walk('+++', { rise: 3, fall: 1 }, down), ['unhealthy', 'unhealthy', 'healthy']);
    assert.deepEqual(walk('+', { rise: 1, fall: 1 }, down), ['healthy']);
  });

  it('unknown that turned unhealthy needs rise successes, not one', () => {
    assert.deepEqual(walk('---++', RISE2_FALL3).slice(3), ['unhealthy', 'healthy']);
    assert.deepEqual(walk('---+', RISE2_FALL3).at(-1), 'unhealthy');
  });

  it('the streak never outgrows rise or fall in a steady state', () => {
    let record = NEW_BACKEND;
    for (let i = 0; i < 100; i++) record = recordResult(record, i % 7 !== 0, RISE2_FALL3);
    assert.ok(record.streak <= 3, JSON.stringify(record));
    for (let i = 0; i < 100; i++) record = recordResult(record, false, RISE2_FALL3);
    assert.deepEqual(record, { status: 'unhealthy', streak: 0 });
  });

  it('reads rise and fall per result, so a reload that changes them applies to the next one', () => {
    let record = recordResult(NEW_BACKEND, true, RISE2_FALL3);
    record = recordResult(record, false, RISE2_FALL3);
    record = recordResult(record, false, RISE2_FALL3);
    assert.equal(record.status, 'healthy');
    assert.equal(recordResult(record, false, { rise: 2, fall: 5 }).status, 'healthy');
    assert.equal(recordResult(record, false, { rise: 2, fall: 2 }).status, 'unhealthy');
  });
});
