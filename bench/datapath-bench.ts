/*
 * Datapath cost per packet, measured with BPF_PROG_TEST_RUN (run as root):
 *
 *   npm run build && npm run bench              # print the table
 *   npm run build && npm run bench -- --write   # and regenerate BENCHMARKS.md
 *
 * Every figure is the kernel's own per-run duration of single runs
 * (repeat = 1), averaged over many calls. repeat > 1 would reuse one buffer,
 * so from the second run the datapath would see its own rewritten packet
 * (PLATFORM.md): with repeat = 1 the kernel copies a fresh packet in for
 * every call. The empty program (XDP_PASS) and the floor program (swap MACs,
 * XDP_TX) run in the same process, interleaved with the datapath cases, so
 * the ratios compare like with like. Every call's verdict is checked, and one
 * output packet per case and round is checked field by field.
 *
 * Options: --write, --calls N (timed calls per case and round, default
 * 200000), --warmup N (untimed calls before them, default 20000), --rounds N
 * (default 5), --cpu N (pin the calling thread, default the last CPU; -1: do
 * not pin), --out PATH (default BENCHMARKS.md at the repository root).
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machine, machineTable, type Machine } from './support/machine.js';
import { writeBenchmarkSection } from './support/benchmarks-file.js';
import { BpfObject } from '../src/kernel/bpf-object.js';
import { pinCurrentThreadToCpu } from '../src/kernel/cpu-affinity.js';
import { testRun } from '../src/kernel/prog-test-run.js';
import {
  CLIENT,
  LB_MAC,
  LoadedDatapath,
  OBJECT_PATH,
  RS1,
  RS2,
  SNAT_IP,
  TEST_MAP_SIZES,
  VIP,
  XDP_VERDICTS,
  type TestBackend,
} from '../test/support/datapath-fixture.js';
import { buildFrame, describeFrame, numberToIpv4, parseFrame, type FrameSpec, type TcpFlags } from '../test/support/packet.js';
import { verifyChecksums } from '../test/support/checksum.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BASELINES_PATH = fileURLToPath(new URL('../../build/bpf/bench_baselines.bpf.o', import.meta.url));

const XDP_PASS = 2;
const XDP_TX = 3;

/* ------------------------------------------------------------------ scenario */

/** 14 (Ethernet) + 20 (IPv4) + 20 (TCP) + payload; no FCS. */
const SMALL_FRAME = 64;
const LARGE_FRAME = 1514;
const HEADERS = 14 + 20 + 20;

const VPORT = 80;
const CLIENT_PORT = 40000;
/** 16 SNAT addresses × 64,512 ports × 2 backends: new flows never come near exhausting the pool. */
const SNAT_ADDRS = [SNAT_IP, ...Array.from({ length: 15 }, (_, i) => `198.18.3.${i + 1}`)];
const SNAT_PORT_MIN = 1024;
const SNAT_PORT_MAX = 65535;
const BACKENDS: readonly TestBackend[] = [RS1, RS2];
/** Addressed to no VIP and no SNAT address: the host's. */
const NOT_OURS_IP = '198.18.0.99';
/*
 * New-flow clients in 100.64.0.0/10: address and port both change on every
 * call, and since the two moduli are coprime (65521 is prime) the pair does
 * not repeat within 65521 × 64512 flows.
 */
const NEW_CLIENT_BASE = 0x64400000;
const NEW_CLIENT_ADDRS = 65521;
const NEW_CLIENT_PORTS = 64512;
const NEW_CLIENT_MAC = '02:00:5e:00:03:01';

/** The production defaults for the flow tables (lb_consts.h), small ones for the rest. */
const MAP_SIZES: Record<string, number> = { ...TEST_MAP_SIZES, lb_ct: 1 << 20, lb_snat: 1 << 20 };

const SYN: Partial<TcpFlags> = { syn: true };
const SYNACK: Partial<TcpFlags> = { syn: true, ack: true };
const ACK: Partial<TcpFlags> = { ack: true };
const DATA: Partial<TcpFlags> = { ack: true, psh: true };

function fromClient(size: number, flags: Partial<TcpFlags>, extra: Partial<FrameSpec> = {}): Buffer {
  return exactly(
    size,
    buildFrame({
      srcMac: CLIENT.mac,
      dstMac: LB_MAC,
      srcIp: CLIENT.ip,
      dstIp: VIP,
      proto: 'tcp',
      srcPort: CLIENT_PORT,
      dstPort: VPORT,
      tcpFlags: flags,
      seq: 1000,
      ack: 5000,
      payload: size - HEADERS,
      ...extra,
    }),
  );
}

