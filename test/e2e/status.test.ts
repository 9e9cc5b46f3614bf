/*
 * `xdp4slb-agent status` and `conntrack` end to end, on the classic
 * Full-NAT segment (test/support/traffic-rig.ts): the real agent on the
 * balancer, two real servers, a client sending through the VIP.
 *
 *  1. `status --json` after a known number of UDP datagrams and HTTP
 *     requests: exact per-backend packet and flow counts for the UDP service,
 *     and every figure equal to what the maps hold when read independently
 *     (per-id lookups, lb_neigh, lb_ct, lb_snat, the servers' own MACs);
 *     health, resolution and MAC for each backend; active connections from
 *     the agent's GC; the table names every service and backend;
 *  2. `status --watch --json` prints one document per interval with rates;
 *  3. `conntrack` lists the flows (client, SNAT, backend, state), filtered
 *     by service and limited; an unknown service is an error;
 *  4. after the agent is killed with SIGKILL, `status` still works from the
 *     pins, says the agent is not running, and shows the same counts;
 *  5. pins of an older build, without the record maps: `status` still
 *     works, and an agent started on them adds the maps and records again;
 *  6. `down` removes the records' pins with the others; `status` then
 *     says nothing is pinned (exit 3).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encodeIpv4Key, lbNeigh, type LbTraffic } from '../../src/datapath/codecs.js';
import type { DatapathMaps } from '../../src/datapath/datapath-maps.js';
import { readSnapshot } from '../../src/observe/read-snapshot.js';
import { DNS_PORT, RS1, RS2, Rig, SNAT, VIP, baseConfig, dnsService, webService, type Server } from '../support/traffic-rig.js';

const AGENT = fileURLToPath(new URL('../../../bin/xdp4slb-agent', import.meta.url));

/* Datagrams and requests sent: round robin gives each server half. */
const DATAGRAMS = 10;
const REQUESTS = 6;

