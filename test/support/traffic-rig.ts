/*
 * One end-to-end case's world on the classic Full-NAT segment of
 * demo/topology.ts (a bridge; a client, the balancer and real servers in
 * namespaces of their own): the real bin/xdp4slb-agent on the balancer with
 * its config file and pin path, the servers of demo/backend-server.ts, and
 * clients of demo/traffic-client.ts. Namespaces are `xlp-<tag>-<pid>-<host>`
 * (198.18.0.0/24 only, no route out, neighbour tables flushed); a Rig's
 * destroy() removes everything it made, whatever state it was left in.
 * Maps are read through DatapathMaps.fromPins. Needs root, iproute2, ethtool
 * and a built checkout (npm run build).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { readAgentEvents, readLines, type AgentEvent } from '../../demo/agent-events.js';
import { Topology, type XdpMode } from '../../demo/topology.js';
import { LB_SCHED_HDR_LEN_MASK, encodeIpv4Key, lbNeigh } from '../../src/datapath/codecs.js';
import { DatapathMaps } from '../../src/datapath/datapath-maps.js';
import { configText, type TestBackend, type TestConfig, type TestService } from './desired-config.js';
import { BPFFS, mountBpffs } from './netns.js';

const AGENT = fileURLToPath(new URL('../../../bin/xdp4slb-agent', import.meta.url));
const SERVER = fileURLToPath(new URL('../../demo/backend-server.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('../../demo/traffic-client.js', import.meta.url));

export const VIP = '198.18.0.10';
export const SNAT = '198.18.0.5';
export const URL_ = `http://${VIP}/`;
export const DNS_PORT = 53;

export interface Server {
  readonly host: string;
  readonly name: string;
  readonly address: string;
}
export const RS1: Server = { host: 'rs1', name: 'rs-1', address: '198.18.0.2' };
export const RS2: Server = { host: 'rs2', name: 'rs-2', address: '198.18.0.3' };

/** neighbors.refresh_interval of every case. */
export const REFRESH_MS = 1_000;
/** conntrack.gc_interval of every case. */
export const GC_MS = 500;
/** Room for process start-up, a re-plan and polling on a busy 2-core machine (other test files run beside this one). */
export const SLACK_MS = 700;


export interface HoldLine {
  answer?: string;
  failure?: string;
  port?: number;
  /** Date.now() in the client just before it sent the request: orders requests against agent log times. */
  start?: number;
  /** Date.now() when the test read the line. */
  at: number;
}

const MAC_RE = /\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b/i;

export function webService(backends: readonly Server[], extra: Partial<TestService> & Record<string, unknown> = {}, states: Record<string, TestBackend['state']> = {}): TestService {
  return {
    name: 'web',
    vip: VIP,
    port: 80,
    protocol: 'tcp',
    scheduler: 'round_robin',
    backends: backends.map((s) => ({ address: s.address, port: 80, ...(states[s.address] ? { state: states[s.address] } : {}) })),
    ...extra,
  };
}

/** A UDP service on the VIP's DNS port, round robin. */
export function dnsService(backends: readonly Server[]): TestService {
  return { name: 'dns', vip: VIP, port: DNS_PORT, protocol: 'udp', scheduler: 'round_robin', backends: backends.map((s) => ({ address: s.address, port: DNS_PORT })) };
}

export function baseConfig(mode: XdpMode, services: TestService[], extra: Record<string, unknown> = {}): TestConfig {
  return {
    interface: 'eth0',
    xdp_mode: mode,
    vip_announce: 'arp',
    snat: { addresses: [SNAT], ports: '10000-32767' },
    services,
    conntrack: { gc_interval: `${GC_MS}ms` },
    neighbors: { refresh_interval: `${REFRESH_MS}ms` },
    ...extra,
  };
}

/**
 * One case's world: the topology, its servers, the agent with its config
 * file and pin path, and clients. destroy() removes it all, whatever state
 * it was left in.
 */
export class Rig {
  readonly dir: string;
  readonly configPath: string;
  readonly pinPath: string;
  readonly events: AgentEvent[] = [];
  readonly topo: Topology;
  private agent: ChildProcess | undefined;
  private readonly servers = new Map<string, ChildProcess>();

