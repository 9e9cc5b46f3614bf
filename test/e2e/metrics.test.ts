/*
 * The agent's Prometheus endpoint end to end, on the classic Full-NAT
 * segment (test/support/traffic-rig.ts): the real bin/xdp4slb-agent on the
 * balancer, real servers and a real client, and scrapes with curl from
 * inside the balancer's namespace, where metrics.listen (127.0.0.1:9740) is.
 *
 *  1. counters move with the traffic sent: N UDP datagrams (one packet in,
 *     one answer out each, one flow each) show up exactly, per backend, in
 *     packets, bytes and new flows; HTTP requests as new flows; the GC's
 *     active connections and SNAT tuples match the flows left;
 *  2. health, MAC resolution, weight, admin state and the attachment;
 *  3. reloads: an applied edit and a rejected one are counted, the live
 *     config's hash follows the applied one only; a new metrics.listen is
 *     served at once, and one that is not the host's is logged;
 *  4. an agent whose metrics port is already taken logs it, balances all
 *     the same, and serves metrics after the next reload once it is free.
 *
 * Each case builds its own Rig and removes it in after(), also on failure.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { TestConfig } from '../support/desired-config.js';
import { parseExposition, select, value, type Exposition } from '../support/prometheus-text.js';
import { DNS_PORT, GC_MS, RS1, RS2, Rig, SLACK_MS, SNAT, VIP, assertAlternating, baseConfig, dnsService, webService, type Server } from '../support/traffic-rig.js';

const METRICS_PORT = 9740;

/* A datagram of the traffic client ("ping") and a server's answer ("rs-N\n"), as the datapath counts them: Ethernet + IPv4 + UDP + payload. */
const FRAME_OVERHEAD = 14 + 20 + 8;
const QUESTION_BYTES = FRAME_OVERHEAD + 'ping'.length;
const ANSWER_BYTES = FRAME_OVERHEAD + 'rs-1\n'.length;

function config(extra: { rs2State?: 'active' | 'draining'; listen?: string } = {}): TestConfig {
  const web = webService([RS1, RS2], { health_check: { type: 'tcp', interval: '500ms', timeout: '400ms', rise: 1, fall: 2 } }, extra.rs2State ? { [RS2.address]: extra.rs2State } : {});
  return baseConfig('generic', [web, dnsService([RS1, RS2])], extra.listen ? { metrics: { listen: extra.listen } } : {});
}

/** GET /metrics from inside the balancer's namespace; the curl result as is. */
function fetchMetrics(rig: Rig, port = METRICS_PORT): { status: number | null; stdout: string; stderr: string } {
  return rig.topo.exec('lb', 'curl', ['-sS', '--fail', '--max-time', '10', `http://127.0.0.1:${port}/metrics`], 15_000);
}

function scrape(rig: Rig, port = METRICS_PORT): Exposition {
  const res = fetchMetrics(rig, port);
  assert.equal(res.status, 0, `curl :${port}/metrics: ${res.stderr}\nagent events:\n${rig.log()}`);
  return parseExposition(res.stdout);
}

/** How many answers each server gave. */
function tally(answers: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of answers) out.set(a, (out.get(a) ?? 0) + 1);
  return out;
}

const be = (service: string, server: Server, port: number): Record<string, string> => ({ service, backend: `${server.address}:${port}` });

/** The hash label of the one xdp4slb_config_info series. */
function liveHash(e: Exposition): string {
  const series = select(e, 'xdp4slb_config_info');
  assert.equal(series.length, 1, JSON.stringify(series));
  return series[0]!.labels['hash']!;
}

/** Events of applied (or rejected) reloads of the file, as logged. */
function fileReloads(rig: Rig, result: string): number {
  return rig.events.filter((e) => e.event === 'reload' && e.reason === 'file-changed' && e.result === result).length;
}

