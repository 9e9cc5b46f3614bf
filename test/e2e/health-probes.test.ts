/*
 * Health checks on real sockets, in a throw-away network namespace
 * (addresses from 198.18.0.0/15 only, no route out; removed afterwards, also
 * when something fails). Needs root and iproute2.
 *
 * The probes act on the caller's namespace, so they run in
 * health-probes-child.js started with `nsenter --net=/run/netns/NAME`:
 * - the probe cases: TCP accepted, refused, unanswered (timeout); HTTP 200,
 *   503, an expected 503, a wrong path, refused, a server that never answers
 *   and one whose body never ends (timeouts), an abort, and the default
 *   probe choosing by type; each probe must leave no connection open on the
 *   server and no timer behind;
 * - the loop: a HealthChecker (real probes, real timers, interval 200 ms,
 *   rise 2, fall 2) on an HTTP and a TCP check of one backend whose server
 *   runs in another child: healthy on the first probe, unhealthy within
 *   fall × interval after the server is killed, healthy again within
 *   rise × interval after it is back, and no timer left after stop().
 * The backend address is local to the namespace (on one end of a veth): the
 * probes are plain sockets, so what they see is the same as across a link.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PROBE_JITTER } from '../../src/loops/health-checker.js';
import { createNetnsWithVeth, deleteNetns, netnsExists, runNodeInNetns } from '../support/netns.js';
import {
  ADDRESS_ENV,
  CASE_TIMEOUT_MS,
  CONFIG_ENV,
  PORT_ENV,
  ROLE_ENV,
  UNANSWERED_ENV,
  type CaseOutcome,
  type CasesReport,
  type ChildEvent,
  type StampedEvent,
} from './health-probes-child.js';

const CHILD = fileURLToPath(new URL('./health-probes-child.js', import.meta.url));
const NS_PROBES = `xlb-hprobe-${process.pid}`;
const NS_LOOP = `xlb-hloop-${process.pid}`;
const BACKEND = '198.18.7.2';
const UNANSWERED = '198.18.7.3';
const PORT = 8080;
const INTERVAL_MS = 200;
const RISE = 2;
const FALL = 2;
/** Process start/exit, the pipe and the 0 ms onChange batch, on a busy test host. */
const SLACK_MS = 100;

const CONFIG = `
interface: hc1
snat: { addresses: [198.18.7.5] }
services:
  - name: web
    vip: 198.18.7.10
    port: 80
    backends: [{ address: ${BACKEND}, port: ${PORT} }]
    health_check: { type: http, path: /healthz, interval: ${INTERVAL_MS}ms, timeout: 100ms, rise: ${RISE}, fall: ${FALL} }
  - name: raw
    vip: 198.18.7.10
    port: 81
    backends: [{ address: ${BACKEND}, port: ${PORT} }]
    health_check: { type: tcp, interval: ${INTERVAL_MS}ms, timeout: 100ms, rise: ${RISE}, fall: ${FALL} }
`;
const SERVICES = ['198.18.7.10:80/tcp', '198.18.7.10:81/tcp'];

function setUpNetns(ns: string): void {
  createNetnsWithVeth(ns, 'hc0', 'hc1');
  // Without lo up, a connection to the namespace's own address hangs.
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  execFileSync('ip', ['-n', ns, 'addr', 'add', `${BACKEND}/24`, 'dev', 'hc1']);
}

/** A long-running child in the namespace; its stdout lines, each with the performance.now() it arrived at. */
class NetnsChild {
  readonly process: ChildProcess;
  readonly events: { at: number; event: StampedEvent }[] = [];
  private stderr = '';