  constructor(
    tag: string,
    readonly mode: XdpMode,
    readonly backends: readonly Server[],
  ) {
    mountBpffs();
    const prefix = `xlp-${tag}-${process.pid}`;
    this.pinPath = `${BPFFS}/${prefix}`;
    this.topo = Topology.create(
      prefix,
      [
        { name: 'lb', address: '198.18.0.1' },
        { name: 'client', address: '198.18.0.100' },
        ...backends.map((s) => ({ name: s.host, address: s.address })),
      ],
      { balancer: 'lb', mode },
    );
    try {
      this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
    } catch (err) {
      this.topo.destroy();
      throw err;
    }
    this.configPath = path.join(this.dir, 'config.yaml');
  }

  /** The server program on a host (HTTP on 80, UDP on 53); resolves once it listens. */
  async startServer(server: Server): Promise<void> {
    const child = this.topo.spawn(server.host, process.execPath, [SERVER], { NAME: server.name, HTTP_PORT: '80', UDP_PORT: String(DNS_PORT) });
    this.servers.set(server.host, child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${server.name} did not start`)), 10_000);
      child.stdout!.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${server.name} exited (${code})`));
      });
    });
  }

  async killServer(server: Server): Promise<void> {
    const child = this.servers.get(server.host);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /**
   * Start every server, save `config`, start the agent on it, and wait (up to
   * `timeoutMs`, default 10 s) until the web service's table holds `eligible`
   * (default: every server; none: do not wait).
   */
  async serve(config: TestConfig, opts: { eligible?: readonly string[]; timeoutMs?: number } = {}): Promise<void> {
    const { eligible = this.backends.map((s) => s.address), timeoutMs = 10_000 } = opts;
    for (const server of this.backends) await this.startServer(server);
    this.writeConfig(config);
    await this.startAgent();
    if (eligible.length > 0) await this.waitEligible(eligible, timeoutMs);
  }

  /** Written as an editor saves: temporary file, then rename over; a string is saved as it is (a broken file, say). No MAC is ever in it. */
  writeConfig(config: TestConfig | string): void {
    const text = typeof config === 'string' ? config : configText(config);
    assert.doesNotMatch(text, MAC_RE, 'a config must not name a MAC');
    const tmp = path.join(this.dir, '.config.yaml.tmp');
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, this.configPath);
  }

  /** Start the agent (again, after killAgent()); resolves with its first reconcile, which must have applied. */
  async startAgent(): Promise<AgentEvent> {
    const from = this.events.length;
    const child = this.topo.spawn('lb', AGENT, ['--config', this.configPath, '--pin-path', this.pinPath]);
    this.agent = child;
    readAgentEvents(child, (e) => this.events.push(e));
    const started = await this.waitFor((e) => e.event === 'reload' && e.reason === 'start', 20_000, from);
    assert.equal(started.result, 'applied', this.log());
    return started;
  }

  /** SIGKILL the agent, as a crash would: nothing of its shutdown runs, the pinned datapath stays. */
  async killAgent(): Promise<void> {
    const agent = this.agent;
    if (!agent || agent.exitCode !== null || agent.signalCode !== null) return;
    const exited = new Promise((resolve) => agent.once('exit', resolve));
    agent.kill('SIGKILL');
    await exited;
  }

  /** The first event from index `from` on that matches. */
  async waitFor(match: (e: AgentEvent) => boolean, timeoutMs: number, from = 0): Promise<AgentEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find(match);
      if (found) return found;
      if (this.agent && this.agent.exitCode !== null) assert.fail(`the agent exited (${this.agent.exitCode}); events:\n${this.log()}`);
      if (Date.now() > deadline) assert.fail(`no matching agent event within ${timeoutMs} ms; events:\n${this.log()}`);
      await sleep(20);
    }
  }

  /** Save `config` and wait for the reload that applies it. */
  async reload(config: TestConfig): Promise<AgentEvent> {
    const from = this.events.length;
    this.writeConfig(config);
    const reload = await this.waitFor((e) => e.event === 'reload' && e.reason === 'file-changed', 5_000, from);
    assert.equal(reload.result, 'applied', this.log());
    return reload;
  }

  log(): string {
    return this.events.map((e) => JSON.stringify(e)).join('\n');
  }

  withMaps<T>(read: (maps: DatapathMaps) => T): T {
    const maps = DatapathMaps.fromPins(this.pinPath);
    if (!maps) throw new Error(`nothing pinned under ${this.pinPath}`);
    try {
      return read(maps);
    } finally {
      maps.close();
    }
  }

  /** The addresses of the backends in a service's published scheduler table: those that take new flows. */
  eligible(service = 'web'): string[] {
    return this.withMaps((maps) => {
      const entry = [...maps.serviceMetas()].find(([, meta]) => meta.name === service);
      if (!entry) return [];
      const table = maps.schedulerTable(entry[0]);
      if (!table || table.length === 0) return [];
      const length = table[0]! & LB_SCHED_HDR_LEN_MASK;
      const metas = maps.backendMetas();
      const ids = new Set(table.subarray(1, 1 + length));
      return [...ids].map((id) => metas.get(id)?.ip ?? `#${id}`).sort();
    });
  }

  /** Polls until the eligible set is `addresses`; the milliseconds it took. */
  async waitEligible(addresses: readonly string[], timeoutMs: number): Promise<number> {
    const want = [...addresses].sort();
    return this.waitUntil(`eligible backends ${want.join(', ')}`, () => JSON.stringify(this.eligible()) === JSON.stringify(want), timeoutMs, () =>
      `eligible: ${this.eligible().join(', ')}`,
    );
  }

  /** Polls `done` every 20 ms; the milliseconds it took, or an assertion failure after `timeoutMs`. */
  async waitUntil(what: string, done: () => boolean, timeoutMs: number, state: () => string = () => ''): Promise<number> {
    const start = Date.now();
    while (!done()) {
      if (Date.now() - start > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms (${state()}); agent events:\n${this.log()}`);
      await sleep(20);
    }
    return Date.now() - start;
  }

  /** lb_neigh's MAC for an address, if any. */
  neighbor(address: string): string | undefined {
    return this.withMaps((maps) => {
      const value = maps.map('lb_neigh').lookup(encodeIpv4Key(address));
      return value && lbNeigh.decode(value).mac;
    });
  }

  /** The MAC of a host's eth0, from the kernel. */
  macOf(host: string): string {
    return (JSON.parse(this.topo.ip(host, '-j', 'link', 'show', 'dev', 'eth0')) as { address: string }[])[0]!.address;
  }

  /** lb_ct as (backend address, protocol) of each flow. */
  flows(): { backend: string; proto: number; clientPort: number }[] {
    return this.withMaps((maps) => [...maps.conns()].map(({ conn }) => ({ backend: conn.backendIp, proto: conn.proto, clientPort: conn.clientPort })));
  }

  /** lb_snat as (backend address, SNAT port, protocol) of each tuple. */
  tuples(): { backend: string; snatPort: number; proto: number }[] {
    return this.withMaps((maps) => [...maps.snatTuples()].map(({ reply }) => ({ backend: reply.srcIp, snatPort: reply.dstPort, proto: reply.proto })));
  }

  counter(name: string): bigint {
    return this.withMaps((maps) => maps.counters()[name] ?? 0n);
  }

  /** Sequential HTTP requests from the client to `url`, one connection each (keep-alive off), each given `timeoutMs`. */
  http(count: number, timeoutMs = 2_000, url = URL_): { answers: string[]; failures: string[] } {
    return this.client(['http', url, String(count)], count * timeoutMs, timeoutMs);
  }

  /** Sequential UDP questions from the client, one socket (so one flow) each. */
  udp(count: number): { answers: string[]; failures: string[] } {
    return this.client(['udp', VIP, String(DNS_PORT), String(count)], count * 2_000, 2_000);
  }

  private client(args: string[], totalMs: number, timeoutMs: number): { answers: string[]; failures: string[] } {
    const res = this.topo.exec('client', 'env', [`CLIENT_TIMEOUT_MS=${timeoutMs}`, process.execPath, CLIENT, ...args], totalMs + 5_000);
    try {
      return JSON.parse(res.stdout) as { answers: string[]; failures: string[] };
    } catch {
      throw new Error(`traffic client: exit ${res.status}: ${res.stdout} ${res.stderr}`);
    }
  }

  /** A client holding one keep-alive connection to the VIP, asking every `intervalMs`. */
  hold(intervalMs = 100, timeoutMs = 2_000): Holder {
    return new Holder(this.spawnClient(['hold', URL_, String(intervalMs), String(timeoutMs)]));
  }

  /** A client asking every `intervalMs` until stopped, each request on a new connection (so a new flow). */
  stream(intervalMs = 0, timeoutMs = 2_000): Holder {
    return new Holder(this.spawnClient(['stream', URL_, String(intervalMs), String(timeoutMs)]));
  }

  /** demo/traffic-client.js with these arguments (and environment, e.g. CLIENT_TIMEOUT_MS), running in the client's namespace until destroy() at the latest. */
  spawnClient(args: readonly string[], host = 'client', env: NodeJS.ProcessEnv = {}): ChildProcess {
    return this.topo.spawn(host, process.execPath, [CLIENT, ...args], env);
  }

  /** SIGTERM to the agent (SIGKILL after 5 s): it exits and leaves the datapath forwarding. */
  async stopAgent(): Promise<void> {
    const agent = this.agent;
    if (!agent || agent.exitCode !== null || agent.signalCode !== null) return;
    const exited = new Promise((resolve) => agent.once('exit', resolve));
    agent.kill('SIGTERM');
    const timer = setTimeout(() => agent.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** `xdp4slb-agent down` on the balancer. */
  down(): { status: number | null; stdout: string; stderr: string } {
    return this.topo.exec('lb', AGENT, ['down', '--pin-path', this.pinPath]);
  }

  async destroy(): Promise<void> {
    await this.stopAgent();
    try {
      this.down();
    } finally {
      this.topo.destroy();
      fs.rmSync(this.pinPath, { recursive: true, force: true });
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** traffic-client.js hold or stream: its lines as they come. */
export class Holder {
  readonly lines: HoldLine[] = [];
  private readonly exited: Promise<unknown>;

  constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', resolve));
    readLines(child.stdout!, (line) => {
      try {
        this.lines.push({ ...(JSON.parse(line) as Omit<HoldLine, 'at'>), at: Date.now() });
      } catch {
        this.lines.push({ failure: `not JSON: ${line}`, at: Date.now() });
      }
    });
  }

  /** Waits for `count` lines from index `from` on. */
  async waitLines(count: number, timeoutMs: number, from = 0): Promise<HoldLine[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length - from < count) {
      if (Date.now() > deadline) assert.fail(`held connection: ${this.lines.length - from} of ${count} answers within ${timeoutMs} ms: ${JSON.stringify(this.lines)}`);
      await sleep(20);
    }
    return this.lines.slice(from);
  }

  async stop(): Promise<HoldLine[]> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
    return this.lines;
  }
}

/** Every line answered by `name`, on one connection (one local port). */
export function assertHeldBy(lines: readonly HoldLine[], name: string, port: number | undefined, what: string): void {
  assert.ok(lines.length > 0, `${what}: no answers`);
  for (const line of lines) {
    assert.deepEqual({ answer: line.answer, failure: line.failure, port: line.port }, { answer: name, failure: undefined, port }, `${what}: ${JSON.stringify(lines)}`);
  }
}

/** Round robin alternates strictly: no two answers in a row from the same server, and both answer. */
export function assertAlternating(answers: readonly string[], names: readonly string[]): void {
  assert.deepEqual([...new Set(answers)].sort(), [...names].sort(), JSON.stringify(answers));
  for (let i = 1; i < answers.length; i++) assert.notEqual(answers[i], answers[i - 1], `round robin must alternate: ${JSON.stringify(answers)}`);
}

export function serverNamed(name: string | undefined): Server {
  const server = [RS1, RS2].find((s) => s.name === name);
  if (!server) assert.fail(`answer ${JSON.stringify(name)} is no server's name`);
  return server;
}