function exactly(size: number, frame: Buffer): Buffer {
  if (frame.length !== size) throw new Error(`built a ${frame.length}-byte frame, wanted ${size}`);
  return frame;
}

function setUpDatapath(dp: LoadedDatapath): void {
  dp.setSnatPool({ addrs: SNAT_ADDRS, portMin: SNAT_PORT_MIN, portMax: SNAT_PORT_MAX });
  dp.addService({ id: 0, port: VPORT, backends: BACKENDS });
}

function expectVerdict(dp: LoadedDatapath, frame: Buffer, verdict: string, what: string): Buffer {
  const res = dp.run(frame);
  if (res.verdict !== verdict) {
    throw new Error(`${what}: verdict ${res.verdict}, expected ${verdict}\n  input: ${describeFrame(frame)}\n  counters: ${counterLine(dp)}`);
  }
  return res.out;
}

function counterLine(dp: LoadedDatapath): string {
  return Object.entries(dp.maps.counters())
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

interface Flow {
  backend: TestBackend;
  snatIp: string;
  snatPort: number;
}

/** SYN, SYN+ACK from the backend, ACK: one established flow from CLIENT:CLIENT_PORT. */
function handshake(dp: LoadedDatapath): Flow {
  expectVerdict(dp, fromClient(SMALL_FRAME, SYN), 'TX', 'handshake SYN');
  const conn = dp.maps.conn({ srcIp: CLIENT.ip, dstIp: VIP, srcPort: CLIENT_PORT, dstPort: VPORT, proto: 6 });
  if (!conn) throw new Error('handshake: no conntrack entry after the SYN');
  const backend = BACKENDS.find((be) => be.ip === conn.backendIp);
  if (!backend) throw new Error(`handshake: flow went to unknown backend ${conn.backendIp}`);
  const flow = { backend, snatIp: conn.snatIp, snatPort: conn.snatPort };
  expectVerdict(dp, fromBackend(flow, SMALL_FRAME, SYNACK), 'TX', 'handshake SYN+ACK');
  expectVerdict(dp, fromClient(SMALL_FRAME, ACK), 'TX', 'handshake ACK');
  return flow;
}

function fromBackend(flow: Flow, size: number, flags: Partial<TcpFlags>): Buffer {
  return exactly(
    size,
    buildFrame({
      srcMac: flow.backend.mac,
      dstMac: LB_MAC,
      srcIp: flow.backend.ip,
      dstIp: flow.snatIp,
      proto: 'tcp',
      srcPort: flow.backend.port,
      dstPort: flow.snatPort,
      tcpFlags: flags,
      seq: 5000,
      ack: 1000,
      payload: size - HEADERS,
    }),
  );
}

/** The n-th new flow ever: a SYN from a client address and port no earlier call used. */
function newFlowSyn(n: number): Buffer {
  return exactly(
    SMALL_FRAME,
    buildFrame({
      srcMac: NEW_CLIENT_MAC,
      dstMac: LB_MAC,
      srcIp: numberToIpv4(NEW_CLIENT_BASE + (n % NEW_CLIENT_ADDRS)),
      dstIp: VIP,
      proto: 'tcp',
      srcPort: 1024 + (n % NEW_CLIENT_PORTS),
      dstPort: VPORT,
      tcpFlags: SYN,
      seq: 1000,
      payload: SMALL_FRAME - HEADERS,
    }),
  );
}

/* ------------------------------------------------------------------ output checks */

function check(cond: boolean, what: string, out: Buffer): void {
  if (!cond) throw new Error(`${what}\n  output: ${describeFrame(out)}`);
}

function checkChecksums(out: Buffer, what: string): void {
  const sums = verifyChecksums(out);
  check(sums.ipOk && sums.l4Ok, `${what}: checksums fail a full recomputation (${sums.details})`, out);
}

function checkTowardsBackend(flow: Flow, size: number) {
  return (out: Buffer): void => {
    const p = parseFrame(out);
    const what = `established ${size} B`;
    check(out.length === size, `${what}: output is ${out.length} bytes`, out);
    check(p.dstMac === flow.backend.mac && p.srcMac === LB_MAC, `${what}: wrong MACs`, out);
    check(p.srcIp === flow.snatIp && p.srcPort === flow.snatPort, `${what}: wrong SNAT source`, out);
    check(p.dstIp === flow.backend.ip && p.dstPort === flow.backend.port, `${what}: wrong backend`, out);
    checkChecksums(out, what);
  };
}

function checkTowardsClient(out: Buffer): void {
  const p = parseFrame(out);
  check(p.dstMac === CLIENT.mac && p.srcMac === LB_MAC, 'reply: wrong MACs', out);
  check(p.srcIp === VIP && p.srcPort === VPORT, 'reply: source is not the VIP', out);
  check(p.dstIp === CLIENT.ip && p.dstPort === CLIENT_PORT, 'reply: not sent to the client', out);
  checkChecksums(out, 'reply');
}

function checkNewFlow(out: Buffer, input: Buffer): void {
  const p = parseFrame(out);
  const q = parseFrame(input);
  const backend = BACKENDS.find((be) => be.ip === p.dstIp);
  check(backend !== undefined && p.dstPort === backend.port && p.dstMac === backend.mac, 'new flow: not sent to a backend', out);
  check(SNAT_ADDRS.includes(p.srcIp), 'new flow: source is not a SNAT address', out);
  check(p.tcpFlags.syn && !p.tcpFlags.ack && p.seq === q.seq, 'new flow: TCP header changed', out);
  checkChecksums(out, 'new flow');
}

function checkUnchanged(what: string) {
  return (out: Buffer, input: Buffer): void => check(out.equals(input), `${what}: packet was modified`, out);
}

function checkMacsSwapped(out: Buffer, input: Buffer): void {
  const swapped = Buffer.concat([input.subarray(6, 12), input.subarray(0, 6), input.subarray(12)]);
  check(out.equals(swapped), 'floor: MACs not swapped', out);
}

/* ------------------------------------------------------------------ measuring */

interface Case {
  id: string;
  label: string;
  frameBytes: number;
  verdict: number;
  /** Called before each round's calls of this case: returns the program and the frame of call i. */
  prepare: (round: number, calls: number) => { progFd: number; frame: (i: number) => Buffer; after?: () => void };
  checkOut: (out: Buffer, input: Buffer) => void;
}

interface Sample {
  kernelNs: number;
  wallNs: number;
}

/** Calls from..from+count-1; each call's duration goes to @perCall[at + k] when given. */
function runCalls(
  c: Case,
  progFd: number,
  frame: (i: number) => Buffer,
  from: number,
  count: number,
  perCall?: { durations: Uint32Array; at: number },
): Sample {
  let kernel = 0;
  const t0 = process.hrtime.bigint();
  for (let i = from; i < from + count; i++) {
    const res = testRun(progFd, frame(i));
    if (res.retval !== c.verdict) {
      throw new Error(
        `${c.label}: call ${i} returned XDP_${XDP_VERDICTS[res.retval] ?? res.retval}, expected XDP_${XDP_VERDICTS[c.verdict]}\n` +
          `  input:  ${describeFrame(frame(i))}\n  output: ${describeFrame(res.dataOut)}`,
      );
    }
    kernel += res.durationNs;
    if (perCall) perCall.durations[perCall.at + i - from] = res.durationNs;
  }
  const wall = Number(process.hrtime.bigint() - t0);
  return { kernelNs: kernel / count, wallNs: wall / count };
}

/** The p-quantile (0..1) of sorted values, nearest rank. */
function quantile(sorted: Uint32Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/* ------------------------------------------------------------------ main */

interface Row {
  c: Case;
  rounds: Sample[];
  kernel: number;
  wall: number;
  p50: number;
  p99: number;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      write: { type: 'boolean', default: false },
      calls: { type: 'string', default: '200000' },
      warmup: { type: 'string', default: '20000' },
      rounds: { type: 'string', default: '5' },
      cpu: { type: 'string' },
      out: { type: 'string', default: `${ROOT}BENCHMARKS.md` },
    },
  });
  const calls = positive(values.calls, 'calls');
  const warmup = positive(values.warmup, 'warmup', true);
  const rounds = positive(values.rounds, 'rounds');
  const cpu = values.cpu === undefined ? os.cpus().length - 1 : Number(values.cpu);

  if (process.getuid?.() !== 0) throw new Error('BPF_PROG_TEST_RUN needs root: run `npm run bench` as root');
  for (const p of [OBJECT_PATH, BASELINES_PATH]) {
    if (!existsSync(p)) throw new Error(`${p} is missing: run \`npm run build\` first`);
  }
  const host = machine(); // before pinning: nproc counts the CPUs this thread may use
  if (cpu >= 0) pinCurrentThreadToCpu(cpu);

  const started = process.hrtime.bigint();
  const baselines = BpfObject.open(BASELINES_PATH);
  baselines.load();
  const emptyFd = baselines.program('bench_empty').fd;
  const floorFd = baselines.program('bench_floor').fd;

  // One datapath with one established flow serves every case but the new flow.
  const steady = LoadedDatapath.load(MAP_SIZES);
  setUpDatapath(steady);
  const flow = handshake(steady);
  let fresh: LoadedDatapath | undefined;

  const small = fromClient(SMALL_FRAME, DATA);
  const large = fromClient(LARGE_FRAME, DATA);
  const reply = fromBackend(flow, SMALL_FRAME, DATA);
  const notOurs = fromClient(SMALL_FRAME, DATA, { dstIp: NOT_OURS_IP });
  const fixed = (fd: number, frame: Buffer) => () => ({ progFd: fd, frame: () => frame });
  let newFlowsMade = 0;

  const cases: Case[] = [
    {
      id: 'empty',
      label: 'empty program (XDP_PASS)',
      frameBytes: SMALL_FRAME,
      verdict: XDP_PASS,
      prepare: fixed(emptyFd, small),
      checkOut: checkUnchanged('empty'),
    },
    {
      id: 'floor',
      label: 'floor: swap MACs, XDP_TX',
      frameBytes: SMALL_FRAME,
      verdict: XDP_TX,
      prepare: fixed(floorFd, small),
      checkOut: checkMacsSwapped,
    },
    {
      id: 'est64',
      label: 'established flow, client → backend',
      frameBytes: SMALL_FRAME,
      verdict: XDP_TX,
      prepare: fixed(steady.progFd, small),
      checkOut: checkTowardsBackend(flow, SMALL_FRAME),
    },
    {
      id: 'est1500',
      label: 'established flow, client → backend',
      frameBytes: LARGE_FRAME,
      verdict: XDP_TX,
      prepare: fixed(steady.progFd, large),
      checkOut: checkTowardsBackend(flow, LARGE_FRAME),
    },
    {
      id: 'reply',
      label: 'reply, backend → client',
      frameBytes: SMALL_FRAME,
      verdict: XDP_TX,
      prepare: fixed(steady.progFd, reply),
      checkOut: checkTowardsClient,
    },
    {
      id: 'new',
      label: 'new TCP flow (SYN, distinct tuple each call)',
      frameBytes: SMALL_FRAME,
      verdict: XDP_TX,
      // A freshly loaded datapath per round: every round inserts into tables
      // that start empty, so rounds are comparable and nothing fills up.
      prepare: (_round, total) => {
        fresh?.close();
        fresh = LoadedDatapath.load(MAP_SIZES);
        setUpDatapath(fresh);
        const first = newFlowsMade;
        const frames = Array.from({ length: total }, (_, i) => newFlowSyn(first + i));
        newFlowsMade += total;
        const dp = fresh;
        return {
          progFd: dp.progFd,
          frame: (i) => frames[i]!,
          after: () => {
            const made = dp.maps.serviceTraffic(0).newFlows;
            const drops = Object.entries(dp.maps.counters()).filter(([, v]) => v !== 0n);
            if (made !== BigInt(total) || drops.length > 0) {
              throw new Error(`new flow: ${made} flows created for ${total} SYNs; counters: ${counterLine(dp)}`);
            }
          },
        };
      },
      checkOut: checkNewFlow,
    },
    {
      id: 'notours',
      label: 'packet not ours (not a VIP)',
      frameBytes: SMALL_FRAME,
      verdict: XDP_PASS,
      prepare: fixed(steady.progFd, notOurs),
      checkOut: checkUnchanged('not ours'),
    },
  ];

  const samples = new Map<string, Sample[]>(cases.map((c) => [c.id, []]));
  const durations = new Map<string, Uint32Array>(cases.map((c) => [c.id, new Uint32Array(rounds * calls)]));
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const { progFd, frame, after } = c.prepare(r, warmup + calls + 1);
      // Call 0, outside the timing, has its output checked field by field.
      const first = testRun(progFd, frame(0));
      if (first.retval !== c.verdict) {
        throw new Error(`${c.label}: verdict XDP_${XDP_VERDICTS[first.retval] ?? first.retval}\n  input: ${describeFrame(frame(0))}`);
      }
      c.checkOut(first.dataOut, frame(0));
      runCalls(c, progFd, frame, 1, warmup);
      const perCall = { durations: durations.get(c.id)!, at: r * calls };
      samples.get(c.id)!.push(runCalls(c, progFd, frame, 1 + warmup, calls, perCall));
      after?.();
    }
    process.stderr.write(`round ${r + 1}/${rounds} done\n`);
  }
  const steadyDrops = Object.entries(steady.maps.counters()).filter(([, v]) => v !== 0n);
  if (steadyDrops.length > 0) throw new Error(`datapath counted drops/passes: ${counterLine(steady)}`);
  fresh?.close();
  steady.close();
  baselines.close();
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;

  const rows: Row[] = cases.map((c) => {
    const s = samples.get(c.id)!;
    const sorted = durations.get(c.id)!.sort();
    return {
      c,
      rounds: s,
      kernel: median(s.map((x) => x.kernelNs)),
      wall: median(s.map((x) => x.wallNs)),
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
    };
  });
  const md = render(rows, { calls, warmup, rounds, cpu, elapsedS, machine: host });
  process.stdout.write(md.table + '\n' + md.targets + '\n');
  if (values.write) {
    writeBenchmarkSection(values.out, 'datapath-bench', md.document);
    process.stderr.write(`wrote ${values.out}\n`);
  }
}

