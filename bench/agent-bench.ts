/*
 * The agent at scale (issue: declarative agent): 1,000 services × 16
 * backends in a throw-away namespace.
 *   - cold start: agent process spawned -> the whole config applied;
 *   - one-backend edits: an atomic save of the file (the rename) -> the
 *     reload applied (the time of the agent's log line for it), over 50
 *     edits, with the operation count of each;
 *   - the agent's resident memory after the edits.
 *
 *   npm run build && node dist/bench/agent-bench.js [--write] [--edits N]
 *
 * Needs root (namespace, XDP attach, bpffs). Everything it creates (the
 * namespace, its pins under /sys/fs/bpf/xlb-bench-PID, the temporary config)
 * is removed at the end, also on failure.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AgentHost } from '../test/support/agent-harness.js';
import { generateConfig } from './support/generate-config.js';
import { BENCHMARKS_FILE, writeBenchmarkSection } from './support/benchmarks-file.js';
import { machine, machineTable } from './support/machine.js';
import { agentPid, rssMiB } from './support/agent-process.js';
import { quantile } from './support/quantile.js';
import { WATCH_DEBOUNCE_MS } from '../src/agent/agent.js';

const SERVICES = 1000;
const BACKENDS = 16;

function configFor(edit?: { service: number; backend: number; weight: number }): string {
  // No health checks: nothing here answers 16,000 probes, and probing is not what is measured.
  return generateConfig({ services: SERVICES, backendsPerService: BACKENDS, healthChecks: false, ...(edit ? { editWeight: edit } : {}) })
    .replace(/^interface: .*$/m, 'interface: lb0')
    .replace(/^xdp_mode: .*$/m, 'xdp_mode: generic');
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ')[0] ?? '?';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { write: { type: 'boolean', default: false }, edits: { type: 'string', default: '50' }, out: { type: 'string', default: BENCHMARKS_FILE } },
  });
  const edits = Number(values.edits);
  const host = AgentHost.create('bench');
  const started = Date.now();
  try {
    // The metrics server listens, as on a deployed balancer (127.0.0.1 needs lo up).
    host.ip('link', 'set', 'lo', 'up');
    const loadBefore = loadAverage();
    const text = configFor();
    host.writeConfig(text);
    // start() spawns the process: the clock includes its start-up.
    const t0 = performance.now();
    await host.start('--log-level', 'info');
    const cold = host.events.find((e) => e.event === 'reload' && e.reason === 'start');
    if (cold?.result !== 'applied') throw new Error(`start failed: ${JSON.stringify(host.events.slice(-3))}`);
    const coldMs = performance.now() - t0;
    const pid = agentPid(host);
    const rssAfterStart = rssMiB(pid);

    const latencies: number[] = [];
    const operations: number[] = [];
    const phases: { load: number; plan: number; apply: number; total: number }[] = [];
    for (let i = 0; i < edits; i++) {
      const edit = { service: (i * 37) % SERVICES, backend: i % BACKENDS, weight: 2 + (i % 5) };
      // Made before the clock starts: generating 1 MB of YAML is the bench's work, not the agent's.
      const edited = configFor(edit);
      const from = host.events.length;
      const saved = host.writeConfig(edited);
      const reload = await host.nextReload(from, 10_000);
      // The agent's own time of the applied reload, not when this process got round to reading the line.
      latencies.push(Date.parse(String(reload.time)) - saved);
      if (reload.result !== 'applied') throw new Error(`edit ${i} not applied: ${JSON.stringify(reload)}`);
      operations.push(Number(reload.operations));
      phases.push({ load: Number(reload.loadMs), plan: Number(reload.planMs), apply: Number(reload.applyMs), total: Number(reload.durationMs) });
      // Back to the base file, so every edit is one backend against the same config.
      const back = host.events.length;
      host.writeConfig(text);
      await host.nextReload(back, 10_000);
    }
    const rssAfterEdits = rssMiB(pid);
    const loadAfter = loadAverage();
    latencies.sort((a, b) => a - b);
    const p50 = (pick: (p: (typeof phases)[number]) => number): string => quantile(phases.map(pick).sort((a, b) => a - b), 0.5).toFixed(1);
    const opsSeen = [...new Set(operations)].sort((a, b) => a - b).join(', ');
    const lines = [
      '| measure | figure | target |',
      '|---|---:|---|',
      `| cold start: spawn -> ${SERVICES.toLocaleString('en-US')} services × ${BACKENDS} backends applied | ${Math.round(coldMs)} ms (${cold.operations} operations) | — |`,
      `| one-backend edit: save -> applied, p50 / p95 / max (${edits} edits) | ${Math.round(quantile(latencies, 0.5))} / ${Math.round(quantile(latencies, 0.95))} / ${Math.round(latencies.at(-1)!)} ms | p95 ≤ 200 ms: ${quantile(latencies, 0.95) <= 200 ? 'met' : '**not met**'} |`,
      `| of which the agent's reload, p50: load + validate / read live state + plan / apply = total | ${p50((p) => p.load)} / ${p50((p) => p.plan)} / ${p50((p) => p.apply)} = ${p50((p) => p.total)} ms | — |`,
      `| operations per one-backend edit | ${opsSeen} | proportional to the change |`,
      `| agent RSS after start / after the edits | ${rssAfterStart.toFixed(0)} / ${rssAfterEdits.toFixed(0)} MiB | < 150 MB: ${rssAfterEdits * 1.048576 < 150 ? 'met' : '**not met**'} |`,
      `| machine load (1-minute load average) before / after | ${loadBefore} / ${loadAfter} | — |`,
    ].join('\n');
    process.stdout.write(`${lines}\n`);
    if (values.write) {
      const doc = `## Agent at scale

Generated by \`node dist/bench/agent-bench.js --write\` (bench/agent-bench.ts).

${lines}

### Method

- The real agent (\`bin/xdp4slb-agent\`) in a throw-away network namespace with one veth, generic XDP,
  its backends behind a router namespace (one next hop for the neighbour loop to resolve),
  \`vip_announce: arp\` (so the cold start includes adding ${SERVICES.toLocaleString('en-US')} VIPs as /32s), pinned under its
  own pin path. Config: bench/support/generate-config.ts, ${SERVICES.toLocaleString('en-US')} services × ${BACKENDS} backends, schedulers in turn
  (round robin, weighted round robin, Maglev, source hash), no health checks, ${(text.length / 1024).toFixed(0)} KiB of YAML.
- Cold start: from spawning the process to its log line for the first reload.
- Each edit changes one backend's weight (a different service each time) and is saved the way editors do
  (temporary file, then rename); the time runs from the rename (the wall clock when it returned) to the
  time stamp of the agent's log line for the applied reload (the agent's own clock, the same machine's), so it
  includes the file watcher's event and its ${WATCH_DEBOUNCE_MS} ms debounce, reading and validating the whole file,
  reading the live state from the maps, planning and applying. The bench's own work stays out of the
  window: the edited file is generated before the clock starts, and how soon the bench reads the log line
  does not count. The file is then restored, so every edit is measured against the same base.
- The namespace's loopback is up, so the agent's metrics server listens on 127.0.0.1:9740 as it does on
  a deployed balancer (nothing scrapes it during the run).
- RSS: \`VmRSS\` of the agent process from /proc; the agent runs with the V8 flags of its executable's
  \`#!\` line (a small young generation, an old generation that grows 1.75-fold between full collections).
- Load: /proc/loadavg's first figure before the agent starts and after the edits (the run itself adds
  about one: the agent and this process reloading and writing back to back). The machine has 2 cores and
  is shared with other jobs; figures taken when it was already busy are not comparable.

### Machine

${machineTable(machine(), (Date.now() - started) / 1000)}
`;
      writeBenchmarkSection(values.out, 'agent-bench', doc);
      process.stderr.write(`wrote ${values.out}\n`);
    }
  } finally {
    await host.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`agent-bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
