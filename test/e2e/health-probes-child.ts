/*
 * Child of health-probes.test.ts, started in the test's network namespace
 * (`nsenter --net=/run/netns/NAME`). One of three roles, from the
 * environment; imported without it, this module does nothing.
 *
 * - cases: starts its own servers on the namespace's address (one that
 *   accepts and never answers, one HTTP server), runs every probe case
 *   against them and reports each result with the connections the server
 *   still had open afterwards and the live timers left (runNodeInNetns).
 * - server: an HTTP backend answering 200 on /healthz until it is killed.
 * - checker: a HealthChecker with real probes and timers on the targets of a
 *   config, printing one JSON line per event; "stop" on stdin stops it.
 */
import http from 'node:http';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { createLogger } from '../../src/agent/logger.js';
import { parseConfig } from '../../src/config/index.js';
import { HealthChecker } from '../../src/loops/health-checker.js';
import { healthTargets } from '../../src/loops/health-targets.js';
import { monotonicClock } from '../../src/loops/loop-context.js';
import type { ProbeEnv, ProbeResult } from '../../src/loops/probe-attempt.js';
import { probeBackend } from '../../src/loops/probe-backend.js';
import { probeHttp } from '../../src/loops/probe-http.js';
import { probeTcp } from '../../src/loops/probe-tcp.js';
import { reportToParent } from '../support/netns.js';
import { countingTimers } from '../support/counting-timers.js';

export const ROLE_ENV = 'XDP4SLB_HEALTH_ROLE';
/** cases, server: the address to listen on. */
export const ADDRESS_ENV = 'XDP4SLB_HEALTH_ADDRESS';
/** cases: an on-link address nobody answers ARP for (a connect to it hangs). */
export const UNANSWERED_ENV = 'XDP4SLB_HEALTH_UNANSWERED';
/** server: the port. */
export const PORT_ENV = 'XDP4SLB_HEALTH_PORT';
/** checker: the config text whose health targets it checks. */
export const CONFIG_ENV = 'XDP4SLB_HEALTH_CONFIG';

export const CASE_TIMEOUT_MS = 300;
/** The body of a healthy answer: bigger than a socket buffer, so a probe that did not read it would stall the server. */
export const BODY_BYTES = 1 << 20;

export interface CaseOutcome {
  result: ProbeResult;
  /** Connections the server still had open 1 s after the probe ended (0: the probe closed its socket). */
  openAfter: number;
}

export interface CasesReport {
  cases: Record<string, CaseOutcome>;
  liveTimers: number;
}

/** Events the long-running roles print, one JSON object per line. */
export type ChildEvent =
  | { event: 'listening' }
  | { event: 'started' }
  | { event: 'changes'; changes: { serviceId: string; backendId: string; healthy: boolean; state: string }[] }
  | { event: 'stopped'; liveTimers: number };

/** As printed: with the time it was printed (ms since the epoch, high resolution): events of two children compare without the pipe's delay. */
export type StampedEvent = ChildEvent & { t: number };

function print(event: ChildEvent): void {
  const stamped: StampedEvent = { ...event, t: performance.timeOrigin + performance.now() };
  process.stdout.write(`${JSON.stringify(stamped)}\n`);
}

/** A server with a count of its open connections. */
function tracked<T extends net.Server>(server: T): { server: T; open: () => number } {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return { server, open: () => sockets.size };
}

function listen(server: net.Server, address: string, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve((server.address() as net.AddressInfo).port));
  });
}

