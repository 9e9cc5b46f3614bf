/*
 * Hot reload while traffic flows, end to end (issue 5, cases 3 and 4), in
 * native and in generic XDP mode: the real agent on the balancer of the
 * classic Full-NAT segment (test/support/traffic-rig.ts), three real servers,
 * and a client streaming HTTP requests through the VIP, each on a connection
 * of its own, so every request is a new flow the scheduler places.
 *
 *  3. twenty edits of the config file (backends added and removed, weights,
 *     every scheduler, a second service on another port and on a second VIP,
 *     added and removed): no request fails, and after each edit's reload the
 *     requests go only to the backends the new config makes eligible, every
 *     one of them answers, weights show in the split, and source_hash sends
 *     the client where the published table says (one client address: one
 *     backend, computed here from the table with the datapath's hash);
 *     a keep-alive connection opened before the edits keeps its server
 *     throughout, and the datapath drops nothing;
 * 3b. a keep-alive connection to a backend the config removes goes on (its
 *     MAC stays in lb_neigh until the connection has ended), and replacing a
 *     service's only backend by a new one drops no new flow;
 *  4. a YAML syntax error, a backend address that is no IPv4 address and a
 *     duplicate service, saved one after the other: each is rejected with
 *     the line and column of the fault, the config-owned maps stay exactly
 *     as they were and traffic keeps its split; the next valid edit applies.
 *
 * Requests are ordered against reloads by times on one clock: the client
 * stamps each request with Date.now() before sending it, the agent stamps
 * its reload event after the apply has finished. Each block builds its own
 * Rig and removes it afterwards, also when a case fails.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { XdpMode } from '../../demo/topology.js';
import { LB_SCHED_HDR_LEN_MASK } from '../../src/datapath/codecs.js';
import type { AgentEvent } from '../../demo/agent-events.js';
import { configText, type TestConfig, type TestService } from '../support/desired-config.js';
import { dumpConfigMaps } from '../support/map-dump.js';
import { Holder, RS1, RS2, Rig, VIP, assertHeldBy, baseConfig, type HoldLine, type Server } from '../support/traffic-rig.js';

const RS3: Server = { host: 'rs3', name: 'rs-3', address: '198.18.0.4' };
const SERVERS = [RS1, RS2, RS3];
const CLIENT_ADDRESS = '198.18.0.100';
const VIP2 = '198.18.0.11';
const ALT_PORT = 8080;

type Scheduler = NonNullable<TestService['scheduler']>;
/** A backend and its weight (weighted_round_robin; absent: the default). */
type Member = readonly [Server, number?];

interface Edit {
  readonly what: string;
  readonly scheduler: Scheduler;
  readonly web: readonly Member[];
  /** A second service beside `web`: checked once for answers when it first appears. */
  readonly second?: TestService;
}

function web(scheduler: Scheduler, members: readonly Member[]): TestService {
  return {
    name: 'web',
    vip: VIP,
    port: 80,
    protocol: 'tcp',
    scheduler,
    backends: members.map(([s, weight]) => ({ address: s.address, port: 80, ...(weight === undefined ? {} : { weight }) })),
  };
}

/** The second services: another port of the VIP, and a second VIP. */
const ALT: TestService = { ...web('round_robin', [[RS1], [RS2]]), name: 'alt', port: ALT_PORT };
const WEB2: TestService = { ...web('round_robin', [[RS3]]), name: 'web2', vip: VIP2 };

