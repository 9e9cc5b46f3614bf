/*
 * Connections through the balancer end to end, on the classic Full-NAT
 * segment of demo/topology.ts with the real bin/xdp4slb-agent and real
 * clients and servers (test/support/traffic-rig.ts):
 *
 *  5. one long-lived keep-alive connection (a request every 100 ms) survives,
 *     one after the other, a SIGKILL of the agent and its restart (which
 *     writes nothing), a config reload, and the removal of its own backend
 *     from the config: every request answered, by the same server, on the
 *     same local port, while new connections go to the remaining backend
 *     (native and generic XDP);
 *  8. many clients: 200 connections opened at once all succeed, each with
 *     its own flow and its own SNAT tuple (no two alike per backend); closed,
 *     they leave lb_ct and lb_snat after tcp_closing; with a pool of 4 SNAT
 *     ports the surplus SYNs are dropped and counted, and once the idle flows
 *     pass tcp_established new connections succeed again (native and generic).
 *
 * Each case builds its own Rig and removes it in after(), also when it fails.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { IPPROTO_TCP, LB_CT_CLOSING_MASK } from '../../src/datapath/codecs.js';
import type { TestConfig, TestService } from '../support/desired-config.js';
import { dumpConfigMaps } from '../support/map-dump.js';
import {
  GC_MS,
  Holder,
  RS1,
  RS2,
  Rig,
  SLACK_MS,
  SNAT,
  URL_,
  assertHeldBy,
  baseConfig,
  dnsService,
  serverNamed,
  webService,
} from '../support/traffic-rig.js';

const MODES = [
  ['g', 'generic'],
  ['n', 'native'],
] as const;

/** The unrelated edit of case 5: a second service. */
const DNS_SERVICE = dnsService([RS1, RS2]);

/** What traffic-client `open` prints once every connection has its answer (or failure). */
interface OpenResult {
  answers: string[];
  failures: string[];
  ports: number[];
}

/** traffic-client `open`: `count` keep-alive connections at once, held until the Holder is stopped. */
async function openConnections(rig: Rig, count: number, timeoutMs: number, clients: Holder[]): Promise<{ opened: OpenResult; client: Holder }> {
  const client = new Holder(rig.spawnClient(['open', URL_, String(count)], 'client', { CLIENT_TIMEOUT_MS: String(timeoutMs) }));
  clients.push(client);
  // A request whose SYN is refused ends after its timeout, so the whole line may take that long and more.
  const [line] = await client.waitLines(1, timeoutMs + 15_000);
  const opened = line as unknown as Partial<OpenResult>;
  assert.ok(Array.isArray(opened.answers) && Array.isArray(opened.failures) && Array.isArray(opened.ports), `traffic-client open: ${JSON.stringify(line)}`);
  return { opened: opened as OpenResult, client };
}

/** lb_ct's TCP flows and lb_snat's TCP tuples in full. */
function tcpTables(rig: Rig): {
  flows: { clientPort: number; backend: string; snatIp: string; snatPort: number; state: number }[];
  tuples: { snatIp: string; snatPort: number; backend: string; backendPort: number; ownerClientPort: number }[];
} {
  return rig.withMaps((maps) => ({
    flows: [...maps.conns()]
      .filter(({ conn }) => conn.proto === IPPROTO_TCP)
      .map(({ conn }) => ({ clientPort: conn.clientPort, backend: conn.backendIp, snatIp: conn.snatIp, snatPort: conn.snatPort, state: conn.state })),
    tuples: [...maps.snatTuples()]
      .filter(({ reply }) => reply.proto === IPPROTO_TCP)
      .map(({ reply, owner }) => ({ snatIp: reply.dstIp, snatPort: reply.dstPort, backend: reply.srcIp, backendPort: reply.srcPort, ownerClientPort: owner.srcPort })),
  }));
}