async function openAfter(open: () => number): Promise<number> {
  for (let waited = 0; open() > 0 && waited < 1000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  return open();
}

function healthyServer(): http.Server {
  return http.createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(Buffer.alloc(BODY_BYTES, 'x'));
    } else if (req.url === '/stalls') {
      // Headers and a first chunk, then nothing: a backend hung mid-answer.
      res.writeHead(200);
      res.write('partial');
    } else if (req.url === '/down') {
      res.writeHead(503);
      res.end('down\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
}

async function runCases(address: string, unanswered: string): Promise<CasesReport> {
  // Accepts, reads and never answers: a hung backend.
  const silent = tracked(net.createServer((socket) => socket.resume()));
  const web = tracked(healthyServer());
  const silentPort = await listen(silent.server, address);
  const webPort = await listen(web.server, address);
  const closed = net.createServer();
  const closedPort = await listen(closed, address);
  await new Promise((r) => closed.close(r));

  const timers = countingTimers();
  const env = (signal = new AbortController().signal): ProbeEnv => ({ timers, clock: monotonicClock, signal });
  const at = (port: number) => ({ address, port, timeoutMs: CASE_TIMEOUT_MS });
  const get = (port: number, path: string, expectStatus = 200) => ({ ...at(port), path, expectStatus });
  const noServer = (): number => 0;
  const cases: Record<string, [() => Promise<ProbeResult>, () => number]> = {
    'tcp accepted': [() => probeTcp(at(silentPort), env()), silent.open],
    'tcp refused': [() => probeTcp(at(closedPort), env()), noServer],
    'tcp unanswered': [() => probeTcp({ ...at(80), address: unanswered }, env()), noServer],
    'http 200': [() => probeHttp(get(webPort, '/healthz'), env()), web.open],
    'http 503': [() => probeHttp(get(webPort, '/down'), env()), web.open],
    'http 503 expected': [() => probeHttp(get(webPort, '/down', 503), env()), web.open],
    'http wrong path': [() => probeHttp(get(webPort, '/nope'), env()), web.open],
    'http refused': [() => probeHttp(get(closedPort, '/healthz'), env()), noServer],
    'http body never ends': [() => probeHttp(get(webPort, '/stalls'), env()), web.open],
    'http never answers': [() => probeHttp(get(silentPort, '/healthz'), env()), silent.open],
    'type tcp': [() => probeBackend({ type: 'tcp', ...at(webPort) }, env()), web.open],
    'type http': [() => probeBackend({ type: 'http', ...get(webPort, '/down') }, env()), web.open],
    'http aborted': [
      () => {
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 50);
        return probeHttp({ ...get(silentPort, '/healthz'), timeoutMs: 5000 }, env(controller.signal));
      },
      silent.open,
    ],
  };
  const outcomes: Record<string, CaseOutcome> = {};
  for (const [name, [run, open]] of Object.entries(cases)) {
    const result = await run();
    outcomes[name] = { result, openAfter: await openAfter(open) };
  }
  await Promise.all([silent.server, web.server].map((s) => new Promise((r) => s.close(r))));
  return { cases: outcomes, liveTimers: timers.live.size };
}

async function runServer(address: string, port: number): Promise<void> {
  await listen(healthyServer(), address, port);
  print({ event: 'listening' });
}

function runChecker(configText: string): void {
  const parsed = parseConfig(configText, 'e2e.yaml', { localPortRange: [32768, 60999] });
  if (!parsed.ok) throw new Error(`invalid test config: ${JSON.stringify(parsed.issues)}`);
  const timers = countingTimers();
  const checker = new HealthChecker({
    context: { timers, clock: monotonicClock, log: createLogger({ level: 'debug', pretty: false, destination: 2 }) },
    onChange: (changes) => print({ event: 'changes', changes: [...changes] }),
  });
  checker.update(healthTargets(parsed.state));
  checker.start();
  print({ event: 'started' });
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    if (line !== 'stop') return;
    input.close();
    void checker.stop().then(() => print({ event: 'stopped', liveTimers: timers.live.size }));
  });
}

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
}

switch (process.env[ROLE_ENV]) {
  case 'cases': {
    const report = await runCases(required(ADDRESS_ENV), required(UNANSWERED_ENV));
    // reportToParent takes a synchronous function: the awaiting is done above.
    reportToParent(() => report);
    break;
  }
  case 'server':
    await runServer(required(ADDRESS_ENV), Number(required(PORT_ENV)));
    break;
  case 'checker':
    runChecker(required(CONFIG_ENV));
    break;
}
