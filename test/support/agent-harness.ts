/*
 * A balancer host for agent tests: a network namespace whose NIC lb0
 * (198.18.0.1/24) is a veth to a second namespace standing for the servers'
 * side: it answers ARP for the test backends (198.18.0.2-.4, .6, .9) and, as
 * a router at 198.18.0.254, for the rest of 198.18.0.0/15 (so the neighbour
 * loop resolves every backend, as it would on a real segment). A config file
 * lives in a temporary directory, and the real bin/xdp4slb-agent runs inside
 * the namespace with `nsenter --net` and a pin path of its own. The agent's
 * JSON log lines are collected as events. destroy() removes everything, also
 * after a failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readAgentEvents, type AgentEvent } from '../../demo/agent-events.js';
import { DatapathMaps } from '../../src/datapath/datapath-maps.js';

export type { AgentEvent };
import { configText, type TestConfig } from './desired-config.js';
import { deleteNetns, mountBpffs } from './netns.js';

export const AGENT_BIN = fileURLToPath(new URL('../../../bin/xdp4slb-agent', import.meta.url));

/* Backend addresses the tests use on the balancer's segment. */
const SERVER_ADDRESSES = ['198.18.0.2', '198.18.0.3', '198.18.0.4', '198.18.0.6', '198.18.0.9'];

/* Reloads that read the file, as opposed to the loops' re-plans (reason 'health', 'neighbors'). */
const FILE_REASONS = new Set(['file-changed', 'SIGHUP']);


export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export class AgentHost {
  readonly dir: string;
  readonly configPath: string;
  readonly pinPath: string;
  readonly events: AgentEvent[] = [];
  /** The namespace at the other end of lb0: the servers and the router. */
  readonly serversNetns: string;
  /** Words put before the agent's executable inside the namespace (e.g. setpriv with a capability set). */
  launcher: readonly string[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;

  private constructor(readonly netns: string) {
    this.serversNetns = `${netns}-rs`;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${netns}-`));
    this.configPath = path.join(this.dir, 'config.yaml');
    this.pinPath = `/sys/fs/bpf/${netns}`;
  }

  /** `tag` keeps names unique across test files running in parallel. */
  static create(tag: string): AgentHost {
    mountBpffs();
    const host = new AgentHost(`xlb-${tag}-${process.pid}`);
    const servers = host.serversNetns;
    const ip = (ns: string, ...args: string[]): void => void spawnSync('ip', ['-n', ns, ...args], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'add', host.netns]);
    spawnSync('ip', ['netns', 'add', servers]);
    ip(host.netns, 'link', 'add', 'lb0', 'type', 'veth', 'peer', 'name', 'lb1', 'netns', servers);
    ip(host.netns, 'link', 'set', 'lb0', 'up');
    ip(host.netns, 'addr', 'add', '198.18.0.1/24', 'dev', 'lb0');
    ip(host.netns, 'route', 'add', '198.18.0.0/15', 'via', '198.18.0.254');
    ip(servers, 'link', 'set', 'lb1', 'up');
    ip(servers, 'addr', 'add', '198.18.0.254/24', 'dev', 'lb1');
    for (const a of SERVER_ADDRESSES) ip(servers, 'addr', 'add', `${a}/32`, 'dev', 'lb1');
    return host;
  }

  /** Write the config as an editor does: temporary file, then rename over. Returns the wall-clock time (ms) the rename returned. */
  writeConfig(config: TestConfig | string): number {
    const text = typeof config === 'string' ? config : configText({ interface: 'lb0', xdp_mode: 'generic', ...config });
    const tmp = path.join(this.dir, '.config.yaml.tmp');
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, this.configPath);
    return Date.now();
  }

  /** Start the agent; resolves after its first reconcile (or its exit). */
  async start(...extra: string[]): Promise<void> {
    const from = this.events.length;
    const child = spawn(
      'nsenter',
      // The executable itself, as operators run it (its #! line sets Node's flags).
      [`--net=/run/netns/${this.netns}`, ...this.launcher, AGENT_BIN, '--config', this.configPath, '--pin-path', this.pinPath, ...extra],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    readAgentEvents(child, (e) => this.events.push(e));
    await Promise.race([this.waitFor((e) => e.event === 'reload' && e.reason === 'start', 15_000, from), this.exited]);
  }

  /** The first event from index `from` on that matches. */
  async waitFor(match: (e: AgentEvent) => boolean, timeoutMs = 5_000, from = 0): Promise<AgentEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find(match);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(`no matching agent event within ${timeoutMs} ms; events:\n${this.events.map((e) => JSON.stringify(e)).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Wait for the next reload of the file (a change or SIGHUP; not the loops' re-plans) after index `from`. */
  nextReload(from: number, timeoutMs = 5_000): Promise<AgentEvent> {
    return this.waitFor((e) => e.event === 'reload' && FILE_REASONS.has(String(e.reason)), timeoutMs, from);
  }

  /** Wait until the agent has logged nothing for `ms` (a burst of file events has played out). */
  async quiet(ms = 300, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let seen = this.events.length; ; seen = this.events.length) {
      await new Promise((r) => setTimeout(r, ms));
      if (this.events.length === seen) return;
      if (Date.now() > deadline) throw new Error(`the agent did not go quiet within ${timeoutMs} ms`);
    }
  }

  /** Send a signal and go on (SIGHUP: reload). */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Wait for the next reload of the file after index `from` that applied (a burst of edits may log rejections first). */
  nextApplied(from: number, timeoutMs = 5_000): Promise<AgentEvent> {
    return this.waitFor((e) => e.event === 'reload' && FILE_REASONS.has(String(e.reason)) && e.result === 'applied', timeoutMs, from);
  }

  /** Send a signal and wait for the agent to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode ?? null;
    this.child.kill(signal);
    return this.exited!;
  }

  exitCode(): Promise<number | null> {
    return this.exited ?? Promise.resolve(null);
  }

  /** Run the agent's CLI (e.g. --dry-run, down) inside the namespace. */
  cli(...args: string[]): CliResult {
    const res = spawnSync('nsenter', [`--net=/run/netns/${this.netns}`, process.execPath, AGENT_BIN, '--pin-path', this.pinPath, ...args], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { status: res.status, stdout: res.stdout, stderr: res.stderr };
  }

  ip(...args: string[]): string {
    return spawnSync('ip', ['-n', this.netns, ...args], { encoding: 'utf8' }).stdout;
  }

  maps(): DatapathMaps {
    const maps = DatapathMaps.fromPins(this.pinPath);
    if (!maps) throw new Error(`nothing pinned under ${this.pinPath}`);
    return maps;
  }

  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    if (fs.existsSync(this.pinPath)) this.cli('down');
    fs.rmSync(this.pinPath, { recursive: true, force: true });
    deleteNetns(this.netns);
    deleteNetns(this.serversNetns);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
