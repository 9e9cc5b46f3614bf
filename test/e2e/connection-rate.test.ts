/*
 * Case 10 of the end-to-end suite: connection rate. One client opens short
 * connections (keep-alive off) as fast as it can for 30 s through a service
 * with two backends and the default SNAT pool (one address, ports
 * 10000-32767, default reuse_after and timeouts). Every connection must
 * succeed, there must have been many, and both backends must have taken
 * their share. The figure itself (connections/s) is bench/connection-rate-bench.ts's.
 *
 * At this rate SNAT tuples are reused while the servers still hold the
 * previous connection on them in TIME_WAIT: the zero-failure assertion is
 * what shows the balancer's allocation copes with it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runConnectionRate, type RateOutcome } from '../support/connection-rate.js';
import { RS1, RS2, Rig, SNAT, baseConfig, webService } from '../support/traffic-rig.js';

const SECONDS = 30;
const CONCURRENCY = 8;
/** Far below what even the slower generic mode reaches here (bench: BENCHMARKS.md), far above what a stalled run would reach. */
const AT_LEAST = 3_000;

for (const [tag, mode] of [
  ['rtn', 'native'],
  ['rtg', 'generic'],
] as const) {
  describe(`10. connection rate: short connections for ${SECONDS} s through one SNAT address (${mode} XDP)`, { timeout: (SECONDS + 60) * 1_000 }, () => {
    let rig: Rig | undefined;
    let outcome: RateOutcome | undefined;
    before(async () => {
      const r = (rig = new Rig(tag, mode, [RS1, RS2]));
      // The default snat.ports (10000-32767), reuse_after and timeouts: only the address is given.
      await r.serve(baseConfig(mode, [webService([RS1, RS2])], { snat: { addresses: [SNAT] } }));
      outcome = await runConnectionRate(r, SECONDS, CONCURRENCY);
    });
    after(() => rig?.destroy());

    it('no connection failed, and no new flow was refused for want of a backend, a MAC, a SNAT tuple or table space', (t) => {
      const o = outcome!;
      t.diagnostic(`${o.connections} connections in ${o.seconds} s; ${o.slow} took a second or more (a SYN retransmission), the slowest ${o.slowestMs} ms`);
      assert.equal(o.failed, 0, `failed connections: ${JSON.stringify(o)}`);
      // drop_no_conntrack is left out: a straggler of a closed flow is rightly dropped and counted.
      for (const name of ['drop_no_backend', 'drop_no_mac', 'drop_snat_exhausted', 'drop_conntrack_full']) {
        assert.equal(o.counters[name], 0, `${name}: ${JSON.stringify(o)}`);
      }
    });

    it(`the connections were many (at least ${AT_LEAST}) and split over both backends`, () => {
      const o = outcome!;
      assert.ok(o.connections >= AT_LEAST, `${o.connections} connections in ${o.seconds} s`);
      const flows = [RS1, RS2].map((s) => o.newFlows[s.address] ?? 0);
      // Round robin: each backend takes half the new flows (give or take the client's own retries).
      for (const f of flows) assert.ok(f >= o.connections * 0.4, `new flows per backend ${JSON.stringify(o.newFlows)} of ${o.connections} connections`);
    });
  });
}
