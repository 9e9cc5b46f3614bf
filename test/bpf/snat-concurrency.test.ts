/*
 * SNAT allocation driven from two threads on two CPUs at once never yields
 * the same tuple twice (DESIGN.md §4). Packet tests run on one CPU and cannot
 * show races: here two worker threads, pinned to CPU 0 and CPU 1, fire SYNs
 * through BPF_PROG_TEST_RUN (which runs on the calling CPU) at a program
 * loaded once per round by the main thread, with one backend and a pool far
 * smaller than the SYNs, so both CPUs contend for the same few tuples until
 * the pool is exhausted. Needs root and the built object.
 *
 * The main thread never blocks on the workers (no Atomics.wait here): libbpf's
 * print hook is process-wide and a worker's prints are marshalled to the main
 * thread, which must stay free to run them.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { IPPROTO_TCP, LbConnState, type LbFlowKey } from '../../src/datapath/codecs.js';
import {
  CLIENT,
  CLIENT2,
  LoadedDatapath,
  RS1,
  SNAT_IP,
  TEST_MAP_SIZES,
  VIP,
} from '../support/datapath-fixture.js';
import type { RoundReport, RoundRequest, SynOutcome, WorkerInit } from './snat-concurrency-worker.js';

const WORKER_URL = new URL('./snat-concurrency-worker.js', import.meta.url);
const CPUS = [0, 1] as const;
const CLIENTS = [CLIENT, CLIENT2] as const;
const VPORT = 80;
const PORT_MIN = 20000;
const PORT_MAX = 20255;
const POOL_SIZE = PORT_MAX - PORT_MIN + 1;
/* SYNs per worker: 2 x 512 against 256 tuples. */
const SYNS_PER_WORKER = 512;
const FIRST_CLIENT_PORT = 30000;
/* Rounds are repeated (each on a fresh load) until this many had both CPUs
 * allocating at once, within the limits below. */
const CONTENDED_ROUNDS = 30;
const MIN_CONTENDED_ROUNDS = 5;
const MAX_ROUNDS = 100;
const TIME_BUDGET_MS = 12_000;
/* A round counts as contended when the winner changed CPU this often. */
const MIN_HAND_OVERS = 16;
/* No take-over of a busy tuple, ever: every tuple is handed out once. */
const NEVER_REUSE = (1n << 64n) - 1n;
const MESSAGE_TIMEOUT_MS = 10_000;

const MAP_SIZES = { ...TEST_MAP_SIZES, lb_ct: 4096, lb_snat: 4096 };

const parallelism = os.availableParallelism();
const skip = parallelism < 2 ? `needs 2 CPUs to run two threads at once, this process may use ${parallelism}` : false;

