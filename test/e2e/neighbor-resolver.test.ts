/*
 * The neighbour loop against a real kernel and real BPF maps: backend MACs
 * that nobody configured end up in lb_neigh, a backend behind a router gets
 * the router's MAC, a changed MAC is picked up within one refresh interval
 * although the host sends nothing to the backend, and a backend that is not
 * there (or goes away) has no entry.
 *
 * Topology, in throw-away namespaces (198.18.0.0/15 only, no route out),
 * removed afterwards also when something fails:
 *
 *   lb 198.18.0.1 ─┐                      ┌─ rs  198.18.0.2
 *                  ├── bridge (ns sw) ────┼─ rsb 198.18.0.3
 *                  │                      └─ rt  198.18.0.254 ── far 198.18.2.2
 *   lb: 198.18.2.0/24 via 198.18.0.254
 *
 * The loop runs in neighbor-resolver-child.js inside lb (nsenter, so the
 * host's bpffs is visible) with lb_neigh pinned under a directory of this
 * test; lb_neigh is read here with bpftool and MACs with `ip -n`, never
 * through the code under test. Needs root, iproute2, bpftool and
 * build/bpf/xdp4slb.bpf.o.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ANSWER_WAIT_MS } from '../../src/loops/neighbor-resolver.js';
import { BPFFS, deleteNetns, mountBpffs, netnsExists } from '../support/netns.js';
import { INTERFACE_ENV, INTERVAL_ENV, PIN_ENV, type ChildCommand } from './neighbor-resolver-child.js';

const CHILD = fileURLToPath(new URL('./neighbor-resolver-child.js', import.meta.url));
const NS = {
  lb: `xlb-nb-lb-${process.pid}`,
  sw: `xlb-nb-sw-${process.pid}`,
  rs: `xlb-nb-rs-${process.pid}`,
  rsb: `xlb-nb-rsb-${process.pid}`,
  rt: `xlb-nb-rt-${process.pid}`,
  far: `xlb-nb-far-${process.pid}`,
};
const PIN_DIR = `${BPFFS}/xlb-neigh-${process.pid}`;
const PIN = `${PIN_DIR}/lb_neigh`;

const RS = '198.18.0.2';
const RS_B = '198.18.0.3';
const ROUTER = '198.18.0.254';
const ROUTED = '198.18.2.2';
/** On the lb's subnet, but no host has it. */
const GHOST = '198.18.0.9';
const BACKENDS = [RS, RS_B, ROUTED, GHOST];

const INTERVAL_MS = 500;
/** A refresh starts at most one interval after a change and writes after the answer wait; the rest is process start-up and polling. */
const PICKED_UP_WITHIN_MS = INTERVAL_MS + ANSWER_WAIT_MS + 300;
/** The kernel's 3 broadcast solicitations 1 s apart (mcast_solicit, retrans_time defaults). */
const KERNEL_GIVES_UP_MS = 3000;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}

function macOf(ns: string): string {
  return (JSON.parse(ip('-n', ns, '-j', 'link', 'show', 'dev', 'eth0')) as { address: string }[])[0]!.address;
}

/** lb_neigh as bpftool shows it: the raw key (an IPv4 address in network order) and value (MAC, 2 bytes of padding). */
function lbNeigh(): Map<string, string> {
  const dump = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', PIN], { encoding: 'utf8' })) as { key: string[]; value: string[] }[];
  const bytes = (hex: string[]): number[] => hex.map((h) => parseInt(h, 16));
  return new Map(
    dump.map((e) => [bytes(e.key).join('.'), bytes(e.value.slice(0, 6)).map((b) => b.toString(16).padStart(2, '0')).join(':')]),
  );
}