function positive(s: string, name: string, zeroOk = false): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < (zeroOk ? 0 : 1)) throw new Error(`--${name} must be an integer ≥ ${zeroOk ? 0 : 1}, got ${s}`);
  return n;
}

/* ------------------------------------------------------------------ report */

interface RunInfo {
  calls: number;
  warmup: number;
  rounds: number;
  cpu: number;
  elapsedS: number;
  machine: Machine;
}

const f1 = (x: number): string => x.toFixed(1);
const f2 = (x: number): string => x.toFixed(2);

function render(rows: Row[], run: RunInfo): { table: string; targets: string; document: string } {
  const by = (id: string): Row => rows.find((r) => r.c.id === id)!;
  const empty = by('empty').kernel;
  const floor = by('floor').kernel;
  const ratio = (id: string): number => by(id).kernel / floor;

  const table = [
    '| case | frame | verdict | gross ns/pkt | net of empty | × floor (gross) | rounds min–max | per call p50 / p99 | wall µs/call |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => {
      const ks = r.rounds.map((s) => s.kernelNs);
      return (
        `| ${r.c.label} | ${r.c.frameBytes} B | XDP_${XDP_VERDICTS[r.c.verdict]} | ${f1(r.kernel)} | ${f1(r.kernel - empty)} | ` +
        `${f2(r.kernel / floor)} | ${f1(Math.min(...ks))}–${f1(Math.max(...ks))} | ${r.p50} / ${r.p99} | ${f2(r.wall / 1000)} |`
      );
    }),
  ].join('\n');

  const sizeRatio = by('est1500').kernel / by('est64').kernel;
  const sizeRatioNet = (by('est1500').kernel - empty) / (by('est64').kernel - empty);
  const verdict = (ok: boolean): string => (ok ? 'met' : '**not met**');
  const targets = [
    '| target | figure | result | original single-VIP design |',
    '|---|---:|---|---:|',
    `| established 64 B ≤ 2× floor (stretch 1.5×) | ${f2(ratio('est64'))}× | ${verdict(ratio('est64') <= 2)}, stretch ${verdict(ratio('est64') <= 1.5)} | 1.9× |`,
    `| established 1514 B ≤ 2× floor (stretch 1.5×) | ${f2(ratio('est1500'))}× | ${verdict(ratio('est1500') <= 2)}, stretch ${verdict(ratio('est1500') <= 1.5)} | 13.7× |`,
    `| established 1514 B / 64 B ≤ 1.1 | ${f2(sizeRatio)} (net of empty: ${f2(sizeRatioNet)}) | ${verdict(sizeRatio <= 1.1)} | ≈ 7 |`,
    `| new flow ≤ 5× floor | ${f2(ratio('new'))}× | ${verdict(ratio('new') <= 5)} | 5.8× |`,
  ].join('\n');

  const m = run.machine;
  const document = `## Datapath cost per packet

Generated by \`npm run bench -- --write\` (bench/datapath-bench.ts).

${table}

### Targets

${targets}

The reply direction has no target of its own; it is ${f2(ratio('reply'))}× the floor.

### How to read

"Gross" is the kernel's own measure of one program run (\`duration\` of \`BPF_PROG_TEST_RUN\` with
repeat = 1), averaged over ${run.calls.toLocaleString('en-US')} calls, then the median of ${run.rounds} rounds; "rounds min–max" is
the spread of the round averages, the noise to allow for when comparing two runs. Part of every
gross figure is the kernel's clock reads around the run, not the program: that is all the empty
program measures (${f1(empty)} ns in this run; PLATFORM.md's reference machine shows ~37 ns, of which
~31 ns is timer), so absolute figures only compare within one run and across machines only the
ratios do. "Net of empty" (gross minus the empty program's gross) is closer to the program's own work;
the ratios to the floor are taken on gross figures, as the targets are stated. "Per call p50 / p99"
pools every timed call of every round: a gross average well above the p50 means rare slow calls
(allocations, interrupts) carry much of the cost. The packet is copied into a warm buffer before the
clock starts and the established flow is the only one in its table, so these are cache-hot costs of
the program alone: no driver, no DMA, no misses on a large conntrack table (the new-flow case does
fill its tables, up to ${(run.calls + run.warmup + 1).toLocaleString('en-US')} flows per round). "Wall µs/call" is what each call costs
from Node (koffi, the syscall, copying the packet in and out) and only says how long the bench
takes; it is not a datapath figure.

### Method

- Programs: \`lb_xdp\` from \`build/bpf/xdp4slb.bpf.o\` (sha256 ${m.objectSha}…), and \`bench_empty\` (returns
  XDP_PASS) and \`bench_floor\` (swaps the MACs, returns XDP_TX) from \`build/bpf/bench_baselines.bpf.o\`,
  all loaded once (not attached) and run with \`bpf_prog_test_run_opts\` (src/kernel/prog-test-run.ts).
- Single runs only (repeat = 1): the kernel copies a fresh packet in for every call, so NAT paths
  never see their own rewritten output (PLATFORM.md, "Measuring the datapath").
- Each round runs every case in the table's order: ${run.warmup.toLocaleString('en-US')} untimed warm-up calls, then
  ${run.calls.toLocaleString('en-US')} timed calls; ${run.rounds} rounds. ${run.cpu >= 0 ? `The calling thread is pinned to CPU ${run.cpu}.` : 'The calling thread is not pinned.'}
  The verdict of every call is checked (a wrong one aborts the run), and one output per case and
  round is checked field by field with checksums recomputed from scratch.
- Scenario: one TCP service (VIP ${VIP}:${VPORT}, round robin over two backends with resolved MACs), a SNAT pool of
  ${SNAT_ADDRS.length} addresses × ports ${SNAT_PORT_MIN}–${SNAT_PORT_MAX}, \`lb_ct\` and \`lb_snat\` at their default 1,048,576 entries.
- Established flow: one handshake (SYN, the backend's SYN+ACK, ACK), then ACK+PSH data packets of a
  64-byte frame (10 B payload) and a 1514-byte frame (a 1500-byte IP packet); no FCS. Reply: the
  backend's 64-byte ACK+PSH data packet to the flow's SNAT tuple.
- New flow: 64-byte SYNs (10 B payload), each from a client address and port no earlier call used,
  so every call creates a conntrack entry and allocates a SNAT tuple (checked: the service's new-flow
  counter equals the number of SYNs and no drop counter moved). The datapath is reloaded before each
  round so every round starts from empty tables.
- Not ours: the 64-byte data packet sent to ${NOT_OURS_IP}, which is neither a VIP nor a SNAT address.

Reproduce (as root):

\`\`\`sh
npm run build && npm run bench              # print the tables
npm run build && npm run bench -- --write   # regenerate its section of BENCHMARKS.md
\`\`\`

### Machine

${machineTable(m, run.elapsedS)}
`;
  return { table, targets, document };
}

try {
  main();
} catch (err) {
  process.stderr.write(`datapath-bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
}