const RR = 'round_robin';
const WRR = 'weighted_round_robin';
const EDITS: readonly Edit[] = [
  { what: 'add rs-3', scheduler: RR, web: [[RS1], [RS2], [RS3]] },
  { what: 'remove rs-1', scheduler: RR, web: [[RS2], [RS3]] },
  { what: 'switch to weighted_round_robin, rs-2 : rs-3 = 3 : 1', scheduler: WRR, web: [[RS2, 3], [RS3, 1]] },
  { what: 're-weight rs-2 : rs-3 = 1 : 3', scheduler: WRR, web: [[RS2, 1], [RS3, 3]] },
  { what: 'add rs-1 with weight 2', scheduler: WRR, web: [[RS1, 2], [RS2, 1], [RS3, 3]] },
  { what: 'switch to maglev', scheduler: 'maglev', web: [[RS1], [RS2], [RS3]] },
  { what: 'remove rs-2 (maglev)', scheduler: 'maglev', web: [[RS1], [RS3]] },
  { what: 'switch to source_hash', scheduler: 'source_hash', web: [[RS1], [RS3]] },
  { what: 'add rs-2 (source_hash)', scheduler: 'source_hash', web: [[RS1], [RS2], [RS3]] },
  { what: `switch to round_robin, add a second service on port ${ALT_PORT} of the VIP`, scheduler: RR, web: [[RS1], [RS2], [RS3]], second: ALT },
  { what: 'remove the second service', scheduler: RR, web: [[RS1], [RS2], [RS3]] },
  { what: 'weight 0 takes rs-2 out', scheduler: WRR, web: [[RS1, 1], [RS2, 0], [RS3, 1]] },
  { what: 'rs-2 back with weight 4', scheduler: WRR, web: [[RS1, 1], [RS2, 4], [RS3, 1]] },
  { what: `add a second VIP ${VIP2}`, scheduler: WRR, web: [[RS1, 1], [RS2, 4], [RS3, 1]], second: WEB2 },
  { what: 'remove the second VIP', scheduler: WRR, web: [[RS1, 1], [RS2, 4], [RS3, 1]] },
  { what: 'switch to maglev, remove rs-3', scheduler: 'maglev', web: [[RS1], [RS2]] },
  { what: 'switch to source_hash, rs-2 and rs-3', scheduler: 'source_hash', web: [[RS2], [RS3]] },
  { what: 'switch to round_robin, one backend left', scheduler: RR, web: [[RS2]] },
  { what: 'replace rs-2 with rs-1', scheduler: RR, web: [[RS1]] },
  { what: 'back to all three, round_robin', scheduler: RR, web: [[RS1], [RS2], [RS3]] },
];

/** The backends of `web` that take new flows under an edit: weight 0 takes none. */
function eligibleOf(edit: Edit): Server[] {
  return edit.web.filter(([, weight]) => weight !== 0).map(([s]) => s);
}

function configOf(mode: XdpMode, edit: Edit): TestConfig {
  return baseConfig(mode, [web(edit.scheduler, edit.web), ...(edit.second ? [edit.second] : [])]);
}

const names = (servers: readonly Server[]): string[] => servers.map((s) => s.name).sort();
const addresses = (servers: readonly Server[]): string[] => servers.map((s) => s.address);

/** Answers per server name. */
function tally(lines: readonly HoldLine[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines) if (line.answer !== undefined) counts.set(line.answer, (counts.get(line.answer) ?? 0) + 1);
  return counts;
}

/** When the agent logged the event: after the reload it reports had reached the kernel. */
function loggedAt(event: AgentEvent): number {
  const at = Date.parse(String(event.time));
  assert.ok(Number.isFinite(at), `reload event without a time: ${JSON.stringify(event)}`);
  return at;
}

/**
 * The murmur3 finaliser over the client address as the datapath loads it
 * (network-order bytes read as a little-endian u32) XOR the seed: bpf/lb_hash.h
 * lb_hash_addr, written again here so the test has its own oracle.
 */