describe('metrics end to end', { timeout: 180_000 }, () => {
  describe('a running agent with traffic', () => {
    let rig: Rig | undefined;
    before(async () => {
      rig = new Rig('me1', 'generic', [RS1, RS2]);
      await rig.serve(config());
      await rig.waitUntil('dns eligible', () => rig!.eligible('dns').length === 2, 10_000);
    });
    after(() => rig?.destroy());

    it('1. UDP datagrams are counted exactly per backend, in and out; HTTP requests as new flows', async (t: TestContext) => {
      const r = rig!;
      const before = scrape(r);
      const N = 10;
      const udp = r.udp(N);
      assert.deepEqual(udp.failures, []);
      const http = r.http(6);
      assert.deepEqual(http.failures, []);
      assertAlternating(http.answers, [RS1.name, RS2.name]);
      const started = Date.now();
      const afterTraffic = scrape(r);
      t.diagnostic(`scrape took ${Date.now() - started} ms`);
      const delta = (name: string, labels: Record<string, string>): number => value(afterTraffic, name, labels) - value(before, name, labels);

      const udpBy = tally(udp.answers);
      assert.equal([...udpBy.values()].reduce((a, b) => a + b, 0), N);
      for (const server of [RS1, RS2]) {
        const n = udpBy.get(server.name) ?? 0;
        const labels = be('dns', server, DNS_PORT);
        assert.equal(delta('xdp4slb_backend_packets_total', { ...labels, direction: 'in' }), n, `${server.name} packets in`);
        assert.equal(delta('xdp4slb_backend_packets_total', { ...labels, direction: 'out' }), n, `${server.name} packets out`);
        assert.equal(delta('xdp4slb_backend_bytes_total', { ...labels, direction: 'in' }), n * QUESTION_BYTES, `${server.name} bytes in`);
        assert.equal(delta('xdp4slb_backend_bytes_total', { ...labels, direction: 'out' }), n * ANSWER_BYTES, `${server.name} bytes out`);
        assert.equal(delta('xdp4slb_backend_new_flows_total', labels), n, `${server.name} new flows`);
      }
      assert.equal(delta('xdp4slb_service_packets_total', { service: 'dns', direction: 'in' }), N);
      assert.equal(delta('xdp4slb_service_packets_total', { service: 'dns', direction: 'out' }), N);
      assert.equal(delta('xdp4slb_service_new_flows_total', { service: 'dns' }), N);

      const httpBy = tally(http.answers);
      for (const server of [RS1, RS2]) {
        const labels = be('web', server, 80);
        assert.equal(delta('xdp4slb_backend_new_flows_total', labels), httpBy.get(server.name), `${server.name} HTTP flows`);
        // A TCP exchange is several packets each way: at least SYN, request, FIN and their answers.
        assert.ok(delta('xdp4slb_backend_packets_total', { ...labels, direction: 'in' }) >= 3 * httpBy.get(server.name)!);
        assert.ok(delta('xdp4slb_backend_packets_total', { ...labels, direction: 'out' }) >= 3 * httpBy.get(server.name)!);
      }
      assert.equal(delta('xdp4slb_service_new_flows_total', { service: 'web' }), 6);
      assert.equal(delta('xdp4slb_packets_dropped_total', { reason: 'no_backend' }), 0);

      // The UDP flows stay in conntrack for conntrack.timeouts.udp (30 s): a GC pass that started after the traffic counts them.
      const runs = value(afterTraffic, 'xdp4slb_conntrack_gc_runs_total');
      let late = afterTraffic;
      await r.waitUntil('two more GC passes', () => value((late = scrape(r)), 'xdp4slb_conntrack_gc_runs_total') >= runs + 2, 4 * GC_MS + SLACK_MS + 2_000);
      for (const server of [RS1, RS2]) {
        assert.equal(value(late, 'xdp4slb_backend_active_connections', be('dns', server, DNS_PORT)), udpBy.get(server.name) ?? 0, `${server.name} UDP flows`);
      }
      assert.equal(value(late, 'xdp4slb_service_active_connections', { service: 'dns' }), N);
      const flows = r.flows().length;
      assert.ok(value(late, 'xdp4slb_conntrack_entries') >= N, 'conntrack entries');
      assert.ok(value(late, 'xdp4slb_conntrack_entries') <= flows + 6, `conntrack entries ${value(late, 'xdp4slb_conntrack_entries')} vs ${flows} in lb_ct`);
      assert.ok(value(late, 'xdp4slb_snat_ports_in_use', { address: SNAT }) >= N, 'SNAT tuples in use');
      assert.equal(value(late, 'xdp4slb_conntrack_capacity'), r.withMaps((m) => m.map('lb_ct').maxEntries));
      assert.equal(value(late, 'xdp4slb_snat_pool_ports'), 32767 - 10000 + 1);
    });

    it('2. health, MAC resolution, weight and admin state per backend; the attachment', () => {
      const r = rig!;
      const e = scrape(r);
      for (const server of [RS1, RS2]) {
        assert.equal(value(e, 'xdp4slb_backend_health', { ...be('web', server, 80), state: 'healthy' }), 1, `${server.name} web health`);
        assert.equal(value(e, 'xdp4slb_backend_health', { ...be('dns', server, DNS_PORT), state: 'unchecked' }), 1, `${server.name} dns health`);
        assert.equal(value(e, 'xdp4slb_backend_mac_resolved', be('web', server, 80)), 1);
        assert.equal(value(e, 'xdp4slb_backend_weight', be('web', server, 80)), 1);
        assert.deepEqual(select(e, 'xdp4slb_backend_admin_state', be('web', server, 80)).map((s) => [s.labels['state'], s.value]), [['active', 1]]);
      }
      const link = r.topo.ip('lb', '-d', 'link', 'show', 'dev', 'eth0');
      const progId = /prog\/xdp id (\d+)/.exec(link)?.[1];
      assert.ok(progId, link);
      assert.equal(value(e, 'xdp4slb_datapath_info', { interface: 'eth0', mode: 'generic', configured_mode: 'generic', program_id: progId }), 1);
      assert.equal(value(e, 'xdp4slb_service_info', { service: 'dns', vip: VIP, port: String(DNS_PORT), protocol: 'udp', scheduler: 'round_robin' }), 1);
    });

    it('2b. only GET and HEAD of /metrics are served', () => {
      const r = rig!;
      const status = (...args: string[]): string => r.topo.exec('lb', 'curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', ...args]).stdout;
      assert.equal(status(`http://127.0.0.1:${METRICS_PORT}/`), '404');
      assert.equal(status('-X', 'POST', `http://127.0.0.1:${METRICS_PORT}/metrics`), '405');
      assert.equal(status('-I', `http://127.0.0.1:${METRICS_PORT}/metrics`), '200');
    });

    it('3. an applied edit and a rejected one are counted; the hash follows the live config; a new listen address is served', async () => {
      const r = rig!;
      const start = scrape(r);
      assert.equal(value(start, 'xdp4slb_config_reloads_total', { result: 'applied', reason: 'start' }), 1);
      assert.equal(value(start, 'xdp4slb_config_last_reload_successful'), 1);
      const firstHash = liveHash(start);
      const operationsBefore = value(start, 'xdp4slb_config_operations_applied_total');

      const editedAt = Date.now() / 1000;
      const applied = await r.reload(config({ rs2State: 'draining' }));
      const e1 = scrape(r);
      assert.equal(value(e1, 'xdp4slb_config_reloads_total', { result: 'applied', reason: 'file-changed' }), fileReloads(r, 'applied'));
      assert.ok(fileReloads(r, 'applied') >= 1);
      assert.equal(value(e1, 'xdp4slb_config_last_reload_successful'), 1);
      assert.ok(value(e1, 'xdp4slb_config_last_reload_success_timestamp_seconds') >= Math.floor(editedAt));
      assert.ok(value(e1, 'xdp4slb_config_operations_applied_total') >= operationsBefore + (applied.operations as number));
      assert.ok((applied.operations as number) > 0);
      // The digest is recorded (lb_agent_run) once the reload's event-loop turn is over: poll briefly.
      let secondHash = liveHash(e1);
      await r.waitUntil('a new config hash', () => (secondHash = liveHash(scrape(r))) !== firstHash, 2_000);
      assert.deepEqual(select(e1, 'xdp4slb_backend_admin_state', be('web', RS2, 80)).map((s) => [s.labels['state'], s.value]), [['draining', 1]]);
      assert.ok(value(e1, 'xdp4slb_config_reload_duration_seconds_count', { phase: 'apply' }) >= 2);

      const from = r.events.length;
      r.writeConfig({ ...config({ rs2State: 'draining' }), bogus_key: 1 });
      const rejected = await r.waitFor((ev) => ev.event === 'reload' && ev.reason === 'file-changed', 5_000, from);
      assert.equal(rejected.result, 'rejected', r.log());
      const e2 = scrape(r);
      assert.equal(value(e2, 'xdp4slb_config_reloads_total', { result: 'rejected', reason: 'file-changed' }), fileReloads(r, 'rejected'));
      assert.equal(value(e2, 'xdp4slb_config_last_reload_successful'), 0);
      assert.equal(liveHash(e2), secondHash, 'the live config is still the last applied one');

      await r.reload(config({ rs2State: 'draining', listen: '127.0.0.1:9741' }));
      await r.waitFor((ev) => ev.event === 'metrics' && ev.result === 'listening' && ev.listen === '127.0.0.1:9741', 5_000);
      assert.equal(value(scrape(r, 9741), 'xdp4slb_config_last_reload_successful'), 1);
      assert.equal(fetchMetrics(r, METRICS_PORT).status, 7, 'the old address is closed (curl: connection refused)');

      // An address that is not the host's: logged, and balancing goes on.
      const unusable = '198.18.0.77:9740';
      await r.reload(config({ rs2State: 'draining', listen: unusable }));
      const failed = await r.waitFor((ev) => ev.event === 'metrics' && ev.listen === unusable, 5_000);
      assert.deepEqual([failed.result, failed.code], ['failed', 'EADDRNOTAVAIL']);
      assert.deepEqual(r.udp(2).failures, []);
    });
  });

  describe('4. the metrics port is taken when the agent starts', () => {
    let rig: Rig | undefined;
    let squatter: ChildProcess | undefined;
    before(async () => {
      rig = new Rig('me2', 'generic', [RS1, RS2]);
      await rig.startServer(RS1);
      await rig.startServer(RS2);
      squatter = rig.topo.spawn('lb', process.execPath, ['-e', `require('node:net').createServer().listen(${METRICS_PORT}, '127.0.0.1', () => console.log('listening'))`]);
      await new Promise<void>((resolve, reject) => {
        squatter!.stdout!.once('data', () => resolve());
        squatter!.once('exit', (code) => reject(new Error(`the squatting listener exited (${code})`)));
      });
      rig.writeConfig(config());
      await rig.startAgent();
    });
    after(() => rig?.destroy());

    it('logs one clear error and balances all the same; serves metrics after a reload once the port is free', async () => {
      const r = rig!;
      const failed = await r.waitFor((e) => e.event === 'metrics', 5_000);
      assert.deepEqual(
        { event: failed.event, result: failed.result, listen: failed.listen, code: failed.code },
        { event: 'metrics', result: 'failed', listen: `127.0.0.1:${METRICS_PORT}`, code: 'EADDRINUSE' },
      );
      assert.match(String(failed.msg), /cannot listen on 127\.0\.0\.1:9740.*balancing goes on/);
      await r.waitEligible([RS1.address, RS2.address], 10_000);
      const { answers, failures } = r.http(6);
      assert.deepEqual(failures, []);
      assertAlternating(answers, [RS1.name, RS2.name]);
      assert.equal(r.udp(2).failures.length, 0);
      assert.equal(r.events.filter((e) => e.event === 'metrics').length, 1, 'one event, not one per reload pass');

      const exited = new Promise((resolve) => squatter!.once('exit', resolve));
      squatter!.kill('SIGKILL');
      await exited;
      await r.reload(config());
      await r.waitFor((e) => e.event === 'metrics' && e.result === 'listening', 5_000);
      assert.equal(value(scrape(r), 'xdp4slb_config_last_reload_successful'), 1);
    });
  });
});