/** Polls `done` every 20 ms; resolves to the milliseconds it took, or fails after `timeoutMs`. */
async function waitUntil(what: string, done: () => boolean, timeoutMs: number): Promise<number> {
  const start = performance.now();
  while (!done()) {
    if (performance.now() - start > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms (lb_neigh: ${JSON.stringify([...lbNeigh()])})`);
    await sleep(20);
  }
  return performance.now() - start;
}

function buildTopology(): void {
  for (const ns of Object.values(NS)) {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  ip('-n', NS.sw, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', NS.sw, 'link', 'set', 'br0', 'up');
  const onSegment: [string, string][] = [
    [NS.lb, '198.18.0.1/24'],
    [NS.rs, `${RS}/24`],
    [NS.rsb, `${RS_B}/24`],
    [NS.rt, `${ROUTER}/24`],
  ];
  onSegment.forEach(([ns, address], i) => {
    ip('-n', NS.sw, 'link', 'add', `port${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('-n', NS.sw, 'link', 'set', `port${i}`, 'master', 'br0', 'up');
    ip('-n', ns, 'addr', 'add', address, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
  });
  ip('-n', NS.rt, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.far);
  ip('-n', NS.rt, 'addr', 'add', '198.18.2.1/24', 'dev', 'eth1');
  ip('-n', NS.rt, 'link', 'set', 'eth1', 'up');
  ip('-n', NS.far, 'addr', 'add', `${ROUTED}/24`, 'dev', 'eth0');
  ip('-n', NS.far, 'link', 'set', 'eth0', 'up');
  ip('-n', NS.lb, 'route', 'add', '198.18.2.0/24', 'via', ROUTER);
  // Nothing learned while setting up may stand in for what the loop must learn.
  for (const ns of Object.values(NS)) ip('-n', ns, 'neigh', 'flush', 'all');
}

/** The child, its stdout lines as parsed objects, and a way to wait for one. */
class LoopProcess {
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly exited: Promise<void>;

  constructor() {
    this.proc = spawn('nsenter', [`--net=/run/netns/${NS.lb}`, process.execPath, CHILD], {
      env: { ...process.env, [PIN_ENV]: PIN, [INTERVAL_ENV]: String(INTERVAL_MS), [INTERFACE_ENV]: 'eth0' },
    });
    let partial = '';
    this.proc.stdout.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const complete = text.split('\n');
      partial = complete.pop() ?? '';
      for (const line of complete) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    this.proc.stderr.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
    });
    this.exited = new Promise((resolve) => this.proc.on('close', () => resolve()));
  }

  send(command: ChildCommand): void {
    this.proc.stdin.write(`${JSON.stringify(command)}\n`);
  }

  async line(what: string, match: (line: Record<string, unknown>) => boolean, timeoutMs: number, from = 0): Promise<Record<string, unknown>> {
    const start = performance.now();
    for (;;) {
      const found = this.lines.slice(from).find((l) => match(l) || 'error' in l);
      if (found !== undefined && 'error' in found) assert.fail(`child failed: ${String(found['error'])}\n${this.stderr}`);
      if (found !== undefined) return found;
      if (performance.now() - start > timeoutMs) assert.fail(`no ${what} from the child within ${timeoutMs} ms\n${this.stderr}`);
      await sleep(20);
    }
  }

  /** End of input stops the loop; killed if it does not exit in time. */
  async end(): Promise<void> {
    this.proc.stdin.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

describe('neighbour resolver in network namespaces', { timeout: 60_000 }, () => {
  let loop: LoopProcess | undefined;

  before(async () => {
    mountBpffs();
    fs.mkdirSync(PIN_DIR);
    buildTopology();
    loop = new LoopProcess();
    await loop.line('ready', (l) => l['ready'] === true, 15_000);
    loop.send({ update: BACKENDS });
  });

  after(async () => {
    await loop?.end();
    for (const ns of Object.values(NS)) deleteNetns(ns);
    fs.rmSync(PIN_DIR, { recursive: true, force: true });
    for (const ns of Object.values(NS)) assert.ok(!netnsExists(ns), `namespace ${ns} is still there`);
  });

  it("resolves a backend whose MAC is configured nowhere to its veth's MAC", async () => {
    await waitUntil(`${RS} in lb_neigh`, () => lbNeigh().has(RS), 3000);
    assert.equal(lbNeigh().get(RS), macOf(NS.rs));
    assert.equal(lbNeigh().get(RS_B), macOf(NS.rsb));
  });

  it("gives a backend behind a router the router's MAC", async () => {
    await waitUntil(`${ROUTED} in lb_neigh`, () => lbNeigh().has(ROUTED), 3000);
    assert.equal(lbNeigh().get(ROUTED), macOf(NS.rt));
    assert.notEqual(lbNeigh().get(ROUTED), macOf(NS.far));
  });

  it('leaves a backend that does not exist unresolved, with no lb_neigh entry', async () => {
    const from = loop!.lines.length;
    loop!.send({ query: [GHOST] });
    const { resolutions } = (await loop!.line('resolutions', (l) => 'resolutions' in l, 2000, from)) as {
      resolutions: Record<string, { state: string; nextHop?: string; reason?: string }>;
    };
    const { state, nextHop, reason } = resolutions[GHOST] ?? {};
    assert.deepEqual({ state, nextHop, reason }, { state: 'unresolved', nextHop: GHOST, reason: 'no-answer' });
    assert.equal(lbNeigh().has(GHOST), false);
  });

  it('picks up a changed MAC within one refresh interval, with no traffic from the host to the backend', async (t) => {
    const old = lbNeigh().get(RS);
    const changed = '02:00:5e:10:00:02';
    assert.notEqual(old, changed);
    // No gratuitous ARP follows (arp_notify is 0), and the kernel still holds the old MAC as valid.
    ip('-n', NS.rs, 'link', 'set', 'dev', 'eth0', 'address', changed);
    const tookMs = await waitUntil(`the new MAC of ${RS}`, () => lbNeigh().get(RS) === changed, 5000);
    t.diagnostic(`picked up in ${Math.round(tookMs)} ms (interval ${INTERVAL_MS} ms)`);
    assert.ok(tookMs <= PICKED_UP_WITHIN_MS, `took ${Math.round(tookMs)} ms, more than ${PICKED_UP_WITHIN_MS} ms`);
  });

  it('keeps the MAC of a backend that stops answering while the kernel resolves, deletes it once the kernel gives up, and takes it back', async (t) => {
    const mac = macOf(NS.rsb);
    ip('-n', NS.rsb, 'link', 'set', 'dev', 'eth0', 'down');
    await sleep(1000);
    assert.equal(lbNeigh().get(RS_B), mac, 'dropped before the kernel gave up');
    const goneMs = await waitUntil(`${RS_B} out of lb_neigh`, () => !lbNeigh().has(RS_B), KERNEL_GIVES_UP_MS + 2 * INTERVAL_MS + 1000);
    ip('-n', NS.rsb, 'link', 'set', 'dev', 'eth0', 'up');
    // The kernel's next solicitation (1 s apart) or the loop's next probe finds it.
    const backMs = await waitUntil(`${RS_B} back in lb_neigh`, () => lbNeigh().get(RS_B) === mac, KERNEL_GIVES_UP_MS + 2 * INTERVAL_MS + 1000);
    t.diagnostic(`deleted ${Math.round(1000 + goneMs)} ms after the backend went down, back ${Math.round(backMs)} ms after it came up`);
  });

  it('deletes the entry of a backend the config no longer has', async () => {
    assert.ok(lbNeigh().has(ROUTED));
    loop!.send({ update: [RS, RS_B, GHOST] });
    await waitUntil(`${ROUTED} out of lb_neigh`, () => !lbNeigh().has(ROUTED), PICKED_UP_WITHIN_MS);
  });
});
