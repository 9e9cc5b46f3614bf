/*
 * What connection rate the balancer sustains, with C tools on both ends so
 * the load generator is not the limit (bench/connection-rate-bench.ts uses
 * Node's HTTP client and servers, and measures those):
 *
 *   npm run build && node dist/bench/connection-rate-wrk-bench.js [--seconds 60] [--threads 2] [--connections 64] [--workers 1] [--modes direct,native,generic] [--write]
 *
 * Topology of demo/topology.ts in namespaces (client, balancer running the
 * real agent, two servers on one bridge), nginx on both servers
 * (bench/support/nginx-server.ts), wrk on the client with
 * `Connection: close`: every request is a new TCP connection. One web
 * service, round robin over both servers, one SNAT address with the
 * default pool, timeouts and reuse_after. Modes: `direct` is wrk straight to
 * one server in the same topology (the balancer not on the path): the
 * machine's ceiling; `native` and `generic` go through the VIP with the
 * datapath attached in that XDP mode.
 *
 * Reported per run: connections/s, wrk's failures (socket errors connect /
 * read / write / timeout, answers not 2xx/3xx), the datapath's drop
 * counters, the most SNAT tuples held and unavailable (sampled), and from the kernel's
 * per-namespace TCP counters: SYNs the servers refused from TIME_WAIT
 * (PAWSTimewait), listen-queue overflows, TIME_WAITs not kept for want of
 * buckets, and the client's SYN retransmissions. The 1-minute load average
 * is checked before each run (`--max-load`, default 1.0: wait up to
 * `--wait-load` seconds for it to drop) and printed with it.
 * Needs root, iproute2, ethtool, wrk, nginx (apt-get install wrk nginx).
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import type { XdpMode } from '../demo/topology.js';
import { RS1, RS2, Rig, SNAT, VIP, baseConfig, webService } from '../test/support/traffic-rig.js';
import { BENCHMARKS_FILE, writeBenchmarkSection } from './support/benchmarks-file.js';
import { agentPid, cpuMs } from './support/agent-process.js';
import { enableBpfStats, progRunStats, xdpProgramId, type ProgRunStats } from './support/prog-run-stats.js';
import { readSnatOccupancy } from './support/snat-occupancy.js';
import { machine, machineTable } from './support/machine.js';
import { startNginx, type NginxServer } from './support/nginx-server.js';
import { counterDelta, tcpCounters, type TcpCounters } from './support/tcp-counters.js';
import { runWrk, type WrkLoad, type WrkOutcome } from './support/wrk.js';

type Run = 'direct' | XdpMode;

interface Measured {
  run: Run;
  load: number;
  wrk: WrkOutcome;
  drops: Record<string, number>;
  /** Sampled every TUPLE_SAMPLE_MS during the run, the most of one (address, backend) pair: lb_snat entries, and those a new flow could not take over. */
  peakHeld: number;
  peakUnavailable: number;
  newFlows: Record<string, number>;
  servers: Record<string, number>;
  client: Record<string, number>;
  /** The agent's CPU time over the run, as a share of one core. */
  agentCpu: number;
  /** The XDP program on the balancer over the run: packets it saw and the time it took. */
  datapath: ProgRunStats;
  /** The whole machine over the run (every core): busy share, and the part of it spent in softirq. */
  machineBusy: number;
  machineSoftirq: number;
}

const TUPLE_SAMPLE_MS = 2_000;
/* The default snat.reuse_after (the config the bench writes leaves it out). */
const REUSE_AFTER_NS = 1_000_000_000n;
const SERVER_COUNTERS = ['TcpExt.PAWSTimewait', 'TcpExt.ListenOverflows', 'TcpExt.ListenDrops', 'TcpExt.TCPTimeWaitOverflow', 'Tcp.PassiveOpens'] as const;
const CLIENT_COUNTERS = ['TcpExt.TCPSynRetrans', 'Tcp.ActiveOpens', 'Tcp.AttemptFails', 'TcpExt.TCPTimeouts'] as const;

