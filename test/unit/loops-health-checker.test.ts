/*
 * The health-check loop on a fake clock with a fake probe: scheduling,
 * concurrency, reloads, reporting and stop(), without sockets (real probes:
 * test/e2e/health-probes.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { createLogger } from '../../src/agent/logger.js';
import type { Timers } from '../../src/agent/timers.js';
import { HealthChecker, PROBE_JITTER, type HealthChange, type HealthCheckerOptions } from '../../src/loops/health-checker.js';
import { healthKey, type HealthTarget } from '../../src/loops/health-targets.js';
import type { ProbeEnv, ProbeResult } from '../../src/loops/probe-attempt.js';
import type { ProbeSpec } from '../../src/loops/probe-backend.js';

const SERVICE = '198.18.0.10:80/tcp';

/** Timers on a clock that moves only when advance() says; runs due callbacks in time order. */
class FakeTimers implements Timers {
  now = 0;

  /** zeroDelayMs: when a 0 ms timer runs (a busy event loop runs them late). */
  constructor(private readonly zeroDelayMs = 0) {}

  private seq = 0;
  private readonly pending = new Map<number, { at: number; callback: () => void }>();

  setTimeout(callback: () => void, ms: number): unknown {
    this.seq += 1;
    this.pending.set(this.seq, { at: this.now + (ms > 0 ? ms : this.zeroDelayMs), callback });
    return this.seq;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  get live(): number {
    return this.pending.size;
  }

  readonly clock = (): bigint => BigInt(Math.round(this.now * 1e6));

  /** Moves the clock by `ms`, running every timer due on the way and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await turn();
      let due: [number, { at: number; callback: () => void }] | undefined;
      for (const item of this.pending) if (item[1].at <= end && (due === undefined || item[1].at < due[1].at)) due = item;
      if (due === undefined) break;
      this.pending.delete(due[0]);
      this.now = due[1].at;
      due[1].callback();
    }
    this.now = end;
  }
}

interface ProbeCall {
  spec: ProbeSpec;
  at: number;
  env: ProbeEnv;
}

/**
 * A probe whose answer per address comes from `up` (default: true), after
 * `latencyMs` on the fake clock. Counts probes in flight.
 */
class FakeProbe {
  readonly calls: ProbeCall[] = [];
  readonly up = new Map<string, boolean>();
  latencyMs = 0;
  inFlight = 0;
  maxInFlight = 0;

  constructor(private readonly timers: FakeTimers) {}

  readonly probe = (spec: ProbeSpec, env: ProbeEnv): Promise<ProbeResult> => {
    this.calls.push({ spec, at: this.timers.now, env });
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const ok = this.up.get(spec.address) ?? true;
    return new Promise((resolve) => {
      const answer = (result: ProbeResult): void => {
        this.inFlight -= 1;
        resolve(result);
      };
      if (this.latencyMs === 0) return answer({ ok, ms: 0 });
      // Like the real probes: an abort ends the attempt at once and leaves no timer.
      const onAbort = (): void => {
        env.timers.clearTimeout(timer);
        answer({ ok: false, ms: 0, error: 'aborted' });
      };
      const timer = env.timers.setTimeout(() => {
        env.signal.removeEventListener('abort', onAbort);
        answer({ ok, ms: this.latencyMs });
      }, this.latencyMs);
      env.signal.addEventListener('abort', onAbort);
    });
  };

  /** Times at which `address` was probed. */
  times(address: string): number[] {
    return this.calls.filter((c) => c.spec.address === address).map((c) => c.at);
  }
}

function target(address: string, extra: Partial<Pick<HealthTarget, 'intervalMs' | 'rise' | 'fall'>> = {}): HealthTarget {
  const port = 80;
  const backendId = `${address}:${port}`;
  return { type: 'tcp', key: healthKey(SERVICE, backendId), serviceId: SERVICE, backendId, address, port, timeoutMs: 100, intervalMs: 1000, rise: 2, fall: 3, ...extra };
}

interface Rig {
  timers: FakeTimers;
  fake: FakeProbe;
  checker: HealthChecker;
  changes: HealthChange[][];
}

function rig(options: Partial<HealthCheckerOptions> & { timers?: FakeTimers } = {}): Rig {
  const { timers = new FakeTimers(), ...rest } = options;
  const fake = new FakeProbe(timers);
  const changes: HealthChange[][] = [];
  const checker = new HealthChecker({
    context: { timers, clock: timers.clock, log: createLogger({ level: 'silent', pretty: false }) },
    probe: fake.probe,
    random: () => 0,
    onChange: (batch) => changes.push([...batch]),
    ...rest,
  });
  return { timers, fake, checker, changes };
}

describe('HealthChecker', () => {
  it('probes nothing before start(), then every known target at once', async () => {
    const { timers, fake, checker } = rig();
    checker.update([target('198.18.0.2'), target('198.18.0.3')]);
    await timers.advance(5000);
    assert.equal(fake.calls.length, 0);
    checker.start();
    await timers.advance(0);
    assert.deepEqual(fake.calls.map((c) => [c.spec.address, c.at]), [['198.18.0.2', 5000], ['198.18.0.3', 5000]]);
    await checker.stop();
  });

  it('probes a target added while running at once, not at the next interval', async () => {
    const { timers, fake, checker } = rig();
    checker.update([target('198.18.0.2')]);
    checker.start();
    await timers.advance(300);
    checker.update([target('198.18.0.2'), target('198.18.0.3')]);
    await timers.advance(0);
    assert.deepEqual(fake.times('198.18.0.3'), [300]);
    assert.equal(checker.state(SERVICE, '198.18.0.3:80'), 'healthy');
    await checker.stop();
  });

  it('probes every interval, fixed-rate from the start of the previous probe', async () => {
    const { timers, fake, checker } = rig();
    fake.latencyMs = 70;
    checker.update([target('198.18.0.2', { intervalMs: 1000 })]);
    checker.start();
    await timers.advance(3500);
    assert.deepEqual(fake.times('198.18.0.2'), [0, 1000, 2000, 3000]);
    await checker.stop();
  });

  it('jitter only ever brings a probe forward, by at most PROBE_JITTER of the interval', async () => {
    const draws = [0.999, 0, 0.5];
    const { timers, fake, checker } = rig({ random: () => draws.shift() ?? 0 });
    checker.update([target('198.18.0.2', { intervalMs: 1000 })]);
    checker.start();
    await timers.advance(2700);
    const times = fake.times('198.18.0.2');
    assert.deepEqual(times, [0, 1000 * (1 - PROBE_JITTER * 0.999), 1000 * (1 - PROBE_JITTER * 0.999) + 1000]);
    await timers.advance(1000);
    assert.equal(fake.times('198.18.0.2')[3], times[2]! + 1000 * (1 - PROBE_JITTER * 0.5));
    await checker.stop();
  });

  it('applies rise and fall through probes: unknown -> healthy on the first success, then fall failures, then rise successes', async () => {
    const { timers, fake, checker } = rig();
    const b = '198.18.0.2';
    checker.update([target(b, { rise: 2, fall: 3 })]);
    assert.equal(checker.state(SERVICE, `${b}:80`), 'unknown');
    assert.equal(checker.isHealthy(SERVICE, `${b}:80`), false);
    checker.start();
    await timers.advance(0);
    assert.equal(checker.state(SERVICE, `${b}:80`), 'healthy');
    assert.equal(checker.isHealthy(SERVICE, `${b}:80`), true);
    fake.up.set(b, false);
    await timers.advance(2000);
    assert.equal(checker.state(SERVICE, `${b}:80`), 'healthy', 'after 2 failures');
    await timers.advance(1000);
    assert.equal(checker.state(SERVICE, `${b}:80`), 'unhealthy', 'after 3 failures = fall × interval');
    assert.equal(checker.isHealthy(SERVICE, `${b}:80`), false);
    fake.up.set(b, true);
    await timers.advance(1000);
    assert.equal(checker.state(SERVICE, `${b}:80`), 'unhealthy', 'after 1 success');
    await timers.advance(1000);
    assert.equal(checker.state(SERVICE, `${b}:80`), 'healthy', 'after 2 successes = rise');
    await checker.stop();
  });

  it('a new backend that never answers goes unknown -> unhealthy after fall failures, never eligible', async () => {
    const { timers, fake, checker, changes } = rig();
    fake.up.set('198.18.0.2', false);
    checker.update([target('198.18.0.2', { fall: 3 })]);
    checker.start();
    await timers.advance(1500);
    assert.equal(checker.state(SERVICE, '198.18.0.2:80'), 'unknown');
    await timers.advance(1000);
    assert.equal(checker.state(SERVICE, '198.18.0.2:80'), 'unhealthy');
    assert.deepEqual(changes, [], 'unknown and unhealthy both take no flows: no eligibility change');
    await checker.stop();
  });

  it('counts a probe that throws as a failure', async () => {
    const { timers, checker } = rig({
      probe: () => {
        throw new Error('bug');
      },
    });
    checker.update([target('198.18.0.2', { fall: 1 })]);
    checker.start();
    await timers.advance(0);
    assert.equal(checker.state(SERVICE, '198.18.0.2:80'), 'unhealthy');
    await checker.stop();
  });

  it('calls onChange exactly on eligibility changes, batched per turn', async () => {
    const { timers, fake, checker, changes } = rig();
    const [a, b] = ['198.18.0.2', '198.18.0.3'];
    checker.update([target(a, { rise: 2, fall: 2 }), target(b, { rise: 2, fall: 2 })]);
    checker.start();
    await timers.advance(0);
    assert.deepEqual(changes, [
      [
        { serviceId: SERVICE, backendId: `${a}:80`, healthy: true, state: 'healthy' },
        { serviceId: SERVICE, backendId: `${b}:80`, healthy: true, state: 'healthy' },
      ],
    ]);
    fake.up.set(a, false);
    await timers.advance(1000);
    assert.equal(changes.length, 1, 'one failure of fall 2: no change');
    await timers.advance(1000);
    assert.deepEqual(changes.slice(1), [[{ serviceId: SERVICE, backendId: `${a}:80`, healthy: false, state: 'unhealthy' }]]);
    await timers.advance(1000);
    assert.equal(changes.length, 2, 'still failing: no change');
    fake.up.set(a, true);
    await timers.advance(1000);
    assert.equal(changes.length, 2, 'one success of rise 2: no change');
    await timers.advance(1000);
    assert.deepEqual(changes.slice(2), [[{ serviceId: SERVICE, backendId: `${a}:80`, healthy: true, state: 'healthy' }]]);
    await timers.advance(5000);
    assert.equal(changes.length, 3);
    await checker.stop();
  });

  it('does not report a backend whose eligibility changed and changed back before the batch went out', async () => {
    // A busy event loop: 0 ms timers (the batch) run 5 ms late, while 1 ms probe timers keep running.
    const { timers, checker, changes } = rig({
      timers: new FakeTimers(5),
      probe: (() => {
        let n = 0;
        return () => Promise.resolve({ ok: n++ === 0, ms: 0 });
      })(),
    });
    checker.update([target('198.18.0.2', { rise: 1, fall: 1, intervalMs: 1 })]);
    checker.start();
    // 0: success (healthy, eligible); 1: failure (unhealthy); 5: the batch finds nothing changed since the last report.
    await timers.advance(10);
    assert.equal(checker.state(SERVICE, '198.18.0.2:80'), 'unhealthy');
    assert.deepEqual(changes, []);
    await checker.stop();
  });

  it('keeps health across update() (a reload), with no extra probe and no report', async () => {
    const { timers, fake, checker, changes } = rig();
    const a = target('198.18.0.2', { fall: 2 });
    const b = target('198.18.0.3', { fall: 2 });
    fake.up.set('198.18.0.3', false);
    checker.update([a, b]);
    checker.start();
    await timers.advance(1500);
    assert.equal(checker.state(SERVICE, '198.18.0.2:80'), 'healthy');
    assert.equal(checker.state(SERVICE, '198.18.0.3:80'), 'unhealthy');
    const calls = fake.calls.length;
    const reports = changes.length;
    // A reload: equal targets as new objects, and a changed rise and timeout that do not reschedule.
    checker.update([{ ...a, rise: 5, timeoutMs: 50 }, { ...b }]);
    await timers.advance(0);
    assert.equal(fake.calls.length, calls, 'no probe at reload');
    assert.equal(checker.state(SERVICE, '198.18.0.2:80'), 'healthy');
    assert.equal(checker.state(SERVICE, '198.18.0.3:80'), 'unhealthy');
    assert.equal(changes.length, reports);
    await timers.advance(500);
    assert.deepEqual(fake.times('198.18.0.2'), [0, 1000, 2000], 'the schedule carried on');
    assert.equal(fake.calls.at(-2)?.spec.timeoutMs, 50, 'the next probe uses the new settings');
    await checker.stop();
  });

  it('reschedules a waiting target whose interval changed, counting from its last probe', async () => {
    const { timers, fake, checker } = rig();
    checker.update([target('198.18.0.2', { intervalMs: 1000 }), target('198.18.0.3', { intervalMs: 1000 })]);
    checker.start();
    await timers.advance(100);
    checker.update([target('198.18.0.2', { intervalMs: 300 }), target('198.18.0.3', { intervalMs: 5000 })]);
    await timers.advance(6000);
    assert.deepEqual(fake.times('198.18.0.2').slice(0, 3), [0, 300, 600]);
    assert.deepEqual(fake.times('198.18.0.3'), [0, 5000]);
    await checker.stop();
  });

  it('stops probing removed targets, cancels their timers and ignores their probe in flight', async () => {
    const { timers, fake, checker, changes } = rig();
    fake.latencyMs = 50;
    checker.update([target('198.18.0.2'), target('198.18.0.3')]);
    checker.start();
    await timers.advance(100);
    assert.equal(changes.length, 1);
    checker.update([target('198.18.0.2')]);
    await timers.advance(900 + 20);
    // At 1020, 198.18.0.2's probe of 1000 is in flight: its latency timer is the one live timer.
    assert.equal(timers.live, 1);
    checker.update([]);
    await timers.advance(5000);
    assert.deepEqual(fake.times('198.18.0.3'), [0]);
    assert.deepEqual(fake.times('198.18.0.2'), [0, 1000]);
    assert.equal(timers.live, 0);
    assert.equal(changes.length, 1, 'nothing reported for removed targets');
    assert.equal(checker.state(SERVICE, '198.18.0.2:80'), 'unchecked');
    assert.equal(checker.isHealthy(SERVICE, '198.18.0.2:80'), true, 'no health check: always eligible');
    await checker.stop();
  });

  it('a removed and re-added backend starts over as unknown', async () => {
    const { timers, checker } = rig();
    checker.update([target('198.18.0.2')]);
    checker.start();
    await timers.advance(0);
    checker.update([]);
    checker.update([target('198.18.0.2')]);
    assert.equal(checker.state(SERVICE, '198.18.0.2:80'), 'unknown');
    await timers.advance(0);
    assert.equal(checker.state(SERVICE, '198.18.0.2:80'), 'healthy');
    await checker.stop();
  });

  it('never has more than maxConcurrent probes in flight: 1,000 targets, 64 at a time, all probed every interval', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): number => warnings.push(warning.name);
    process.on('warning', onWarning);
    const { timers, fake, checker } = rig({ maxConcurrent: 64 });
    fake.latencyMs = 10;
    const targets = Array.from({ length: 1000 }, (_, i) => target(`198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`, { intervalMs: 2000 }));
    checker.update(targets);
    checker.start();
    await timers.advance(0);
    assert.equal(fake.inFlight, 64);
    await timers.advance(2000 * 3 - 1);
    assert.equal(fake.maxInFlight, 64);
    // 16 rounds of 10 ms drain the queue well within each interval: 3 probes per target.
    assert.equal(fake.calls.length, 3000);
    for (const t of targets) assert.equal(checker.state(SERVICE, t.backendId), 'healthy');
    await checker.stop();
    process.off('warning', onWarning);
    // Each probe in flight listens for the abort: 64 listeners on one signal must not read as a leak.
    assert.deepEqual(warnings, []);
  });

  it('a slow probe holds its slot; the queue waits for a free one', async () => {
    const { timers, fake, checker } = rig({ maxConcurrent: 2 });
    fake.latencyMs = 100;
    checker.update([target('198.18.0.2'), target('198.18.0.3'), target('198.18.0.4')]);
    checker.start();
    await timers.advance(0);
    assert.deepEqual(fake.calls.map((c) => c.spec.address), ['198.18.0.2', '198.18.0.3']);
    await timers.advance(100);
    assert.deepEqual(fake.times('198.18.0.4'), [100]);
    await checker.stop();
  });

  it('stop() leaves no timer, aborts and awaits the probes in flight, and no probe starts afterwards', async () => {
    const signals: AbortSignal[] = [];
    let starts = 0;
    let release: (() => void) | undefined;
    const { timers, checker, changes } = rig({
      maxConcurrent: 2,
      probe: (spec, env) => {
        starts += 1;
        signals.push(env.signal);
        if (spec.address !== '198.18.0.9') return Promise.resolve({ ok: true, ms: 0 });
        // Ignores the abort and ends only when released: stop() must wait for it.
        return new Promise((resolve) => (release = () => resolve({ ok: true, ms: 0 })));
      },
    });
    checker.update([target('198.18.0.2'), target('198.18.0.9'), target('198.18.0.3'), target('198.18.0.4')]);
    checker.start();
    await timers.advance(500);
    assert.ok(timers.live > 0);
    let stopped = false;
    const stopping = checker.stop().then(() => (stopped = true));
    assert.equal(timers.live, 0, 'no timer survives stop()');
    assert.ok(signals.length > 0 && signals.every((s) => s.aborted), 'probes in flight see the abort');
    await turn();
    assert.equal(stopped, false, 'stop() waits for the probe still in flight');
    release?.();
    await stopping;
    assert.equal(timers.live, 0, 'the probe that ended after stop() scheduled nothing');
    assert.equal(checker.state(SERVICE, '198.18.0.9:80'), 'unknown', 'the result of a probe that ended after stop() is not recorded');
    const before = starts;
    checker.update([target('198.18.0.5')]);
    await timers.advance(60_000);
    assert.equal(starts, before, 'no probe after stop()');
    assert.equal(timers.live, 0);
    assert.deepEqual(changes.flat().map((c) => c.backendId), ['198.18.0.2:80', '198.18.0.3:80', '198.18.0.4:80']);
    assert.throws(() => checker.start(), /cannot start again/);
  });

  it('stop() cancels a pending onChange batch', async () => {
    const { timers, checker, changes } = rig();
    checker.update([target('198.18.0.2')]);
    checker.start();
    await turn();
    // The first success is recorded; its batch timer (0 ms) has not run on the fake clock.
    assert.equal(timers.live, 2);
    await checker.stop();
    assert.equal(timers.live, 0);
    await timers.advance(10);
    assert.deepEqual(changes, []);
  });

  it('rejects a maxConcurrent that is not a positive integer', () => {
    assert.throws(() => rig({ maxConcurrent: 0 }), RangeError);
    assert.throws(() => rig({ maxConcurrent: 1.5 }), RangeError);
  });
});