  constructor(ns: string, env: Record<string, string>) {
    this.process = spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, CHILD], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      this.events.push({ at: performance.now(), event: JSON.parse(line) as StampedEvent });
    });
    this.process.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
  }

  /** The first event from index `from` on that matches (given its index in events), once it has arrived. */
  async waitFor(what: string, match: (event: ChildEvent, index: number) => boolean, from = 0, timeoutMs = 5000): Promise<{ at: number; event: StampedEvent }> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find((e, i) => match(e.event, from + i));
      if (found !== undefined) return found;
      if (performance.now() > deadline || this.process.exitCode !== null) {
        assert.fail(`no ${what} within ${timeoutMs} ms (exit ${this.process.exitCode})\nevents: ${JSON.stringify(this.events)}\nstderr: ${this.stderr}`);
      }
      // Polling does not skew timings: each event carries its arrival time.
      await sleep(5);
    }
  }

  exited(timeoutMs: number): Promise<number | null> {
    if (this.process.exitCode !== null) return Promise.resolve(this.process.exitCode);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      this.process.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
  }
}

/** Whether the events report `healthy` for the backend's target in every service. */
function reportsAll(healthy: boolean): (events: ChildEvent[]) => boolean {
  return (events) =>
    SERVICES.every((serviceId) =>
      events.some((e) => e.event === 'changes' && e.changes.some((c) => c.serviceId === serviceId && c.backendId === `${BACKEND}:${PORT}` && c.healthy === healthy)),
    );
}

describe('health probes in a network namespace', () => {
  let report: CasesReport;

  before(() => {
    setUpNetns(NS_PROBES);
    report = runNodeInNetns<CasesReport>(NS_PROBES, CHILD, { [ROLE_ENV]: 'cases', [ADDRESS_ENV]: BACKEND, [UNANSWERED_ENV]: UNANSWERED }, 30_000);
  });

  after(() => {
    deleteNetns(NS_PROBES);
    assert.ok(!netnsExists(NS_PROBES), `namespace ${NS_PROBES} is still there`);
  });

  function outcome(name: string): CaseOutcome {
    const found = report.cases[name];
    assert.ok(found, `no case ${name}`);
    assert.equal(found.openAfter, 0, `${name}: the probe left its connection open on the server`);
    return found;
  }

  function failsFast(name: string, error: RegExp): void {
    const { result } = outcome(name);
    assert.equal(result.ok, false, name);
    assert.match(result.error ?? '', error, name);
    assert.ok(result.ms < CASE_TIMEOUT_MS / 2, `${name}: took ${result.ms} ms`);
  }

  function timesOut(name: string, timeoutMs = CASE_TIMEOUT_MS): void {
    const { result } = outcome(name);
    assert.equal(result.ok, false, name);
    assert.equal(result.error, `timed out after ${timeoutMs} ms`, name);
    assert.ok(result.ms >= timeoutMs - 1 && result.ms < timeoutMs + 100, `${name}: took ${result.ms} ms`);
  }

  it('tcp: a listening port is healthy, and the probe closes its connection', () => {
    const { result } = outcome('tcp accepted');
    assert.equal(result.ok, true, result.error);
    assert.equal(result.error, undefined);
  });

  it('tcp: a refused port fails at once', () => failsFast('tcp refused', /ECONNREFUSED/));

  it('tcp: an address that never answers fails at the timeout', () => timesOut('tcp unanswered'));

  it('http: the expected status is healthy, after reading the whole body', () => {
    const { result } = outcome('http 200');
    assert.equal(result.ok, true, result.error);
  });

  it('http: another status fails, and the expected status is the one configured', () => {
    failsFast('http 503', /^HTTP 503, expected 200$/);
    failsFast('http wrong path', /^HTTP 404, expected 200$/);
    assert.equal(outcome('http 503 expected').result.ok, true);
  });

  it('http: a refused port fails at once', () => failsFast('http refused', /ECONNREFUSED/));

  it('http: a server that accepts and never answers fails at the timeout, and the connection is closed', () => timesOut('http never answers'));

  it('http: a response whose body never ends fails at the timeout (the deadline covers the whole response)', () => timesOut('http body never ends'));

  it('the default probe picks TCP or HTTP by the type: on the same port, a connect succeeds where the GET sees 503', () => {
    assert.equal(outcome('type tcp').result.ok, true);
    failsFast('type http', /^HTTP 503, expected 200$/);
  });

  it('an abort ends a probe at once and closes its connection', () => {
    const { result } = outcome('http aborted');
    assert.equal(result.ok, false);
    assert.equal(result.error, 'aborted');
    assert.ok(result.ms >= 45 && result.ms < 500, `took ${result.ms} ms`);
  });

  it('leaves no timer behind', () => assert.equal(report.liveTimers, 0));
});

