/*
 * The agent's background loops end to end, on the classic Full-NAT segment
 * of demo/topology.ts (a bridge; a client, the balancer and real servers in
 * namespaces of their own), with the real bin/xdp4slb-agent on the balancer
 * and real traffic from the client through the VIP:
 *
 *  1. backend MACs are configured nowhere: the neighbour loop resolves them
 *     and both servers answer, round robin alternating, over TCP and UDP;
 *     then `down` removes the program, the pins and the VIP (generic and native);
 *  2. a server's MAC changes: lb_neigh has the new one within one
 *     refresh_interval, and traffic (new flows and a held one) goes on
 *     (generic and native);
 *  3. conntrack GC: closed TCP flows and idle UDP flows leave lb_ct and
 *     lb_snat after their timeouts, and a pool of 4 SNAT ports serves twice
 *     as many short connections one after the other;
 *  4. health checks: a stopped server leaves the scheduler table within
 *     fall × interval (then zero failures), and comes back after rise × interval
 *     (generic and native);
 *  5. `state: draining`: a held keep-alive connection goes on with its server,
 *     new connections go to the other;
 *  6. `state: disabled`: the GC removes the backend's flows from lb_ct and
 *     lb_snat, and leaves the other backend's alone.
 *
 * Each case builds its own Rig (test/support/traffic-rig.ts: topology, servers,
 * agent, pin path) and removes it in after(), also when it fails.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it, type TestContext } from 'node:test';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/datapath/codecs.js';
import type { TestConfig } from '../support/desired-config.js';
import {
  GC_MS,
  Holder,
  REFRESH_MS,
  RS1,
  RS2,
  Rig,
  SLACK_MS,
  SNAT,
  VIP,
  assertAlternating,
  assertHeldBy,
  baseConfig,
  dnsService,
  serverNamed,
  webService,
  type Server,
} from '../support/traffic-rig.js';

describe('agent loops end to end', { timeout: 180_000 }, () => {
  for (const [tag, mode] of [
    ['mg', 'generic'],
    ['mn', 'native'],
  ] as const) {
    describe(`1. backend MACs configured nowhere are resolved and served (${mode} XDP)`, () => {
      let rig: Rig | undefined;
      before(async () => {
        rig = new Rig(tag, mode, [RS1, RS2]);
        await rig.serve(baseConfig(mode, [webService([RS1, RS2]), dnsService([RS1, RS2])]), { eligible: [] });
      });
      after(() => rig?.destroy());

      it('lb_neigh holds each server\'s MAC as the kernel has it, and both take flows', async () => {
        const r = rig!;
        const attached = r.events.find((e) => e.event === 'attached');
        assert.equal(attached?.mode, mode, r.log());
        const link = r.topo.ip('lb', '-d', 'link', 'show', 'dev', 'eth0');
        // Both modes list the program as prog/xdp; the generic one flags the link xdpgeneric.
        assert.match(link, /prog\/xdp id \d+ name lb_xdp/, link);
        if (mode === 'native') assert.doesNotMatch(link, /xdpgeneric/, link);
        else assert.match(link, /xdpgeneric/, link);
        for (const server of [RS1, RS2]) {
          const mac = r.macOf(server.host);
          await r.waitUntil(`lb_neigh[${server.address}] = ${mac}`, () => r.neighbor(server.address) === mac, 5_000, () => `lb_neigh: ${r.neighbor(server.address)}`);
        }
        await r.waitEligible([RS1.address, RS2.address], 5_000);
      });

      it('HTTP through the VIP is answered by both servers, alternating', () => {
        const { answers, failures } = rig!.http(6);
        assert.deepEqual(failures, []);
        assertAlternating(answers, [RS1.name, RS2.name]);
      });

      it('UDP through the VIP is answered by both servers, alternating', () => {
        const { answers, failures } = rig!.udp(6);
        assert.deepEqual(failures, []);
        assertAlternating(answers, [RS1.name, RS2.name]);
      });

      it('down removes the XDP program, the pins and the VIP address', async () => {
        const r = rig!;
        await r.stopAgent();
        assert.match(r.topo.ip('lb', 'link', 'show', 'dev', 'eth0'), /xdp/, 'a stopped agent leaves the datapath forwarding');
        assert.match(r.topo.ip('lb', '-4', '-o', 'addr', 'show', 'dev', 'eth0'), new RegExp(`${VIP.replaceAll('.', '\\.')}/32`));
        const res = r.down();
        assert.equal(res.status, 0, res.stderr);
        assert.doesNotMatch(r.topo.ip('lb', 'link', 'show', 'dev', 'eth0'), /xdp/);
        assert.ok(!fs.existsSync(r.pinPath), `${r.pinPath} is left`);
        const addresses = r.topo.ip('lb', '-4', '-o', 'addr', 'show', 'dev', 'eth0');
        assert.doesNotMatch(addresses, new RegExp(`${VIP.replaceAll('.', '\\.')}/`), addresses);
        assert.match(addresses, /198\.18\.0\.1\/24/, 'the host\'s own address stays');
      });
    });
  }

  for (const mode of ['generic', 'native'] as const) {
    describe(`2. a changed backend MAC is picked up within one refresh interval (${mode} XDP)`, () => {
      let rig: Rig | undefined;
      let holder: Holder | undefined;
      before(async () => {
        rig = new Rig(`mac${mode[0]}`, mode, [RS1, RS2]);
        await rig.serve(baseConfig(mode, [webService([RS1, RS2])]), { timeoutMs: 5_000 });
      });
      after(async () => {
        await holder?.stop();
        await rig?.destroy();
      });

      it('lb_neigh gets the new MAC; new flows and a held connection to that server go on', async (t: TestContext) => {
        const r = rig!;
        // A keep-alive connection, each request with room for TCP to retransmit across the change.
        holder = r.hold(100, 8_000);
        const [first] = await holder.waitLines(1, 5_000);
        const server = serverNamed(first!.answer);
        const port = first!.port;
        const old = r.macOf(server.host);
        assert.equal(r.neighbor(server.address), old);
        const fresh = old === '02:00:c6:12:00:42' ? '02:00:c6:12:00:43' : '02:00:c6:12:00:42';

        const changed = Date.now();
        r.topo.ip(server.host, 'link', 'set', 'dev', 'eth0', 'address', fresh);
        assert.equal(r.macOf(server.host), fresh);
        const took = await r.waitUntil(`lb_neigh[${server.address}] = ${fresh}`, () => r.neighbor(server.address) === fresh, REFRESH_MS + SLACK_MS + 1_000, () =>
          `lb_neigh: ${r.neighbor(server.address)}`,
        );
        t.diagnostic(`new MAC in lb_neigh ${took} ms after the change`);
        // One refresh starts at most one interval after the change, then waits 100 ms for ARP answers.
        assert.ok(took <= REFRESH_MS + SLACK_MS, `new MAC in lb_neigh after ${took} ms, refresh_interval is ${REFRESH_MS} ms`);

        const { answers, failures } = r.http(6);
        assert.deepEqual(failures, []);
        assertAlternating(answers, [RS1.name, RS2.name]);

        // The held flow follows the new MAC too (looked up per packet): it answers again, on the same connection.
        const from = holder.lines.findIndex((l) => l.at >= changed + took);
        const later = await holder.waitLines(5, 10_000, from < 0 ? holder.lines.length : from);
        assertHeldBy(later, server.name, port, 'held connection after the MAC change');
        const all = await holder.stop();
        assertHeldBy(all, server.name, port, 'held connection throughout');
        const longest = Math.max(...all.slice(1).map((l, i) => l.at - all[i]!.at));
        t.diagnostic(`held connection: longest wait between answers ${longest} ms (TCP retransmitting across the change)`);
      });
    });
  }

  describe('3. conntrack GC: closed and idle flows expire from lb_ct and lb_snat, their SNAT ports are reused', () => {
    const TCP_CLOSING_MS = 1_000;
    const UDP_MS = 2_000;
    const PORTS = 4;
    let rig: Rig | undefined;
    const config = (): TestConfig =>
      baseConfig(
        'generic',
        [
          webService([RS1]),
          dnsService([RS1]),
        ],
        {
          snat: { addresses: [SNAT], ports: `10000-${10000 + PORTS - 1}`, reuse_after: '300ms' },
          conntrack: { timeouts: { tcp_syn: '2s', tcp_closing: `${TCP_CLOSING_MS}ms`, udp: `${UDP_MS}ms` }, gc_interval: `${GC_MS}ms` },
        },
      );
    before(async () => {
      rig = new Rig('gc', 'generic', [RS1]);
      await rig.serve(config(), { timeoutMs: 5_000 });
    });
    after(() => rig?.destroy());

    const ofProto = <T extends { proto: number }>(rows: T[], proto: number): T[] => rows.filter((r) => r.proto === proto);

    it(`${2 * PORTS} short TCP connections one after the other through ${PORTS} SNAT ports all succeed; their flows then expire`, async (t: TestContext) => {
      const r = rig!;
      const count = 2 * PORTS;
      const exhaustedBefore = r.counter('drop_snat_exhausted');
      const started = Date.now();
      // Room for SYN retransmissions (1 s, then 2 s more): a SYN meeting only tuples closed less than
      // reuse_after ago is dropped (and retransmitted after 1 s); a SYN on a tuple the server still
      // holds in TIME_WAIT is refused about half the time, since Linux clients randomise TCP
      // timestamps per connection (tcp_timestamps = 1): the server answers with the old
      // connection's ACK, the client resets it and sends the SYN again — at once for a first SYN,
      // 2 s later for a retransmitted one.
      const { answers, failures } = r.http(count, 8_000);
      const ended = Date.now();
      assert.deepEqual(failures, []);
      assert.deepEqual(answers, Array(count).fill(RS1.name));
      t.diagnostic(
        `${count} connections in ${ended - started} ms; drop_snat_exhausted +${r.counter('drop_snat_exhausted') - exhaustedBefore} (SYNs retransmitted until a closed tuple was reusable)`,
      );
      const tuples = ofProto(r.tuples(), IPPROTO_TCP);
      assert.ok(tuples.length >= 1 && tuples.length <= PORTS, `lb_snat: ${JSON.stringify(tuples)}`);
      for (const tuple of tuples) assert.ok(tuple.snatPort >= 10000 && tuple.snatPort < 10000 + PORTS, JSON.stringify(tuple));
      // The last flow is closed, not yet past tcp_closing: the GC, not the datapath, is what removes it.
      assert.ok(ofProto(r.flows(), IPPROTO_TCP).length >= 1, 'the closed flows are in lb_ct until they expire');
      const gone = await r.waitUntil(
        'closed TCP flows gone from lb_ct and lb_snat',
        () => ofProto(r.flows(), IPPROTO_TCP).length === 0 && ofProto(r.tuples(), IPPROTO_TCP).length === 0,
        TCP_CLOSING_MS + GC_MS + SLACK_MS + 1_000,
        () => `lb_ct: ${JSON.stringify(r.flows())}; lb_snat: ${JSON.stringify(r.tuples())}`,
      );
      const since = Date.now() - ended;
      t.diagnostic(`closed TCP flows gone ${since} ms after the last connection`);
      assert.ok(since <= TCP_CLOSING_MS + GC_MS + SLACK_MS, `closed TCP flows gone ${since} ms after the last connection (waited ${gone} ms)`);
    });

    it(`idle UDP flows expire after the udp timeout, and free their ${PORTS} SNAT tuples for new flows`, async (t: TestContext) => {
      const r = rig!;
      const sending = Date.now();
      const first = r.udp(PORTS);
      const asked = Date.now();
      assert.deepEqual(first.failures, []);
      assert.deepEqual(first.answers, Array(PORTS).fill(RS1.name));
      // One flow per datagram (a new client port each), each with its own tuple: the pool is full.
      assert.equal(ofProto(r.flows(), IPPROTO_UDP).length, PORTS, JSON.stringify(r.flows()));
      assert.equal(ofProto(r.tuples(), IPPROTO_UDP).length, PORTS, JSON.stringify(r.tuples()));
      await r.waitUntil(
        'idle UDP flows gone from lb_ct and lb_snat',
        () => ofProto(r.flows(), IPPROTO_UDP).length === 0 && ofProto(r.tuples(), IPPROTO_UDP).length === 0,
        UDP_MS + GC_MS + SLACK_MS + 1_000,
        () => `lb_ct: ${JSON.stringify(r.flows())}; lb_snat: ${JSON.stringify(r.tuples())}`,
      );
      // The last datagram went between `sending` and `asked`: bounds on its idle time from below and above.
      const now = Date.now();
      t.diagnostic(`idle UDP flows gone ${now - asked} ms after the last answer`);
      assert.ok(now - sending >= UDP_MS - 50, `UDP flows removed at most ${now - sending} ms after their last packet, before the udp timeout (${UDP_MS} ms)`);
      assert.ok(now - asked <= UDP_MS + GC_MS + SLACK_MS, `UDP flows removed ${now - asked} ms after their last packet`);

      // The freed tuples serve as many new flows again.
      const second = r.udp(PORTS);
      assert.deepEqual(second.failures, []);
      assert.deepEqual(second.answers, Array(PORTS).fill(RS1.name));
      const again = Date.now();
      await r.waitUntil(
        'lb_ct and lb_snat empty',
        () => r.flows().length === 0 && r.tuples().length === 0,
        UDP_MS + GC_MS + SLACK_MS + 1_000,
        () => `lb_ct: ${JSON.stringify(r.flows())}; lb_snat: ${JSON.stringify(r.tuples())}`,
      );
      t.diagnostic(`tables empty ${Date.now() - again} ms after the second UDP round`);
    });
  });

  for (const mode of ['generic', 'native'] as const) {
    describe(`4. health checks: a stopped server stops taking new connections, and takes them again after restart (${mode} XDP)`, () => {
      const INTERVAL_MS = 300;
      const RISE = 2;
      const FALL = 2;
      let rig: Rig | undefined;
      before(async () => {
        rig = new Rig(`hc${mode[0]}`, mode, [RS1, RS2]);
        const healthCheck = { type: 'http', port: 80, path: '/healthz', expect_status: 200, interval: `${INTERVAL_MS}ms`, timeout: '200ms', rise: RISE, fall: FALL };
        await rig.serve(baseConfig(mode, [webService([RS1, RS2], { health_check: healthCheck })]), { timeoutMs: 5_000 });
      });
      after(() => rig?.destroy());

      it(`out within fall × interval (${FALL} × ${INTERVAL_MS} ms), then every request goes to the other server`, async (t: TestContext) => {
        const r = rig!;
        const before = r.http(4);
        assert.deepEqual(before.failures, []);
        assertAlternating(before.answers, [RS1.name, RS2.name]);
        await r.killServer(RS2);
        const took = await r.waitEligible([RS1.address], FALL * INTERVAL_MS + SLACK_MS + 2_000);
        t.diagnostic(`rs-2 out of the table ${took} ms after its server stopped`);
        assert.ok(took <= FALL * INTERVAL_MS + SLACK_MS, `rs-2 left the table ${took} ms after it stopped`);
        // The log line may arrive a moment after the table changed (the agent's stdout is read asynchronously).
        await r.waitFor((e) => e.event === 'health' && e.backend === `${RS2.address}:80` && e.healthy === false, 2_000);
        const { answers, failures } = r.http(8);
        assert.deepEqual(failures, []);
        assert.deepEqual(answers, Array(8).fill(RS1.name));
      });

      it(`back within rise × interval (${RISE} × ${INTERVAL_MS} ms) of a restart, and served again`, async (t: TestContext) => {
        const r = rig!;
        await r.startServer(RS2);
        const took = await r.waitEligible([RS1.address, RS2.address], RISE * INTERVAL_MS + SLACK_MS + 2_000);
        t.diagnostic(`rs-2 back in the table ${took} ms after its server listened again`);
        assert.ok(took <= RISE * INTERVAL_MS + SLACK_MS, `rs-2 came back ${took} ms after it listened again`);
        const { answers, failures } = r.http(6);
        assert.deepEqual(failures, []);
        assertAlternating(answers, [RS1.name, RS2.name]);
      });
    });
  }

  describe('5. draining keeps an open connection working while new ones go elsewhere', () => {
    let rig: Rig | undefined;
    let holder: Holder | undefined;
    before(async () => {
      rig = new Rig('dr', 'generic', [RS1, RS2]);
      await rig.serve(baseConfig('generic', [webService([RS1, RS2])]), { timeoutMs: 5_000 });
    });
    after(async () => {
      await holder?.stop();
      await rig?.destroy();
    });

    it('the held keep-alive connection stays with the draining server; new connections all go to the other', async () => {
      const r = rig!;
      holder = r.hold(100);
      const [first] = await holder.waitLines(1, 5_000);
      const draining = serverNamed(first!.answer);
      const other = draining === RS1 ? RS2 : RS1;
      const port = first!.port;

      const mark = holder.lines.length;
      await r.reload(baseConfig('generic', [webService([RS1, RS2], {}, { [draining.address]: 'draining' })]));
      await r.waitEligible([other.address], 2_000);
      const { answers, failures } = r.http(6);
      assert.deepEqual(failures, []);
      assert.deepEqual(answers, Array(6).fill(other.name));
      // About a second of requests on the held connection since the edit.
      await holder.waitLines(10, 5_000, mark);
      assert.ok(
        r.flows().some((f) => f.backend === draining.address && f.clientPort === port),
        `the held flow to ${draining.name} is in lb_ct: ${JSON.stringify(r.flows())}`,
      );
      assertHeldBy(await holder.stop(), draining.name, port, 'held connection');
    });
  });

  describe('6. state: disabled removes the backend\'s flows at the next GC pass', () => {
    let rig: Rig | undefined;
    const holders: Holder[] = [];
    before(async () => {
      rig = new Rig('ds', 'generic', [RS1, RS2]);
      await rig.serve(baseConfig('generic', [webService([RS1, RS2])]), { timeoutMs: 5_000 });
    });
    after(async () => {
      for (const holder of holders) await holder.stop();
      await rig?.destroy();
    });

    it('lb_ct and lb_snat lose the disabled backend\'s flows; the other backend\'s flow and new connections go on', async (t: TestContext) => {
      const r = rig!;
      // Two held connections: round robin puts them on different servers.
      const a = r.hold(100);
      holders.push(a);
      const [firstA] = await a.waitLines(1, 5_000);
      const b = r.hold(100);
      holders.push(b);
      const [firstB] = await b.waitLines(1, 5_000);
      const disabled = serverNamed(firstA!.answer);
      const kept = serverNamed(firstB!.answer);
      assert.notEqual(disabled, kept, 'round robin put both held connections on one server');
      // Some short flows to the disabled server as well: closed ones, held until tcp_closing.
      r.http(2);
      const flowsTo = (s: Server): number => r.flows().filter((f) => f.backend === s.address).length;
      const tuplesTo = (s: Server): number => r.tuples().filter((f) => f.backend === s.address).length;
      assert.ok(flowsTo(disabled) >= 2 && tuplesTo(disabled) >= 2, `lb_ct: ${JSON.stringify(r.flows())}; lb_snat: ${JSON.stringify(r.tuples())}`);

      const dropsBefore = r.counter('drop_no_conntrack');
      await r.reload(baseConfig('generic', [webService([RS1, RS2], {}, { [disabled.address]: 'disabled' })]));
      const applied = Date.now();
      await r.waitEligible([kept.address], 2_000);
      const took = await r.waitUntil(
        `no flow or tuple to ${disabled.address}`,
        () => flowsTo(disabled) === 0 && tuplesTo(disabled) === 0,
        GC_MS + SLACK_MS + 2_000,
        () => `lb_ct: ${JSON.stringify(r.flows())}; lb_snat: ${JSON.stringify(r.tuples())}`,
      );
      t.diagnostic(`flows to ${disabled.name} gone ${Date.now() - applied} ms after the reload`);
      assert.ok(took <= GC_MS + SLACK_MS, `flows to the disabled backend gone ${took} ms after the reload (gc_interval ${GC_MS} ms)`);
      assert.ok(flowsTo(kept) >= 1, `the flow to ${kept.name} must stay: ${JSON.stringify(r.flows())}`);

      // The purged flow is gone from the datapath: its next packets are dropped as having no conntrack entry.
      await r.waitUntil('drop_no_conntrack counts the purged flow\'s packets', () => r.counter('drop_no_conntrack') > dropsBefore, 3_000);

      const mark = b.lines.length;
      const { answers, failures } = r.http(4);
      assert.deepEqual(failures, []);
      assert.deepEqual(answers, Array(4).fill(kept.name));
      await b.waitLines(5, 5_000, mark);
      assertHeldBy(await b.stop(), kept.name, firstB!.port, `held connection to ${kept.name}`);
    });
  });
});
