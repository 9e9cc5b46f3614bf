/*
 * Worker thread of snat-concurrency.test.ts: pinned to one CPU, it fires
 * SYNs through BPF_PROG_TEST_RUN on a program the main thread loaded (fds are
 * process-wide) and reports what each one turned into. XDP test runs execute
 * on the calling CPU, so two workers pinned to two CPUs run the datapath's
 * SNAT allocation truly in parallel.
 *
 * Protocol (parentPort messages):
 *   worker -> main  { type: 'ready', cpu }            after pinning
 *   main -> worker  RoundRequest                     one burst of SYNs
 *   worker -> main  RoundReport | { type: 'error' }
 *   main -> worker  { type: 'exit' }
 */
import koffi from 'koffi';
import { parentPort, workerData } from 'node:worker_threads';
import { pinCurrentThreadToCpu } from '../../src/kernel/cpu-affinity.js';
import { testRun } from '../../src/kernel/prog-test-run.js';
import { LB_MAC, VIP, XDP_VERDICTS } from '../support/datapath-fixture.js';
import { buildFrame, parseFrame } from '../support/packet.js';

export interface WorkerInit {
  cpu: number;
  clientIp: string;
  clientMac: string;
}

export interface RoundRequest {
  type: 'round';
  progFd: number;
  /** Number of SYNs, from client ports firstPort .. firstPort + count - 1. */
  count: number;
  firstPort: number;
  vport: number;
  /** Int32Array(1) over a SharedArrayBuffer: arrivals at the start line. */
  barrier: SharedArrayBuffer;
  parties: number;
}

export interface SynOutcome {
  clientPort: number;
  verdict: string;
  /** Set for TX: the rewritten frame's source (SNAT) and destination (backend). */
  snatIp?: string;
  snatPort?: number;
  backendIp?: string;
  backendPort?: number;
  /** process.hrtime.bigint() (CLOCK_MONOTONIC, shared by all threads) after the run, as a string. */
  atNs: string;
}

export interface RoundReport {
  type: 'result';
  cpu: number;
  /** CPU the thread ran on just before the first and after the last SYN. */
  cpuBefore: number;
  cpuAfter: number;
  startNs: string;
  endNs: string;
  outcomes: SynOutcome[];
}

const BARRIER_TIMEOUT_NS = 5_000_000_000n;
/* Unregistered destination: the datapath passes it untouched (warm-up only). */
const WARMUP_DST = '198.18.2.99';
const WARMUP_RUNS = 64;

const libc = koffi.load('libc.so.6');
const schedGetcpu = libc.func('int sched_getcpu(void)') as () => number;

function spinUntilAll(barrier: Int32Array, parties: number): void {
  Atomics.add(barrier, 0, 1);
  const deadline = process.hrtime.bigint() + BARRIER_TIMEOUT_NS;
  let spins = 0;
  // Spin rather than Atomics.wait: a futex wake-up costs tens of µs, long
  // enough for the first thread to take a good part of the pool alone.
  while (Atomics.load(barrier, 0) < parties) {
    if ((++spins & 0x3ff) === 0 && process.hrtime.bigint() > deadline) {
      throw new Error(`barrier: only ${Atomics.load(barrier, 0)} of ${parties} threads arrived within 5 s`);
    }
  }
}

function runRound(init: WorkerInit, req: RoundRequest): RoundReport {
  const syns: Buffer[] = [];
  for (let i = 0; i < req.count; i++) {
    syns.push(
      buildFrame({
        srcMac: init.clientMac,
        dstMac: LB_MAC,
        srcIp: init.clientIp,
        dstIp: VIP,
        proto: 'tcp',
        srcPort: req.firstPort + i,
        dstPort: req.vport,
        tcpFlags: { syn: true },
      }),
    );
  }
  // Warm the koffi call path up so both threads leave the start line at full speed.
  const warm = buildFrame({
    srcMac: init.clientMac,
    dstMac: LB_MAC,
    srcIp: init.clientIp,
    dstIp: WARMUP_DST,
    proto: 'tcp',
    srcPort: 1,
    dstPort: req.vport,
    tcpFlags: { syn: true },
  });
  for (let i = 0; i < WARMUP_RUNS; i++) {
    const r = testRun(req.progFd, warm);
    if (XDP_VERDICTS[r.retval] !== 'PASS') throw new Error(`warm-up frame got verdict ${r.retval}, not PASS`);
  }

  const raw: Array<{ retval: number; out: Buffer; at: bigint }> = new Array(req.count);
  spinUntilAll(new Int32Array(req.barrier), req.parties);
  const cpuBefore = schedGetcpu();
  const start = process.hrtime.bigint();
  for (let i = 0; i < req.count; i++) {
    const r = testRun(req.progFd, syns[i]!);
    raw[i] = { retval: r.retval, out: r.dataOut, at: process.hrtime.bigint() };
  }
  const end = process.hrtime.bigint();
  const cpuAfter = schedGetcpu();

  // Parse only after the burst, to keep the burst tight.
  const outcomes = raw.map((r, i): SynOutcome => {
    const verdict = XDP_VERDICTS[r.retval] ?? `retval ${r.retval}`;
    const o: SynOutcome = { clientPort: req.firstPort + i, verdict, atNs: r.at.toString() };
    if (verdict === 'TX') {
      const p = parseFrame(r.out);
      o.snatIp = p.srcIp;
      o.snatPort = p.srcPort;
      o.backendIp = p.dstIp;
      o.backendPort = p.dstPort;
    }
    return o;
  });
  return {
    type: 'result',
    cpu: init.cpu,
    cpuBefore,
    cpuAfter,
    startNs: start.toString(),
    endNs: end.toString(),
    outcomes,
  };
}

const port = parentPort;
if (port === null) throw new Error('snat-concurrency-worker.js must run as a worker thread');
const init = workerData as WorkerInit;

try {
  pinCurrentThreadToCpu(init.cpu);
  port.postMessage({ type: 'ready', cpu: schedGetcpu() });
} catch (err) {
  port.postMessage({ type: 'error', message: `pinning to CPU ${init.cpu}: ${String(err)}` });
}

port.on('message', (msg: RoundRequest | { type: 'exit' }) => {
  if (msg.type === 'exit') {
    port.close();
    return;
  }
  try {
    port.postMessage(runRound(init, msg));
  } catch (err) {
    port.postMessage({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
