/*
 * The demo (README: the main job without a config): the classic Full-NAT
 * scenario in network namespaces — a client, the balancer and two web
 * servers on one bridge — with the real agent on the balancer, then a third
 * server added to the config file while it runs, with the agent's per-backend
 * metrics read after each round of requests. Everything it creates is
 * removed on exit, on Ctrl-C and on failure. Addresses from 198.18.0.0/24;
 * no namespace has a route out. Needs root.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readAgentEvents, type AgentEvent } from './agent-events.js';
import { Topology } from './topology.js';

const AGENT = fileURLToPath(new URL('../../bin/xdp4slb-agent', import.meta.url));
const SERVER = fileURLToPath(new URL('./backend-server.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./traffic-client.js', import.meta.url));
const PIN_PATH = '/sys/fs/bpf/xdp4slb-demo';
const VIP = '198.18.0.10';
const SERVERS = [
  { host: 'rs1', name: 'rs-1', address: '198.18.0.2' },
  { host: 'rs2', name: 'rs-2', address: '198.18.0.3' },
  { host: 'rs3', name: 'rs-3', address: '198.18.0.4' },
];

function config(backends: readonly string[]): string {
  return `# Written by the xdp4slb demo.
interface: eth0
xdp_mode: native
vip_announce: arp
snat:
  addresses: [198.18.0.5]
  ports: "10000-32767"
services:
  - name: web
    vip: ${VIP}
    port: 80
    protocol: tcp
    scheduler: round_robin
    backends:
${backends.map((b) => `      - { address: ${b}, port: 80 }`).join('\n')}
neighbors:
  refresh_interval: 2s
`;
}

function say(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

function writeAtomically(file: string, text: string): void {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

async function main(): Promise<void> {
  const topo = Topology.create(
    'xdp4slb-demo',
    [
      { name: 'lb', address: '198.18.0.1' },
      { name: 'client', address: '198.18.0.100' },
      ...SERVERS.map((s) => ({ name: s.host, address: s.address })),
    ],
    { balancer: 'lb', mode: 'native' },
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xdp4slb-demo-'));
  const configPath = path.join(dir, 'config.yaml');
  let cleaned = false;
  const cleanUp = (): void => {
    if (cleaned) return;
    cleaned = true;
    topo.exec('lb', AGENT, ['down', '--pin-path', PIN_PATH]);
    topo.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanUp();
    process.exit(130);
  });
  process.once('SIGTERM', () => {
    cleanUp();
    process.exit(143);
  });

  try {
    say('network: client 198.18.0.100, balancer 198.18.0.1 (VIP 198.18.0.10, SNAT 198.18.0.5), web servers rs-1 198.18.0.2, rs-2 198.18.0.3, rs-3 198.18.0.4');
    for (const s of SERVERS) {
      const server = topo.spawn(s.host, process.execPath, [SERVER], { NAME: s.name, HTTP_PORT: '80' });
      await new Promise((resolve) => server.stdout!.once('data', resolve));
    }

    writeAtomically(configPath, config(SERVERS.slice(0, 2).map((s) => s.address)));
    say(`config ${configPath}:\n${fs.readFileSync(configPath, 'utf8')}`);
    say('starting the agent on the balancer');
    const agent = topo.spawn('lb', AGENT, ['--config', configPath, '--pin-path', PIN_PATH, '--log-level', 'info']);
    const events: AgentEvent[] = [];
    readAgentEvents(
      agent,
      (e) => {
        events.push(e);
        if (e.event === 'stderr') process.stdout.write(`   agent | ${String(e.msg)}`);
      },
      (line) => process.stdout.write(`   agent | ${line}\n`),
    );
    const waitFor = async (match: (e: AgentEvent) => boolean, what: string, from = 0): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!events.slice(from).some(match)) {
        if (agent.exitCode !== null) throw new Error(`the agent exited (${agent.exitCode}) while waiting for ${what}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const ask = async (count: number): Promise<string[]> => {
      const res = topo.exec('client', process.execPath, [CLIENT, 'http', `http://${VIP}/`, String(count)]);
      const { answers, failures } = JSON.parse(res.stdout) as { answers: string[]; failures: string[] };
      if (failures.length > 0) throw new Error(`requests failed: ${failures.join(', ')}`);
      return answers;
    };
    // What an operator on the balancer sees with `curl 127.0.0.1:9740/metrics`: flows per backend.
    const showMetrics = (): void => {
      const res = topo.exec('lb', 'curl', ['-sS', '--fail', 'http://127.0.0.1:9740/metrics']);
      if (res.status !== 0) throw new Error(`curl /metrics: ${res.stderr}`);
      for (const line of res.stdout.split('\n')) {
        if (line.startsWith('xdp4slb_backend_new_flows_total{')) process.stdout.write(`   metrics | ${line}\n`);
      }
    };
    const resolved = (count: number) => (e: AgentEvent) => e.event === 'neighbors' && Number(e.resolved) >= count;

    await waitFor((e) => e.event === 'reload' && e.result === 'applied', 'the first apply');
    await waitFor(resolved(2), 'both backends to be resolved');
    say(`client: 4 requests to http://${VIP}/`);
    for (const answer of await ask(4)) process.stdout.write(`   client | ${answer}\n`);
    say('metrics on the balancer: curl 127.0.0.1:9740/metrics (new flows per backend)');
    showMetrics();

    say('adding rs-3 to the config file (no restart)');
    const from = events.length;
    writeAtomically(configPath, config(SERVERS.map((s) => s.address)));
    await waitFor((e) => e.event === 'reload' && e.result === 'applied' && Number(e.operations) > 0, 'the reload', from);
    await waitFor(resolved(3), 'rs-3 to be resolved', from);
    say(`client: 6 requests to http://${VIP}/`);
    for (const answer of await ask(6)) process.stdout.write(`   client | ${answer}\n`);
    say('metrics again: the counters grew with the requests');
    showMetrics();
    say('the balancer as its operator sees it: xdp4slb-agent status');
    const status = topo.exec('lb', AGENT, ['status', '--pin-path', PIN_PATH]);
    if (status.status !== 0) throw new Error(`status: exit ${status.status}: ${status.stderr}`);
    for (const line of status.stdout.trimEnd().split('\n')) process.stdout.write(`   status | ${line}\n`);
    say('done: tearing everything down');
  } finally {
    cleanUp();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