/** The next message of a worker; rejects on its 'error' reports, crashes, exit or silence. */
function nextMessage<T>(worker: Worker, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: no answer within ${MESSAGE_TIMEOUT_MS} ms`));
    }, MESSAGE_TIMEOUT_MS);
    const onMessage = (msg: { type: string; message?: string }): void => {
      cleanup();
      if (msg.type === 'error') reject(new Error(`${what}: ${msg.message}`));
      else resolve(msg as T);
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new Error(`${what}: worker exited with code ${code}`));
    };
    function cleanup(): void {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    }
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

function tupleId(proto: number, snatIp: string, snatPort: number, backendIp: string, backendPort: number): string {
  return `${proto}/${snatIp}:${snatPort}>${backendIp}:${backendPort}`;
}

function flowId(k: LbFlowKey): string {
  return `${k.proto}/${k.srcIp}:${k.srcPort}>${k.dstIp}:${k.dstPort}`;
}

function clientKey(clientIp: string, clientPort: number): LbFlowKey {
  return { srcIp: clientIp, dstIp: VIP, srcPort: clientPort, dstPort: VPORT, proto: IPPROTO_TCP };
}

describe('SNAT allocation from two CPUs at once', { skip }, () => {
  const workers: Worker[] = [];

  before(async () => {
    for (const [i, cpu] of CPUS.entries()) {
      const init: WorkerInit = { cpu, clientIp: CLIENTS[i]!.ip, clientMac: CLIENTS[i]!.mac };
      workers.push(new Worker(WORKER_URL, { workerData: init }));
    }
    const ready = await Promise.all(
      workers.map((w, i) => nextMessage<{ cpu: number }>(w, `worker on CPU ${CPUS[i]} starting`)),
    );
    assert.deepEqual(
      ready.map((r) => r.cpu),
      [...CPUS],
      'workers are not running on the CPUs they were pinned to',
    );
  });

  after(async () => {
    await Promise.all(workers.map((w) => w.terminate()));
  });

  it('never yields one tuple twice and hands out the whole pool exactly once', async (t) => {
    const deadline = Date.now() + TIME_BUDGET_MS;
    let rounds = 0;
    let contended = 0;
    while (contended < CONTENDED_ROUNDS && rounds < MAX_ROUNDS && Date.now() < deadline) {
      rounds++;
      const reports = await runRound(workers, rounds);
      const c = contention(reports.reports);
      if (c.overlapNs > 0n && c.switches >= MIN_HAND_OVERS) contended++;
      t.diagnostic(
        `round ${rounds}: tuples won per CPU ${c.txPerWorker.join(' + ')}, both CPUs allocating for ` +
          `${(Number(c.overlapNs) / 1000).toFixed(0)} µs, ${c.switches} hand-overs between CPUs in the TX order`,
      );
    }
    t.diagnostic(`${contended} of ${rounds} rounds had both CPUs allocating at the same time`);
    // Every round above was checked in full. A round in which the scheduler
    // kept one thread off its CPU until the other had emptied the pool
    // proves nothing about races: there must be enough rounds that did.
    assert.ok(
      contended >= MIN_CONTENDED_ROUNDS,
      `only ${contended} of ${rounds} rounds had the two CPUs allocating at once (need ${MIN_CONTENDED_ROUNDS}): ` +
        'is the machine too busy?',
    );
  });
});

/** One round on a fresh load: both workers fire their SYNs from a common start line; all checks run. */
async function runRound(workers: readonly Worker[], round: number): Promise<{ reports: RoundReport[] }> {
  const dp = LoadedDatapath.load(MAP_SIZES);
  try {
    dp.setSnatPool({ addrs: [SNAT_IP], portMin: PORT_MIN, portMax: PORT_MAX, reuseAfterNs: NEVER_REUSE });
    dp.addService({ id: 0, port: VPORT, backends: [RS1] });

    const barrier = new SharedArrayBuffer(4);
    // Listen before posting: no message can be missed.
    const pending = workers.map((w, i) => nextMessage<RoundReport>(w, `round ${round}, CPU ${CPUS[i]}`));
    for (const w of workers) {
      const req: RoundRequest = {
        type: 'round',
        progFd: dp.progFd,
        count: SYNS_PER_WORKER,
        firstPort: FIRST_CLIENT_PORT,
        vport: VPORT,
        barrier,
        parties: workers.length,
      };
      w.postMessage(req);
    }
    const reports = await Promise.all(pending);
    checkRound(dp, round, reports);
    return { reports };
  } finally {
    dp.close();
  }
}

/**
 * How much the two threads really raced: tuples each won, how long both were
 * allocating at once (from the later start to the earlier last TX), and how
 * often the winner changed from one CPU to the other along the time line.
 */
function contention(reports: readonly RoundReport[]): { txPerWorker: number[]; overlapNs: bigint; switches: number } {
  const txs = reports.map((r) => r.outcomes.filter((o) => o.verdict === 'TX').map((o) => BigInt(o.atNs)));
  const from = reports.map((r) => BigInt(r.startNs)).reduce((a, b) => (a > b ? a : b));
  const to = txs.map((l) => l[l.length - 1] ?? 0n).reduce((a, b) => (a < b ? a : b));
  const timeline = txs.flatMap((l, w) => l.map((at) => ({ at, w }))).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  let switches = 0;
  for (let i = 1; i < timeline.length; i++) if (timeline[i]!.w !== timeline[i - 1]!.w) switches++;
  return { txPerWorker: txs.map((l) => l.length), overlapNs: to > from ? to - from : 0n, switches };
}

/** All assertions of one round. */
function checkRound(dp: LoadedDatapath, round: number, reports: readonly RoundReport[]): void {
  const ctx = `round ${round}`;

  // The threads stayed on the CPUs they were pinned to.
  for (const [i, r] of reports.entries()) {
    assert.equal(r.cpu, CPUS[i]);
    assert.equal(r.cpuBefore, r.cpu, `${ctx}: worker for CPU ${r.cpu} started its burst on CPU ${r.cpuBefore}`);
    assert.equal(r.cpuAfter, r.cpu, `${ctx}: worker for CPU ${r.cpu} ended its burst on CPU ${r.cpuAfter}`);
    assert.equal(r.outcomes.length, SYNS_PER_WORKER);
  }

  // What the packets say: distinct tuples, all from the pool, towards the one backend.
  const txByTuple = new Map<string, { cpu: number; o: SynOutcome }>();
  let drops = 0;
  for (const [i, r] of reports.entries()) {
    for (const o of r.outcomes) {
      assert.ok(o.verdict === 'TX' || o.verdict === 'DROP', `${ctx}: SYN from port ${o.clientPort} got ${o.verdict}`);
      if (o.verdict === 'DROP') {
        drops++;
        continue;
      }
      assert.equal(o.snatIp, SNAT_IP, `${ctx}: SNAT address`);
      assert.ok(
        o.snatPort !== undefined && o.snatPort >= PORT_MIN && o.snatPort <= PORT_MAX,
        `${ctx}: SNAT port ${o.snatPort} outside the pool ${PORT_MIN}-${PORT_MAX}`,
      );
      assert.equal(o.backendIp, RS1.ip, `${ctx}: backend address`);
      assert.equal(o.backendPort, RS1.port, `${ctx}: backend port`);
      const id = tupleId(IPPROTO_TCP, o.snatIp!, o.snatPort!, o.backendIp!, o.backendPort!);
      const prev = txByTuple.get(id);
      assert.ok(
        prev === undefined,
        `${ctx}: tuple ${id} handed out twice: CPU ${prev?.cpu} client port ${prev?.o.clientPort} ` +
          `and CPU ${CPUS[i]} client port ${o.clientPort}`,
      );
      txByTuple.set(id, { cpu: CPUS[i]!, o });
    }
  }
  const total = SYNS_PER_WORKER * reports.length;
  assert.ok(total > POOL_SIZE);
  assert.equal(txByTuple.size, POOL_SIZE, `${ctx}: ${txByTuple.size} SYNs got a tuple, the pool has ${POOL_SIZE}`);
  assert.equal(drops, total - POOL_SIZE, `${ctx}: drops`);
  const counters = dp.maps.counters();
  assert.equal(counters.drop_snat_exhausted, BigInt(total - POOL_SIZE), `${ctx}: drop_snat_exhausted`);
  assert.equal(counters.drop_conntrack_full, 0n, `${ctx}: drop_conntrack_full`);

  // What the maps say: conntrack's tuples pairwise distinct, one lb_snat
  // entry per flow, and each owned by the flow that the packet went out for.
  const conns = new Map<string, { tuple: string; snatPort: number; state: number }>();
  const ctTuples = new Set<string>();
  for (const { key, conn } of dp.maps.conns()) {
    const tuple = tupleId(conn.proto, conn.snatIp, conn.snatPort, conn.backendIp, conn.backendPort);
    assert.ok(!ctTuples.has(tuple), `${ctx}: two conntrack entries share tuple ${tuple}`);
    ctTuples.add(tuple);
    conns.set(flowId(key), { tuple, snatPort: conn.snatPort, state: conn.state });
  }
  assert.equal(conns.size, POOL_SIZE, `${ctx}: conntrack entries`);

  const owners = new Set<string>();
  let snatEntries = 0;
  for (const { reply, owner } of dp.maps.snatTuples()) {
    snatEntries++;
    const tuple = tupleId(reply.proto, reply.dstIp, reply.dstPort, reply.srcIp, reply.srcPort);
    const conn = conns.get(flowId(owner));
    assert.ok(conn, `${ctx}: lb_snat tuple ${tuple} is owned by ${flowId(owner)}, which has no conntrack entry`);
    assert.equal(conn.tuple, tuple, `${ctx}: lb_snat tuple ${tuple}'s owner holds ${conn.tuple}`);
    assert.equal(conn.state & LbConnState.RELEASED, 0, `${ctx}: owner of ${tuple} has released it`);
    assert.ok(!owners.has(flowId(owner)), `${ctx}: ${flowId(owner)} owns two tuples`);
    owners.add(flowId(owner));
  }
  assert.equal(snatEntries, conns.size, `${ctx}: lb_snat entries vs conntrack entries`);

  for (const [i, r] of reports.entries()) {
    const clientIp = CLIENTS[i]!.ip;
    for (const o of r.outcomes) {
      const conn = conns.get(flowId(clientKey(clientIp, o.clientPort)));
      if (o.verdict === 'TX') {
        assert.ok(conn, `${ctx}: ${clientIp}:${o.clientPort} was sent on but has no conntrack entry`);
        assert.equal(conn.snatPort, o.snatPort, `${ctx}: ${clientIp}:${o.clientPort}'s packet and flow disagree`);
      } else {
        assert.equal(conn, undefined, `${ctx}: ${clientIp}:${o.clientPort} was dropped but has a conntrack entry`);
      }
    }
  }
}