/** Polls until lb_ct has no TCP flow and lb_snat no TCP tuple. */
async function waitTcpTablesEmpty(rig: Rig, what: string, timeoutMs: number): Promise<void> {
  await rig.waitUntil(
    `${what} gone from lb_ct and lb_snat`,
    () => {
      const { flows, tuples } = tcpTables(rig);
      return flows.length === 0 && tuples.length === 0;
    },
    timeoutMs,
    () => JSON.stringify(tcpTables(rig)).slice(0, 2_000),
  );
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

describe('connections end to end', { timeout: 120_000 }, () => {
  for (const [tag, mode] of MODES) {
    describe(`5. a held connection survives an agent SIGKILL and restart, a reload, and the removal of its backend (${mode} XDP)`, () => {
      let rig: Rig | undefined;
      let holder: Holder | undefined;
      const config = (web: TestService, more: TestService[] = []): TestConfig => baseConfig(mode, [web, ...more]);
      before(async () => {
        rig = new Rig(`cn5${tag}`, mode, [RS1, RS2]);
        await rig.serve(config(webService([RS1, RS2])), { timeoutMs: 5_000 });
      });
      after(async () => {
        await holder?.stop();
        await rig?.destroy();
      });

      it('every request on it is answered by the same server on the same local port; new connections go to the remaining backend', async (t: TestContext) => {
        const r = rig!;
        // 5 s per request: room for a loaded machine; a lost flow still shows, as a failure or missing answers.
        holder = r.hold(100, 5_000);
        const [first] = await holder.waitLines(1, 5_000);
        const server = serverNamed(first!.answer);
        const other = server === RS1 ? RS2 : RS1;
        const port = first!.port;
        const dump = (): ReturnType<typeof dumpConfigMaps> => r.withMaps(dumpConfigMaps);

        // (a) SIGKILL: the pinned link and maps go on forwarding without the agent.
        const before = dump();
        await r.killAgent();
        await holder.waitLines(5, 5_000, holder.lines.length);
        const restart = r.events.length;
        const started = await r.startAgent();
        assert.equal(started.operations, 0, `the restarted agent planned writes:\n${r.log()}`);
        const attached = r.events.slice(restart).find((e) => e.event === 'attached');
        assert.equal(attached?.resumed, true, `the restarted agent must take over the pinned link:\n${r.log()}`);
        await holder.waitLines(5, 5_000, holder.lines.length);
        // Also after its loops (neighbours, GC) have run: no re-plan wrote, the config-owned maps are as they were.
        const writes = r.events.slice(restart).filter((e) => e.event === 'reload' && Number(e.operations) > 0);
        assert.deepEqual(writes, [], r.log());
        assert.deepEqual(dump(), before);

        // (b) An unrelated edit.
        await r.reload(config(webService([RS1, RS2]), [DNS_SERVICE]));
        const { answers: dns, failures: dnsFailures } = r.udp(2);
        assert.deepEqual(dnsFailures, []);
        assert.deepEqual([...dns].sort(), [RS1.name, RS2.name]);
        await holder.waitLines(5, 5_000, holder.lines.length);

        // (c) Its backend removed: no new flows to it, the existing one goes on.
        await r.reload(config(webService([other]), [DNS_SERVICE]));
        await r.waitEligible([other.address], 2_000);
        const mark = holder.lines.length;
        const { answers, failures } = r.http(6);
        assert.deepEqual(failures, []);
        assert.deepEqual(answers, Array(6).fill(other.name));
        // About a second of requests since: several GC passes (gc_interval 500 ms) with the backend gone.
        await holder.waitLines(10, 5_000, mark);
        assert.ok(
          r.flows().some((f) => f.backend === server.address && f.clientPort === port),
          `the held flow to the removed ${server.name} is in lb_ct: ${JSON.stringify(r.flows())}`,
        );
        const all = await holder.stop();
        assertHeldBy(all, server.name, port, 'held connection');
        const longest = Math.max(...all.slice(1).map((l, i) => l.at - all[i]!.at));
        t.diagnostic(`${all.length} requests on one connection to ${server.name}, longest wait between answers ${longest} ms`);
      });
    });
  }

  for (const [tag, mode] of MODES) {
    describe(`8. many clients: 200 concurrent connections, their expiry, and a SNAT pool too small (${mode} XDP)`, () => {
      const COUNT = 200;
      const TCP_CLOSING_MS = 1_000;
      const POOL = 4;
      const POOL_LOW = 10_000;
      // Long enough for the refused client below to give up while the pool's flows still hold it.
      const TCP_ESTABLISHED_MS = 5_000;
      let rig: Rig | undefined;
      const clients: Holder[] = [];
      before(async () => {
        rig = new Rig(`cn8${tag}`, mode, [RS1, RS2]);
        await rig.serve(
          baseConfig(mode, [webService([RS1, RS2])], {
            conntrack: { timeouts: { tcp_closing: `${TCP_CLOSING_MS}ms` }, gc_interval: `${GC_MS}ms` },
          }),
          { timeoutMs: 5_000 },
        );
      });
      after(async () => {
        for (const client of clients) await client.stop();
        await rig?.destroy();
      });

      it(`${COUNT} connections opened at once all succeed, each with a flow and a SNAT tuple of its own; closed, they expire after tcp_closing`, async (t: TestContext) => {
        const r = rig!;
        const { opened, client } = await openConnections(r, COUNT, 8_000, clients);
        assert.deepEqual(opened.failures, []);
        assert.equal(opened.answers.length, COUNT);
        assert.equal(new Set(opened.ports).size, COUNT, `local ports: ${JSON.stringify(opened.ports)}`);
        const answered = countBy(opened.answers, (a) => a);
        t.diagnostic(`answers per server: ${JSON.stringify(answered)}`);
        // Strict round robin: one shared counter, whatever CPU took the SYN.
        assert.deepEqual(answered, { [RS1.name]: COUNT / 2, [RS2.name]: COUNT / 2 });

        const { flows, tuples } = tcpTables(r);
        assert.equal(flows.length, COUNT, `lb_ct: ${JSON.stringify(flows)}`);
        assert.equal(tuples.length, COUNT, `lb_snat: ${JSON.stringify(tuples)}`);
        assert.deepEqual(flows.map((f) => f.clientPort).sort(), [...opened.ports].sort(), 'one flow per client connection');
        assert.deepEqual(countBy(flows, (f) => f.backend), { [RS1.address]: COUNT / 2, [RS2.address]: COUNT / 2 });
        const tupleId = (x: { snatIp: string; snatPort: number; backend: string }): string => `${x.snatIp}:${x.snatPort}>${x.backend}`;
        assert.equal(new Set(tuples.map(tupleId)).size, COUNT, 'SNAT tuples pairwise distinct');
        for (const backend of [RS1.address, RS2.address]) {
          const ports = tuples.filter((x) => x.backend === backend).map((x) => x.snatPort);
          assert.equal(new Set(ports).size, ports.length, `SNAT ports towards ${backend} distinct: ${JSON.stringify(ports)}`);
        }
        // Each flow's tuple is in lb_snat, owned by that flow, from the configured address and pool.
        const byTuple = new Map(tuples.map((x) => [tupleId(x), x]));
        for (const flow of flows) {
          const tuple = byTuple.get(tupleId(flow));
          assert.equal(tuple?.ownerClientPort, flow.clientPort, `lb_snat entry of ${JSON.stringify(flow)}: ${JSON.stringify(tuple)}`);
          assert.equal(tuple.backendPort, 80);
          assert.equal(flow.snatIp, SNAT);
          assert.ok(flow.snatPort >= 10_000 && flow.snatPort <= 32_767, JSON.stringify(flow));
        }
        assert.ok(flows.every((f) => (f.state & LB_CT_CLOSING_MASK) === 0), `all flows open; flows by state: ${JSON.stringify(countBy(flows, (f) => String(f.state)))}`);

        await client.stop();
        const closed = Date.now();
        // Right after the close the flows are closing, not gone: removing them is the GC's work.
        const closing = tcpTables(r).flows;
        t.diagnostic(`${closing.length} flows in lb_ct right after the close, ${closing.filter((f) => f.state & LB_CT_CLOSING_MASK).length} of them closing`);
        assert.ok(closing.length > 0, 'closed flows are in lb_ct until tcp_closing has passed');
        await waitTcpTablesEmpty(r, 'closed flows', TCP_CLOSING_MS + GC_MS + SLACK_MS + 2_000);
        const gone = Date.now() - closed;
        t.diagnostic(`${COUNT} closed flows gone ${gone} ms after the client closed them`);
        assert.ok(gone <= TCP_CLOSING_MS + GC_MS + SLACK_MS, `closed flows gone ${gone} ms after the close (tcp_closing ${TCP_CLOSING_MS} ms, gc_interval ${GC_MS} ms)`);
      });

      it(`a pool of ${POOL} SNAT ports: the surplus is refused and counted; after tcp_established the pool serves again`, async (t: TestContext) => {
        const r = rig!;
        await r.reload(
          baseConfig(mode, [webService([RS1])], {
            snat: { addresses: [SNAT], ports: `${POOL_LOW}-${POOL_LOW + POOL - 1}` },
            conntrack: { timeouts: { tcp_established: `${TCP_ESTABLISHED_MS}ms`, tcp_closing: `${TCP_CLOSING_MS}ms` }, gc_interval: `${GC_MS}ms` },
          }),
        );
        await r.waitEligible([RS1.address], 2_000);
        const poolPorts = Array.from({ length: POOL }, (_, i) => POOL_LOW + i);

        const opening = Date.now();
        const { opened: holding } = await openConnections(r, POOL, 8_000, clients);
        const filled = Date.now();
        assert.deepEqual(holding.failures, []);
        assert.deepEqual(holding.answers, Array(POOL).fill(RS1.name));
        assert.deepEqual(
          tcpTables(r).tuples.map((x) => x.snatPort).sort(),
          poolPorts,
          'the open connections hold every port of the pool',
        );

        // Two more at once, each given 1.5 s: their SYN and its retransmission after 1 s meet a full pool.
        const exhausted = r.counter('drop_snat_exhausted');
        const { opened: surplus } = await openConnections(r, 2, 1_500, clients);
        const refused = r.counter('drop_snat_exhausted') - exhausted;
        t.diagnostic(`surplus: failures ${JSON.stringify(surplus.failures)}; drop_snat_exhausted +${refused}; ${Date.now() - filled} ms after the pool filled`);
        assert.deepEqual(surplus.answers, []);
        assert.deepEqual(surplus.failures, ['timeout', 'timeout']);
        assert.ok(refused >= 2n, `drop_snat_exhausted grew by ${refused}`);
        const { flows } = tcpTables(r);
        assert.deepEqual(flows.map((f) => f.clientPort).sort(), [...holding.ports].sort(), 'no flow for a refused SYN');

        // The held connections stay idle: past tcp_established the GC frees their tuples.
        await waitTcpTablesEmpty(r, 'idle flows', TCP_ESTABLISHED_MS + GC_MS + SLACK_MS + 2_000);
        // Their last packets went between `opening` and `filled`: bounds on the idle time from below and above.
        const idle = Date.now() - filled;
        t.diagnostic(`idle flows gone ${idle} ms after their last answer`);
        assert.ok(Date.now() - opening >= TCP_ESTABLISHED_MS - 50, `idle established flows removed ${Date.now() - opening} ms after they opened, before tcp_established`);
        assert.ok(idle <= TCP_ESTABLISHED_MS + GC_MS + SLACK_MS, `idle flows gone ${idle} ms after their last answer`);

        // The pool serves again. The server still holds the expired connections (nothing closed them), so
        // a SYN on a reused tuple meets one: the server answers with that connection's ACK (RFC 5961's
        // challenge ACK), the client resets the stale connection with it and sends its SYN again at once
        // (a first SYN; a retransmitted one would wait its timer). 8 s leave room for slower turns.
        const again = Date.now();
        const { opened: recovered } = await openConnections(r, POOL, 8_000, clients);
        t.diagnostic(`after expiry: ${POOL} connections answered in ${Date.now() - again} ms`);
        assert.deepEqual(recovered.failures, []);
        assert.deepEqual(recovered.answers, Array(POOL).fill(RS1.name));
      });
    });
  }
});