describe('HealthChecker in a network namespace', () => {
  let server: NetnsChild | undefined;
  let checker: NetnsChild | undefined;
  const serverEnv = { [ROLE_ENV]: 'server', [ADDRESS_ENV]: BACKEND, [PORT_ENV]: String(PORT) };

  before(async () => {
    setUpNetns(NS_LOOP);
    server = new NetnsChild(NS_LOOP, serverEnv);
    await server.waitFor('server listening', (e) => e.event === 'listening');
  });

  after(() => {
    server?.kill();
    checker?.kill();
    deleteNetns(NS_LOOP);
    assert.ok(!netnsExists(NS_LOOP), `namespace ${NS_LOOP} is still there`);
  });

  /** The batch that completes `healthy` for every target, among the checker's events from index `from` on. */
  function reported(healthy: boolean, from: number): Promise<{ at: number; event: StampedEvent }> {
    const c = checker!;
    const done = reportsAll(healthy);
    const what = `${healthy ? 'healthy' : 'unhealthy'} reports for ${SERVICES.join(' and ')}`;
    return c.waitFor(what, (_, index) => done(c.events.slice(from, index + 1).map((e) => e.event)), from);
  }

  it('probes at once and takes the backend after its first success, not after rise', async (t) => {
    checker = new NetnsChild(NS_LOOP, { [ROLE_ENV]: 'checker', [CONFIG_ENV]: CONFIG });
    const started = await checker.waitFor('checker started', (e) => e.event === 'started');
    // Both in the child's time: the two lines may arrive here in one read.
    const ms = (await reported(true, 0)).event.t - started.event.t;
    t.diagnostic(`healthy ${ms.toFixed(1)} ms after start`);
    assert.ok(ms < INTERVAL_MS, `healthy after ${ms} ms`);
    for (const e of checker.events) if (e.event.event === 'changes') for (const c of e.event.changes) assert.equal(c.state, 'healthy');
  });

  it(`reports it unhealthy within fall × interval (${FALL * INTERVAL_MS} ms) after its server is killed`, async (t) => {
    const from = checker!.events.length;
    const killed = performance.now();
    server!.kill();
    const ms = (await reported(false, from)).at - killed;
    t.diagnostic(`unhealthy ${ms.toFixed(1)} ms after the kill`);
    // Not before fall failures: the fall-th probe starts no earlier than (fall - 1) jittered intervals after the first.
    const earliest = (FALL - 1) * INTERVAL_MS * (1 - PROBE_JITTER) - 5;
    assert.ok(ms >= earliest && ms <= FALL * INTERVAL_MS + SLACK_MS, `unhealthy after ${ms} ms, expected ${earliest}..${FALL * INTERVAL_MS + SLACK_MS}`);
  });

  it(`reports it healthy again within rise × interval (${RISE * INTERVAL_MS} ms) after the server is back`, async (t) => {
    const from = checker!.events.length;
    server = new NetnsChild(NS_LOOP, serverEnv);
    const back = await server.waitFor('server listening again', (e) => e.event === 'listening');
    const ms = (await reported(true, from)).event.t - back.event.t;
    t.diagnostic(`healthy ${ms.toFixed(1)} ms after the server listened again`);
    const earliest = (RISE - 1) * INTERVAL_MS * (1 - PROBE_JITTER) - 20;
    assert.ok(ms >= earliest && ms <= RISE * INTERVAL_MS + SLACK_MS, `healthy after ${ms} ms, expected ${earliest}..${RISE * INTERVAL_MS + SLACK_MS}`);
  });

  it('stop() leaves no timer, and the process then exits on its own', async () => {
    const c = checker!;
    c.process.stdin!.write('stop\n');
    const { event } = await c.waitFor('stopped', (e) => e.event === 'stopped');
    assert.equal(event.event === 'stopped' && event.liveTimers, 0, 'live timers after stop()');
    c.process.stdin!.end();
    assert.equal(await c.exited(2000), 0, 'the checker child did not exit: something is still open');
  });
});