function loadAverage(): number {
  return Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** Waits until the 1-minute load is under `max` (the machine is shared), at most `waitSeconds`; the load it starts at. */
async function quietMachine(max: number, waitSeconds: number): Promise<number> {
  const deadline = Date.now() + waitSeconds * 1_000;
  let load = loadAverage();
  while (load >= max && Date.now() < deadline) {
    process.stderr.write(`load ${load} ≥ ${max}: waiting\n`);
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    load = loadAverage();
  }
  return load;
}

function sumOver(hosts: readonly string[], counters: (host: string) => TcpCounters): TcpCounters {
  const out: TcpCounters = {};
  for (const host of hosts) for (const [k, v] of Object.entries(counters(host))) out[k] = (out[k] ?? 0) + v;
  return out;
}

async function measureMode(mode: XdpMode, runs: readonly Run[], load: Omit<WrkLoad, 'url'>, workers: number, maxLoad: number, waitLoad: number): Promise<Measured[]> {
  const rig = new Rig(mode === 'native' ? 'rkn' : 'rkg', mode, [RS1, RS2]);
  const nginx: NginxServer[] = [];
  const teardown = async (): Promise<void> => {
    for (const n of nginx) await n.stop();
    await rig.destroy();
  };
  interrupted = teardown;
  try {
    for (const s of [RS1, RS2]) nginx.push(await startNginx(rig.topo, s.host, s.name, workers, rig.dir));
    /* The defaults of everything the bench is about: pool, reuse_after, conntrack timeouts and GC interval. */
    rig.writeConfig(baseConfig(mode, [webService([RS1, RS2])], { snat: { addresses: [SNAT] }, conntrack: {} }));
    await rig.startAgent();
    await rig.waitEligible([RS1.address, RS2.address], 10_000);
    const out: Measured[] = [];
    for (const run of runs) {
      const url = run === 'direct' ? `http://${RS1.address}/` : `http://${VIP}/`;
      const servers = run === 'direct' ? [RS1.host] : [RS1.host, RS2.host];
      const avg = await quietMachine(maxLoad, waitLoad);
      const before = { servers: sumOver(servers, (h) => tcpCounters(rig.topo, h)), client: tcpCounters(rig.topo, 'client'), drops: rig.withMaps((m) => m.counters()) };
      const flowsBefore = newFlows(rig);
      const pid = agentPid(rig);
      const agentBefore = cpuMs(pid);
      const prog = xdpProgramId(rig.topo, 'lb');
      const progBefore = progRunStats(prog);
      const cpuBefore = cpuTimes();
      const peak = { held: 0, unavailable: 0 };
      const sampler = setInterval(() => {
        for (const o of Object.values(rig.withMaps((m) => readSnatOccupancy(m, REUSE_AFTER_NS)))) {
          peak.held = Math.max(peak.held, o.held);
          peak.unavailable = Math.max(peak.unavailable, o.unavailable);
        }
      }, TUPLE_SAMPLE_MS);
      const wrk = await runWrk(rig.topo, 'client', { ...load, url }).finally(() => clearInterval(sampler));
      const cpu = cpuShares(cpuBefore, cpuTimes());
      const progAfter = progRunStats(prog);
      const agentCpu = (cpuMs(pid) - agentBefore) / (wrk.seconds * 1000);
      const drops = rig.withMaps((m) => m.counters());
      const flowsAfter = newFlows(rig);
      out.push({
        run,
        load: avg,
        wrk,
        drops: Object.fromEntries(Object.entries(drops).map(([k, v]) => [k, Number(v - (before.drops[k] ?? 0n))]).filter(([, v]) => v !== 0)),
        peakHeld: peak.held,
        peakUnavailable: peak.unavailable,
        newFlows: Object.fromEntries(Object.entries(flowsAfter).map(([ip, n]) => [ip, n - (flowsBefore[ip] ?? 0)])),
        servers: counterDelta(before.servers, sumOver(servers, (h) => tcpCounters(rig.topo, h)), SERVER_COUNTERS),
        client: counterDelta(before.client, tcpCounters(rig.topo, 'client'), CLIENT_COUNTERS),
        agentCpu,
        datapath: { runs: progAfter.runs - progBefore.runs, ns: progAfter.ns - progBefore.ns },
        machineBusy: cpu.busy,
        machineSoftirq: cpu.softirq,
      });
      process.stderr.write(`${run}: ${JSON.stringify(out.at(-1))}\n`);
    }
    return out;
  } finally {
    interrupted = undefined;
    await teardown();
  }
}

/* The "cpu" line of /proc/stat: user nice system idle iowait irq softirq steal ..., in clock ticks. */
function cpuTimes(): number[] {
  return fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
}

function cpuShares(before: number[], after: number[]): { busy: number; softirq: number } {
  const d = after.map((v, i) => v - (before[i] ?? 0));
  const total = d.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = d[3]! + d[4]!;
  return { busy: (total - idle) / total, softirq: d[6]! / total };
}

function newFlows(rig: Rig): Record<string, number> {
  return rig.withMaps((maps) => {
    const flows: Record<string, number> = {};
    for (const [id, meta] of maps.backendMetas()) flows[meta.ip] = Number(maps.backendTraffic(id).newFlows);
    return flows;
  });
}

/* The default snat.ports, 10000-32767: tuples per (address, backend). */
const POOL_PORTS = 22_768;
const count = (n: number): string => n.toLocaleString('en');
const pct = (share: number): string => `${(share * 100).toFixed(0)} %`;

function failures(w: WrkOutcome): string {
  const e = w.errors;
  const total = e.connect + e.read + e.write + e.timeout + e.status;
  return total === 0 ? '**0**' : `**${count(total)}** (connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}, non-2xx ${e.status})`;
}

function datapathCost(m: Measured): string {
  const d = m.datapath;
  if (d.runs === 0) return '–';
  return `${count(Math.round(d.runs / m.wrk.seconds))}, ${Math.round(d.ns / d.runs)} ns, ${pct(d.ns / 1e9 / m.wrk.seconds)}`;
}

function row(m: Measured): string {
  const what = m.run === 'direct' ? 'direct to rs-1 (no balancer)' : `through the VIP, ${m.run} XDP`;
  const drops = Object.entries(m.drops).map(([k, v]) => `${k} ${count(v)}`).join(', ') || '0';
  const flows = m.run === 'direct' ? '–' : [RS1, RS2].map((b) => count(m.newFlows[b.address] ?? 0)).join(' / ');
  const s = m.servers;
  const c = m.client;
  return `| ${what} | ${m.load.toFixed(2)} | ${count(m.wrk.requests)} in ${m.wrk.seconds.toFixed(1)} s | **${count(Math.round(m.wrk.requests / m.wrk.seconds))}** | ${failures(m.wrk)} | ${m.wrk.latency.avg} / ${m.wrk.latency.max} | ${flows} | ${m.run === 'direct' ? '–' : drops} | ${m.run === 'direct' ? '–' : `${count(m.peakHeld)} / ${count(m.peakUnavailable)} (${pct(m.peakUnavailable / POOL_PORTS)})`} | ${count(s['TcpExt.PAWSTimewait']!)} | ${count(s['TcpExt.ListenOverflows']!)} | ${count(s['TcpExt.TCPTimeWaitOverflow']!)} | ${count(c['TcpExt.TCPSynRetrans']!)} | ${pct(m.machineBusy)} (${pct(m.machineSoftirq)}) | ${pct(m.agentCpu)} | ${datapathCost(m)} |`;
}

/* What an interrupt must undo before exiting: the rig being measured, and the BPF statistics setting. */
let interrupted: (() => Promise<void>) | undefined;
let restoreBpfStats: (() => void) | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    restoreBpfStats?.();
    void (interrupted?.() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '60' },
      threads: { type: 'string', default: '2' },
      connections: { type: 'string', default: '64' },
      workers: { type: 'string', default: '1' },
      modes: { type: 'string', default: 'direct,native,generic' },
      'max-load': { type: 'string', default: '1.0' },
      'wait-load': { type: 'string', default: '600' },
      write: { type: 'boolean', default: false },
    },
  });
  const load = { seconds: Number(values.seconds), threads: Number(values.threads), connections: Number(values.connections) };
  const workers = Number(values.workers);
  const runs = values.modes.split(',') as Run[];
  for (const r of runs) if (r !== 'direct' && r !== 'native' && r !== 'generic') throw new Error(`--modes: unknown run ${r}`);
  if (!(load.seconds > 0) || ![load.threads, load.connections, workers].every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error('--seconds must be > 0; --threads, --connections and --workers positive integers');
  }
  const started = Date.now();
  const measured: Measured[] = [];
  const restore = enableBpfStats();
  restoreBpfStats = restore;
  /* The direct run shares the native rig (same namespaces, agent attached but not on its path). */
  const native = runs.filter((r) => r === 'direct' || r === 'native');
  try {
    if (native.length) measured.push(...(await measureMode('native', native, load, workers, Number(values['max-load']), Number(values['wait-load']))));
    if (runs.includes('generic')) measured.push(...(await measureMode('generic', ['generic'], load, workers, Number(values['max-load']), Number(values['wait-load']))));
  } finally {
    restore();
  }

  const section = `## Connection rate with C tools (wrk, nginx)

Generated by \`node dist/bench/connection-rate-wrk-bench.js --write\` (bench/connection-rate-wrk-bench.ts).

The scenario of "Connection rate" with a load generator that is not the limit: demo/topology.ts in
namespaces (client, the balancer running the agent, two servers on one bridge; veth, TX checksum
offload off), one web service, round robin over both servers, **one SNAT address with the default
pool and defaults throughout** (ports 10000–32767, \`reuse_after\` 1 s, \`tcp_closing\` 2 s,
\`gc_interval\` 1 s). Servers: nginx, ${workers} worker${workers > 1 ? 's' : ''} each, \`access_log off\`, every
request answered \`200\` with the server's name (bench/support/nginx-server.ts). Client: \`wrk -t ${load.threads}
-c ${load.connections} -d ${load.seconds}s --timeout 2s -H 'Connection: close'\`: every request is a new TCP
connection, which the server closes first (so the servers hold TIME_WAITs, up to
\`tcp_max_tw_buckets\` = 131,072 per namespace). Every namespace keeps the kernel's defaults (client
ports 32768–60999, \`tcp_tw_reuse\` 2, timestamps on).

"direct" is wrk straight to one server's address in the same topology, the balancer not on the
path: the machine's ceiling for this client and one server. Failures are wrk's socket errors
(connect, read, write, timeout) and answers not 2xx/3xx. Datapath drops are the changes of the
datapath's counters during the run. SNAT tuples are sampled every ${TUPLE_SAMPLE_MS / 1000} s during the run
(bench/support/snat-occupancy.ts), the most with one backend (one SNAT address: a backend's tuples
are one (address, backend) pair's, 22,768 ports): held is \`lb_snat\` entries, unavailable those a
new flow could not take over (not closed, or closed less than \`reuse_after\` ago) — what the
allocator's 32 random attempts meet.
The last columns are the kernel's per-namespace TCP counters, summed over the servers in the run:
SYNs refused from TIME_WAIT (\`PAWSTimewait\`: the server answered with the old connection's ACK,
the client reset and resent — see README, "Limits and sizing"), accept-queue overflows, TIME_WAITs
not kept for want of buckets; and the client's SYN retransmissions. Load is the 1-minute load
average just before the run (the machine is shared; runs wait for it to drop under ${values['max-load']}).
Client, servers, agent and softirq work share the machine's 2 cores: "machine busy" is the share of
both cores not idle during the run (from /proc/stat, every process on the machine, softirq in
brackets), "agent CPU" the agent's own CPU time as a share of one core, and the XDP program's cost
from the kernel's BPF run statistics (\`kernel.bpf_stats_enabled\`, on only during the bench): every
packet the balancer's eth0 received (in the direct run only ARP and stray packets reach it).

| run | load | connections | connections/s | failures | latency avg / max | new flows rs-1 / rs-2 | datapath drops | SNAT tuples of one backend, peak: held / unavailable (share of pool) | refused SYNs (TIME_WAIT) | listen overflows | TIME_WAITs not kept | client SYN retransmissions | machine busy (softirq) | agent CPU | XDP program: packets/s, ns/packet, share of one core |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
${measured.map(row).join('\n')}

### Machine

${machineTable(machine(), (Date.now() - started) / 1000)}
`;
  process.stdout.write(section);
  if (values.write) writeBenchmarkSection(BENCHMARKS_FILE, 'connection-rate-wrk-bench', section);
}

await main();