function sourceHash(address: string): number {
  const [a, b, c, d] = address.split('.').map(Number) as [number, number, number, number];
  let h = ((d << 24) | (c << 16) | (b << 8) | a) ^ 0x2c1b3c6d;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The backend address a source_hash service's published table gives a client. */
function sourceHashChoice(rig: Rig, service: string, client: string): string {
  return rig.withMaps((maps) => {
    const entry = [...maps.serviceMetas()].find(([, meta]) => meta.name === service);
    const table = entry && maps.schedulerTable(entry[0]);
    assert.ok(table, `no table for ${service}`);
    const length = table[0]! & LB_SCHED_HDR_LEN_MASK;
    const id = table[1 + (sourceHash(client) % length)]!;
    const ip = maps.backendMetas().get(id)?.ip;
    assert.ok(ip, `backend #${id} of ${service}'s table has no record`);
    return ip;
  });
}

/**
 * Lines of requests started after `since`, once `enough` holds for them or
 * `timeoutMs` has passed (the caller's assertions then say what is missing).
 */
async function requestsSince(stream: Holder, since: number, enough: (lines: HoldLine[]) => boolean, timeoutMs: number): Promise<HoldLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = stream.lines.filter((l) => l.start! > since);
    if (enough(lines) || Date.now() > deadline) return lines;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function assertNoFailures(lines: readonly HoldLine[], what: string): void {
  const failed = lines.filter((l) => l.failure !== undefined);
  assert.deepEqual(failed, [], `${what}: ${failed.length} of ${lines.length} requests failed`);
}

/** The datapath's drop counters that a reload must never move while every backend it names is reachable. */
const DROPS = ['drop_no_backend', 'drop_no_mac', 'drop_snat_exhausted', 'drop_conntrack_full'] as const;

function drops(rig: Rig): Record<string, bigint> {
  return Object.fromEntries(DROPS.map((name) => [name, rig.counter(name)]));
}

/** Where every case starts: round robin over rs-1 and rs-2 (rs-3 runs, unconfigured). */
const START: Edit = { what: 'start', scheduler: RR, web: [[RS1], [RS2]] };

/** A describe block's world: its Rig, and the clients its cases start (stopped before the Rig goes). */
interface BlockRig {
  rig(): Rig;
  client(holder: Holder): Holder;
}

/**
 * Before the block's cases: a Rig with three servers and the agent on
 * START, its eligible set settled. After them (also on failure): every
 * client stopped, the Rig destroyed.
 */
function rigPerBlock(tag: string, mode: XdpMode): BlockRig {
  let rig: Rig | undefined;
  const clients: Holder[] = [];
  before(async () => {
    rig = new Rig(tag, mode, SERVERS);
    await rig.serve(configOf(mode, START), { eligible: addresses(eligibleOf(START)), timeoutMs: 5_000 });
  });
  after(async () => {
    for (const client of clients) await client.stop();
    await rig?.destroy();
  });
  return {
    rig: () => rig!,
    client: (holder) => {
      clients.push(holder);
      return holder;
    },
  };
}

/** One applied edit on the timeline: when it was saved, when its reload was logged, what it made eligible. */
interface Applied {
  readonly what: string;
  readonly savedAt: number;
  readonly appliedAt: number;
  readonly eligible: readonly string[];
}

/**
 * Every request's answer against the edits around it: one that started
 * after an edit's reload was logged (and before the next save) is answered
 * only by that edit's eligible servers; one that started between a save and
 * its reload by the old or the new ones.
 */
function assertTimeline(lines: readonly HoldLine[], initial: readonly string[], applied: readonly Applied[]): void {
  for (const line of lines) {
    let allowed = new Set(initial);
    let under = 'the initial config';
    for (const edit of applied) {
      if (line.start! <= edit.savedAt) break;
      if (line.start! <= edit.appliedAt) {
        allowed = new Set([...allowed, ...edit.eligible]);
        under = `${under} or "${edit.what}" (being applied)`;
        break;
      }
      allowed = new Set(edit.eligible);
      under = `"${edit.what}"`;
    }
    assert.ok(allowed.has(line.answer!), `a request started at ${line.start} was answered by ${line.answer} under ${under} (eligible: ${[...allowed].join(', ')})`);
  }
}

for (const [mode, loadTag, keepTag, invalidTag] of [
  ['native', 'rln', 'rlkn', 'rin'],
  ['generic', 'rlg', 'rlkg', 'rig'],
] as const) {
  describe(`3. hot reload under load: 20 edits while a client streams new connections (${mode} XDP)`, { timeout: 180_000 }, () => {
    const block = rigPerBlock(loadTag, mode);

    it('no request fails, and after every reload the split follows the new config', async (t: TestContext) => {
      const r = block.rig();
      const dropsBefore = drops(r);
      const noConntrackBefore = r.counter('drop_no_conntrack');
      // A keep-alive connection opened before the edits: its flow keeps its server whatever they do, removals included.
      const held = block.client(r.hold(100));
      const [firstHeld] = await held.waitLines(1, 5_000);
      const stream = block.client(r.stream(5));
      await stream.waitLines(5, 10_000);
      const applied: Applied[] = [];
      const started = Date.now();
      for (const [i, edit] of EDITS.entries()) {
        const what = `edit ${i + 1}: ${edit.what}`;
        const eligible = eligibleOf(edit);
        const savedAt = Date.now();
        const reload = await r.reload(configOf(mode, edit));
        const appliedAt = loggedAt(reload);
        applied.push({ what, savedAt, appliedAt, eligible: names(eligible) });

        // Which backends answer at all is judged once the table holds every eligible one (the timeline
        // check at the end covers the requests before that).
        await r.waitEligible(addresses(eligible), 5_000);
        const settled = Date.now();

        if (edit.scheduler === 'source_hash') {
          const choice = sourceHashChoice(r, 'web', CLIENT_ADDRESS);
          const lines = await requestsSince(stream, settled, (l) => l.length >= 10, 5_000);
          const chosen = SERVERS.find((s) => s.address === choice)!;
          assert.ok(eligible.includes(chosen), `${what}: the table's slot for the client holds ${choice}, not an eligible backend`);
          assert.deepEqual(Object.fromEntries(tally(lines)), { [chosen.name]: lines.length }, `${what}: one client, one backend (the table's choice)`);
          continue;
        }
        const weighted = edit.scheduler === WRR;
        const lines = await requestsSince(stream, settled, (l) => tally(l).size === eligible.length && l.length >= (weighted ? 30 : 3 * eligible.length), 8_000);
        const counts = tally(lines);
        assert.deepEqual([...counts.keys()].sort(), names(eligible), `${what}: who answered within the window: ${JSON.stringify(Object.fromEntries(counts))}`);
        if (weighted) {
          // A smooth weighted sequence gives exact shares over whole cycles: a weight 3 times another's must at least double its answers.
          for (const [heavy, heavyWeight = 1] of edit.web)
            for (const [light, lightWeight = 1] of edit.web) {
              if (lightWeight === 0 || heavyWeight < 3 * lightWeight) continue;
              const [h, l] = [counts.get(heavy.name)!, counts.get(light.name)!];
              assert.ok(h >= 2 * l, `${what}: ${heavy.name} (weight ${heavyWeight}) answered ${h} times, ${light.name} (weight ${lightWeight}) ${l}`);
            }
        }
        if (edit.second) {
          const second = edit.second;
          await r.waitUntil(`${second.name} eligible`, () => r.eligible(second.name).length === second.backends.length, 5_000);
          const url = `http://${second.vip}:${second.port}/`;
          const { answers, failures } = r.http(2, 2_000, url);
          assert.deepEqual(failures, [], `${what}: ${url}`);
          const owners = SERVERS.filter((s) => second.backends.some((b) => b.address === s.address));
          assert.ok(answers.every((a) => names(owners).includes(a)), `${what}: ${url} answered by ${answers.join(', ')}`);
        }
      }
      const edited = Date.now() - started;
      await stream.waitLines(5, 5_000, stream.lines.length);
      const lines = await stream.stop();
      assertNoFailures(lines, 'the stream');
      assertHeldBy(await held.stop(), firstHeld!.answer!, firstHeld!.port, 'the connection held through every edit');
      assertTimeline(lines, names(eligibleOf(START)), applied);
      assert.deepEqual(drops(r), dropsBefore, 'datapath drop counters across the run');
      // The second service and the second VIP are gone from the datapath: the port is the host's again, which refuses it.
      assert.deepEqual([r.eligible(ALT.name), r.eligible(WEB2.name)], [[], []]);
      const refused = r.http(1, 2_000, `http://${VIP}:${ALT_PORT}/`);
      assert.deepEqual(refused, { answers: [], failures: [`connect ECONNREFUSED ${VIP}:${ALT_PORT}`] });
      t.diagnostic(
        `${EDITS.length} edits in ${edited} ms, ${lines.length} requests, split ${JSON.stringify(Object.fromEntries(tally(lines)))}; ` +
          `drop_no_conntrack +${r.counter('drop_no_conntrack') - noConntrackBefore}`,
      );
    });
  });

  describe(`3b. backends removed and replaced while traffic flows (${mode} XDP)`, { timeout: 60_000 }, () => {
    const block = rigPerBlock(keepTag, mode);
    /** The one backend left by the first case. */
    let kept: Server | undefined;

    it('a keep-alive connection to a removed server goes on answering; its MAC leaves lb_neigh once the connection is closed', async (t: TestContext) => {
      const r = block.rig();
      const held = block.client(r.hold(100));
      const [first] = await held.waitLines(1, 5_000);
      const removed = SERVERS.find((s) => s.name === first!.answer)!;
      kept = removed === RS1 ? RS2 : RS1;
      const mac = r.macOf(removed.host);
      await r.reload(configOf(mode, { what: 'remove the held server', scheduler: RR, web: [[kept]] }));
      await r.waitEligible([kept.address], 5_000);
      // Longer than a request's timeout (2 s): a dropped flow would show as a failure, not as a slow answer.
      const mark = held.lines.length;
      await held.waitLines(30, 10_000, mark);
      assert.equal(r.neighbor(removed.address), mac, `lb_neigh keeps ${removed.address} for its flow`);
      assertHeldBy(await held.stop(), removed.name, first!.port, `the connection to the removed ${removed.name}`);
      const closed = Date.now();
      // The closed flow expires (tcp_closing), then the next neighbour refresh lets the MAC go.
      await r.waitUntil(`lb_neigh without ${removed.address}`, () => r.neighbor(removed.address) === undefined, 10_000, () => `flows: ${JSON.stringify(r.flows())}`);
      t.diagnostic(`${removed.address} left lb_neigh ${Date.now() - closed} ms after its last connection closed`);
    });

    it('the only backend replaced by one never configured before: no new flow is dropped, and the new one takes them all', async () => {
      const r = block.rig();
      const dropsBefore = drops(r);
      const stream = block.client(r.stream(5));
      await stream.waitLines(5, 10_000);
      const savedAt = Date.now();
      const appliedAt = loggedAt(await r.reload(configOf(mode, { what: 'replace the last backend with rs-3', scheduler: RR, web: [[RS3]] })));
      assert.deepEqual(r.eligible(), [RS3.address], 'rs-3 is in the table the reload published');
      await requestsSince(stream, appliedAt, (l) => l.length >= 10, 5_000);
      const lines = await stream.stop();
      assertNoFailures(lines, 'the stream');
      assertTimeline(lines, [kept!.name], [{ what: 'replace', savedAt, appliedAt, eligible: [RS3.name] }]);
      assert.deepEqual(drops(r), dropsBefore, 'datapath drop counters across the replacement');
    });
  });

  describe(`4. invalid edits while traffic flows are rejected with their position and change nothing (${mode} XDP)`, { timeout: 120_000 }, () => {
    const block = rigPerBlock(invalidTag, mode);

    it('each invalid save is logged with the line and column of the fault; the maps and the split stay; the next valid edit applies', async () => {
      const r = block.rig();
      const good = configText(configOf(mode, START));
      /** Line (1-based) and column of the `nth` (from 0) match of `re` in `text`, as the agent reports positions. */
      const positionOf = (text: string, re: RegExp, nth = 0): { line: number; col: number } => {
        const found = text.split('\n').flatMap((l, i) => {
          const at = l.search(re);
          return at < 0 ? [] : [{ line: i + 1, col: at + 1 }];
        });
        assert.ok(found[nth], `no match ${nth} of ${re} in:\n${text}`);
        return found[nth]!;
      };
      const badAddress = good.replace(`address: ${RS2.address}`, 'address: 198.18.0.300');
      // web again under another name: the second item of `services` is the fault.
      const duplicate = configText(baseConfig(mode, [web(RR, START.web), { ...web(RR, START.web), name: 'web-copy' }]));
      const bad = [
        {
          what: 'YAML syntax error: a tab as indentation',
          text: good.replace(/^ {4}protocol: tcp$/m, '\tprotocol: tcp'),
          ...positionOf(good, /^ {4}protocol: tcp$/),
          message: /YAML: tabs are not allowed/,
        },
        {
          what: 'a backend address that is no IPv4 address',
          text: badAddress,
          ...positionOf(badAddress, /198\.18\.0\.300/),
          message: /IPv4 address/,
        },
        {
          what: 'a duplicate service (same VIP, port and protocol)',
          text: duplicate,
          // The agent points at the item's mapping: just after the dash.
          ...positionOf(duplicate, /(?<=^ {2}- )/, 1),
          message: /duplicate service/,
        },
      ];
      const stream = block.client(r.stream(5));
      await stream.waitLines(5, 10_000);
      const dumpBefore = r.withMaps(dumpConfigMaps);
      const eligibleBefore = r.eligible();
      for (const { what, text, line, col, message } of bad) {
        const from = r.events.length;
        const savedAt = Date.now();
        r.writeConfig(text);
        const reload = await r.waitFor((e) => e.event === 'reload' && e.reason === 'file-changed', 5_000, from);
        assert.equal(reload.result, 'rejected', `${what}: ${JSON.stringify(reload)}`);
        assert.deepEqual({ file: reload.file, line: reload.line, col: reload.col }, { file: r.configPath, line, col }, `${what}: ${JSON.stringify(reload)}`);
        assert.match(String(reload.message), message, what);
        assert.deepEqual(r.withMaps(dumpConfigMaps), dumpBefore, `${what}: the config-owned maps changed`);
        assert.deepEqual(r.eligible(), eligibleBefore, what);
        // Traffic keeps the last good split: both servers, round robin, answer the requests since the save.
        const since = await requestsSince(stream, savedAt, (l) => l.length >= 6, 5_000);
        assert.deepEqual([...tally(since).keys()].sort(), names(eligibleOf(START)), `${what}: ${JSON.stringify(since)}`);
      }

      const next: Edit = { what: 'replace rs-1 with rs-3', scheduler: RR, web: [[RS2], [RS3]] };
      const savedAt = Date.now();
      const appliedAt = loggedAt(await r.reload(configOf(mode, next)));
      await r.waitEligible(addresses(eligibleOf(next)), 5_000);
      const settled = Date.now();
      const answered = await requestsSince(stream, settled, (l) => tally(l).size === 2 && l.length >= 6, 8_000);
      assert.deepEqual([...tally(answered).keys()].sort(), names(eligibleOf(next)), JSON.stringify(answered));
      const all = await stream.stop();
      assertNoFailures(all, 'the stream');
      assertTimeline(all, names(eligibleOf(START)), [{ what: next.what, savedAt, appliedAt, eligible: names(eligibleOf(next)) }]);
    });
  });
}