interface JsonTraffic {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  newFlows: number;
}
interface JsonBackend {
  id: number;
  address: string;
  port: number;
  weight: number;
  state: string;
  health: string | null;
  resolution: string | null;
  resolved: boolean;
  mac: string | null;
  activeConnections: number | null;
  traffic: JsonTraffic;
}
interface JsonService {
  id: number;
  name: string;
  vip: string;
  port: number;
  protocol: string;
  scheduler: string;
  traffic: JsonTraffic;
  backends: JsonBackend[];
}
interface StatusDoc {
  datapath: { interface: string; attachedMode: string } | null;
  agent: { pid: number; running: boolean; lastReload: { result: string } | null; configDigest: string | null; gc: { passes: number } | null } | null;
  services: JsonService[];
  counters: Record<string, number>;
  conntrack: { entries: number; capacity: number; counted: string; snat: { addresses: { address: string; inUse: number | null }[] } };
  rates?: unknown;
}

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [AGENT, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

function statusJson(rig: Rig): StatusDoc {
  const res = run('status', '--json', '--pin-path', rig.pinPath);
  assert.equal(res.status, 0, res.stderr);
  return JSON.parse(res.stdout) as StatusDoc;
}

function plain(t: LbTraffic): JsonTraffic {
  return { packetsIn: Number(t.packetsIn), packetsOut: Number(t.packetsOut), bytesIn: Number(t.bytesIn), bytesOut: Number(t.bytesOut), newFlows: Number(t.newFlows) };
}

/** What the maps hold, read the other way: one lookup per id, lb_neigh by address, the flow tables whole. */
function independently(maps: DatapathMaps, doc: StatusDoc): unknown {
  return {
    services: doc.services.map((s) => ({
      traffic: plain(maps.serviceTraffic(s.id)),
      backends: s.backends.map((b) => {
        const neigh = maps.map('lb_neigh').lookup(encodeIpv4Key(b.address));
        return { traffic: plain(maps.backendTraffic(b.id)), mac: neigh ? lbNeigh.decode(neigh).mac : null };
      }),
    })),
    counters: Object.fromEntries(Object.entries(maps.counters()).map(([k, v]) => [k, Number(v)])),
    entries: [...maps.conns()].length,
    snatInUse: [...maps.snatTuples()].filter((t) => t.reply.dstIp === SNAT).length,
  };
}

function asReported(doc: StatusDoc): unknown {
  return {
    services: doc.services.map((s) => ({ traffic: s.traffic, backends: s.backends.map((b) => ({ traffic: b.traffic, mac: b.mac })) })),
    counters: doc.counters,
    entries: doc.conntrack.entries,
    snatInUse: doc.conntrack.snat.addresses.find((a) => a.address === SNAT)?.inUse,
  };
}

function backendOf(doc: StatusDoc, service: string, server: Server): JsonBackend {
  const b = doc.services.find((s) => s.name === service)?.backends.find((x) => x.address === server.address);
  assert.ok(b, `${service} has no backend ${server.address}: ${JSON.stringify(doc.services)}`);
  return b;
}

describe('status and conntrack end to end', { timeout: 180_000 }, () => {
  let rig: Rig | undefined;
  before(async () => {
    rig = new Rig('ob', 'generic', [RS1, RS2]);
    await rig.serve(
      baseConfig(
        'generic',
        [
          webService([RS1, RS2], { health_check: { type: 'tcp', interval: '500ms', timeout: '400ms' } }),
          dnsService([RS1, RS2]),
        ],
        // Nothing expires during the case: the counts stay what was sent.
        { conntrack: { gc_interval: '500ms', timeouts: { tcp_closing: '10m', udp: '10m' } } },
      ),
    );
    await rig.waitUntil('dns backends eligible', () => rig!.eligible('dns').length === 2, 10_000);
  });
  after(() => rig?.destroy());

  it('status --json has exact UDP counts per backend and matches the maps read independently', async () => {
    const r = rig!;
    const udp = r.udp(DATAGRAMS);
    assert.deepEqual(udp.failures, []);
    const http = r.http(REQUESTS);
    assert.deepEqual(http.failures, []);
    // A GC pass after the traffic: active connections are its count.
    const passes = statusJson(r).agent?.gc?.passes ?? 0;
    await r.waitUntil('a GC pass after the traffic', () => (statusJson(r).agent?.gc?.passes ?? 0) >= passes + 2, 10_000);

    const doc = statusJson(r);
    for (const server of [RS1, RS2]) {
      const dns = backendOf(doc, 'dns', server);
      // One datagram and its answer per flow, half the flows each.
      assert.deepEqual(
        { packetsIn: dns.traffic.packetsIn, packetsOut: dns.traffic.packetsOut, newFlows: dns.traffic.newFlows, active: dns.activeConnections },
        { packetsIn: DATAGRAMS / 2, packetsOut: DATAGRAMS / 2, newFlows: DATAGRAMS / 2, active: DATAGRAMS / 2 },
        `dns ${server.address}`,
      );
      const web = backendOf(doc, 'web', server);
      assert.equal(web.traffic.newFlows, REQUESTS / 2, `web ${server.address} new flows`);
      assert.ok(web.traffic.packetsIn >= 4 * (REQUESTS / 2), `web ${server.address}: SYN, ACK, request and FIN of each connection at least`);
      assert.equal(web.activeConnections, REQUESTS / 2, `web ${server.address}: closed flows stay until tcp_closing`);
      // Runtime state, for every backend.
      const mac = r.macOf(server.host);
      for (const [b, health] of [
        [web, 'healthy'],
        [dns, 'unchecked'],
      ] as const) {
        assert.deepEqual({ health: b.health, resolution: b.resolution, resolved: b.resolved, mac: b.mac, state: b.state, weight: b.weight }, {
          health,
          resolution: 'resolved',
          resolved: true,
          mac,
          state: 'active',
          weight: 1,
        });
      }
    }
    const dnsService = doc.services.find((s) => s.name === 'dns')!;
    assert.deepEqual(
      { packetsIn: dnsService.traffic.packetsIn, newFlows: dnsService.traffic.newFlows, vip: dnsService.vip, port: dnsService.port, protocol: dnsService.protocol },
      { packetsIn: DATAGRAMS, newFlows: DATAGRAMS, vip: VIP, port: DNS_PORT, protocol: 'udp' },
    );
    assert.equal(doc.conntrack.entries, DATAGRAMS + REQUESTS);
    assert.equal(doc.counters['drop_no_conntrack'], 0);
    assert.deepEqual(
      { running: doc.agent?.running, reload: doc.agent?.lastReload?.result, digest: /^[0-9a-f]{16}$/.test(doc.agent?.configDigest ?? ''), mode: doc.datapath?.attachedMode },
      { running: true, reload: 'applied', digest: true, mode: 'generic' },
    );
    // Nothing moves now: the document and an independent read of the maps agree.
    assert.deepEqual(asReported(doc), r.withMaps((maps) => independently(maps, doc)));
    // A reader that skips the flow-table scan (a metrics scrape) takes the GC's figure instead.
    const cheap = r.withMaps((maps) => readSnapshot(maps, { scanFlows: false }));
    assert.deepEqual(
      { counted: cheap.conntrack.counted, entries: cheap.conntrack.entries, snatInUse: cheap.conntrack.snatInUse.size },
      { counted: 'gc-record', entries: DATAGRAMS + REQUESTS, snatInUse: 0 },
    );

    const table = run('status', '--pin-path', r.pinPath);
    assert.equal(table.status, 0, table.stderr);
    for (const text of [`web ${VIP}:80`, `dns ${VIP}:${DNS_PORT}`, `-> ${RS1.address}:80`, `-> ${RS2.address}:${DNS_PORT}`, r.macOf(RS1.host), 'healthy', 'unchecked', 'running']) {
      assert.ok(table.stdout.includes(text), `status table lacks "${text}":\n${table.stdout}`);
    }
  });

  it('status --watch --json prints a document per interval, with rates from the second on', async () => {
    const r = rig!;
    const child = spawn(process.execPath, [AGENT, 'status', '--watch', '--json', '--interval', '300ms', '--pin-path', r.pinPath]);
    try {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      await r.waitUntil('two status documents', () => out.split('\n').filter((l) => l !== '').length >= 2, 10_000, () => out);
      const [first, second] = out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as StatusDoc & { rateIntervalSeconds?: number });
      assert.equal(first!.rates, undefined);
      assert.ok(second!.rateIntervalSeconds! > 0.2, JSON.stringify(second!.rateIntervalSeconds));
      assert.ok(second!.services.every((s) => s.backends.every((b) => 'rates' in b)));
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, 'SIGTERM ends --watch with exit 0');
    }
  });

  it('conntrack lists the flows: client, SNAT tuple, backend, state; by service, limited', () => {
    const r = rig!;
    const dns = run('conntrack', '--service', 'dns', '--pin-path', r.pinPath);
    assert.equal(dns.status, 0, dns.stderr);
    const rows = dns.stdout.trimEnd().split('\n');
    assert.match(rows[0]!, /^Service\s+Prot\s+Client\s+VIP\s+SNAT\s+Backend\s+State\s+Age\s+Idle$/);
    assert.equal(rows.at(-1), `${DATAGRAMS} of ${DATAGRAMS} matching (${DATAGRAMS + REQUESTS} in all) connections shown`);
    const flows = rows.slice(1, -1).map((line) => line.split(/\s+/));
    assert.equal(flows.length, DATAGRAMS);
    const tuples = new Set(r.tuples().map((t) => `${SNAT}:${t.snatPort}`));
    for (const [service, prot, client, vip, snat, backend, state] of flows) {
      assert.deepEqual({ service, prot, vip, state }, { service: 'dns', prot: 'UDP', vip: `${VIP}:${DNS_PORT}`, state: 'udp' });
      assert.match(client!, /^198\.18\.0\.100:\d+$/);
      assert.ok(tuples.has(snat!), `${snat} is a tuple in lb_snat`);
      assert.ok([RS1, RS2].some((s) => backend === `${s.address}:${DNS_PORT}`), backend);
    }
    assert.equal(new Set(flows.map((f) => f[5])).size, 2, 'both backends');

    const web = run('conntrack', '--service', 'web', '--limit', '2', '--pin-path', r.pinPath);
    assert.equal(web.status, 0, web.stderr);
    const webRows = web.stdout.trimEnd().split('\n');
    assert.equal(webRows.length, 4, web.stdout);
    assert.equal(webRows.at(-1), `2 of ${REQUESTS} matching (${DATAGRAMS + REQUESTS} in all) connections shown`);
    for (const line of webRows.slice(1, -1)) assert.match(line, /^web\s+TCP\s+198\.18\.0\.100:\d+\s+198\.18\.0\.10:80\s+198\.18\.0\.5:\d+\s+198\.18\.0\.[23]:80\s+closed\s/);

    const unknown = run('conntrack', '--service', 'nosuch', '--pin-path', r.pinPath);
    assert.deepEqual({ status: unknown.status, stdout: unknown.stdout }, { status: 1, stdout: '' });
    assert.match(unknown.stderr, /no service named "nosuch" \(services: dns, web\)/);
  });

  it('after SIGKILL of the agent, status still reads the pins and says the agent is not running', async () => {
    const r = rig!;
    const before = statusJson(r);
    const pid = before.agent!.pid;
    assert.ok(before.agent!.running);
    process.kill(pid, 'SIGKILL');
    await r.waitUntil(`agent ${pid} gone`, () => spawnSync('kill', ['-0', String(pid)]).status !== 0, 5_000);

    const after = statusJson(r);
    assert.equal(after.agent!.running, false);
    assert.equal(after.agent!.pid, pid);
    const counts = (doc: StatusDoc): unknown => doc.services.map((s) => ({ name: s.name, traffic: s.traffic, backends: s.backends.map((b) => [b.address, b.traffic, b.health, b.mac, b.activeConnections]) }));
    assert.deepEqual(counts(after), counts(before));
    const table = run('status', '--pin-path', r.pinPath);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`NOT RUNNING \\(pid ${pid} is gone`));
    // The datapath still forwards without the agent.
    assert.deepEqual(r.udp(2).failures, []);
  });

  it('pins without the record maps (an older build): status works, and a new agent adds them', async () => {
    const r = rig!;
    const before = statusJson(r);
    for (const name of ['lb_be_runtime', 'lb_agent_run']) fs.unlinkSync(`${r.pinPath}/${name}`);
    const bare = statusJson(r);
    assert.equal(bare.agent, null);
    assert.deepEqual(
      bare.services.flatMap((s) => s.backends.map((b) => [b.health, b.resolution, b.activeConnections, b.mac])),
      before.services.flatMap((s) => s.backends.map((b) => [null, null, null, b.mac])),
    );
    assert.match(run('status', '--pin-path', r.pinPath).stdout, /agent {6}no agent record/);

    await r.startAgent();
    await r.waitUntil('the new agent recorded', () => {
      const doc = statusJson(r);
      return doc.agent?.running === true && doc.agent.pid !== before.agent!.pid && doc.services.every((s) => s.backends.every((b) => b.resolution === 'resolved'));
    }, 15_000);
    assert.equal(backendOf(statusJson(r), 'web', RS1).health, 'healthy');
  });

  it('down removes the records with every other pin; then status and conntrack say nothing is pinned (exit 3)', () => {
    const r = rig!;
    for (const name of ['lb_be_runtime', 'lb_agent_run']) assert.ok(fs.existsSync(`${r.pinPath}/${name}`), name);
    const down = r.topo.exec('lb', AGENT, ['down', '--pin-path', r.pinPath]);
    assert.equal(down.status, 0, down.stderr);
    assert.equal(fs.existsSync(r.pinPath), false);
    for (const command of ['status', 'conntrack']) {
      const res = run(command, '--pin-path', r.pinPath);
      assert.deepEqual({ status: res.status, stdout: res.stdout }, { status: 3, stdout: '' }, command);
      assert.match(res.stderr, new RegExp(`nothing pinned under ${r.pinPath}`));
    }
  });
});
