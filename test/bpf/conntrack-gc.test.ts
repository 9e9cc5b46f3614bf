/*
 * The conntrack GC on the real maps of the built object (loaded, not
 * attached): flows are made by sending real packets through
 * BPF_PROG_TEST_RUN, the GC runs passes on a clock moved ahead of the
 * datapath's stamps, and the tests read lb_ct and lb_snat back. The races
 * with the datapath are staged by acting (sending packets, rewriting an
 * entry) at chosen points of a pass: before the GC re-reads a given entry,
 * or before it starts a table's scan. Needs root.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import pino from 'pino';
import { realTimers } from '../../src/agent/timers.js';
import { IPPROTO_TCP, IPPROTO_UDP, LbConnState, lbConn, lbFlowKey, type LbConn, type LbFlowKey } from '../../src/datapath/codecs.js';
import { connTimeoutClass } from '../../src/datapath/conn-state.js';
import type { DatapathMaps, DatapathMapName } from '../../src/datapath/datapath-maps.js';
import type { BpfMap } from '../../src/kernel/bpf-map.js';
import { ConntrackGc, type GcSettings } from '../../src/loops/conntrack-gc.js';
import {
  CLIENT,
  LB_MAC,
  LoadedDatapath,
  RS1,
  RS2,
  SNAT_IP,
  TEST_MAP_SIZES,
  VIP,
  type TestBackend,
} from '../support/datapath-fixture.js';
import { buildFrame, type TcpFlags } from '../support/packet.js';

const SECOND = 1_000_000_000n;
const SETTINGS: GcSettings = {
  intervalMs: 1000,
  timeouts: { tcpSynMs: 30_000, tcpEstablishedMs: 600_000, tcpClosingMs: 2_000, udpMs: 30_000 },
};
const UDP_PORT = 53;
const SNAT_IP2 = '198.18.0.6';
const POOL_PORT = 20000;

type Flags = Partial<TcpFlags>;
const SYN: Flags = { syn: true };
const SYNACK: Flags = { syn: true, ack: true };
const ACK: Flags = { ack: true };
const FINACK: Flags = { fin: true, ack: true };
const RST: Flags = { rst: true };

/** A freshly loaded datapath, closed when the test ends. */
function load(t: TestContext): LoadedDatapath {
  const dp = LoadedDatapath.load();
  t.after(() => dp.close());
  return dp;
}

/** TCP :80 and UDP :53 on the VIP, round robin over `backends`, SNAT pool of `ports` ports from POOL_PORT. */
function scenario(dp: LoadedDatapath, opts: { backends?: TestBackend[]; ports?: number; reuseAfterNs?: bigint; addrs?: string[] } = {}): void {
  const backends = opts.backends ?? [RS1, RS2];
  dp.setSnatPool({
    ...(opts.addrs ? { addrs: opts.addrs } : {}),
    portMin: POOL_PORT,
    portMax: POOL_PORT + (opts.ports ?? 10000) - 1,
    // Long by default: only the GC frees tuples, unless a test wants the datapath's take-over.
    reuseAfterNs: opts.reuseAfterNs ?? 3600n * SECOND,
  });
  dp.addService({ id: 0, backends });
  dp.addService({ id: 1, port: UDP_PORT, proto: 'udp', backends });
}

function key(port: number, proto = IPPROTO_TCP): LbFlowKey {
  return { srcIp: CLIENT.ip, dstIp: VIP, srcPort: port, dstPort: proto === IPPROTO_TCP ? 80 : UDP_PORT, proto };
}

function fromClient(port: number, flags: Flags): Buffer {
  return buildFrame({ srcMac: CLIENT.mac, dstMac: LB_MAC, srcIp: CLIENT.ip, dstIp: VIP, proto: 'tcp', srcPort: port, dstPort: 80, tcpFlags: flags });
}

function udpFromClient(port: number): Buffer {
  return buildFrame({ srcMac: CLIENT.mac, dstMac: LB_MAC, srcIp: CLIENT.ip, dstIp: VIP, proto: 'udp', srcPort: port, dstPort: UDP_PORT, payload: 8 });
}

function conn(dp: LoadedDatapath, port: number, proto = IPPROTO_TCP): LbConn {
  const c = dp.maps.conn(key(port, proto));
  assert.ok(c, `no lb_ct entry for client port ${port}`);
  return c;
}

/** The lb_snat key the flow's replies arrive on. */
function tupleOf(c: LbConn): LbFlowKey {
  return { srcIp: c.backendIp, dstIp: c.snatIp, srcPort: c.backendPort, dstPort: c.snatPort, proto: c.proto };
}

/** The backend's packet to the SNAT tuple of client port `port`'s flow. */
function fromBackend(dp: LoadedDatapath, port: number, flags: Flags): Buffer {
  const c = conn(dp, port);
  const rs = [RS1, RS2].find((be) => be.ip === c.backendIp)!;
  return buildFrame({ srcMac: rs.mac, dstMac: LB_MAC, srcIp: c.backendIp, dstIp: c.snatIp, proto: 'tcp', srcPort: c.backendPort, dstPort: c.snatPort, tcpFlags: flags });
}

function send(dp: LoadedDatapath, frame: Buffer, verdict = 'TX'): void {
  assert.equal(dp.run(frame).verdict, verdict, 'setup packet verdict');
}

/** The datapath may now reuse closed flows' tuples (one-port pool), and a SYN from `port` takes the closed flow's over. */
function takeOverBy(dp: LoadedDatapath, port: number): void {
  dp.setSnatPool({ portMin: POOL_PORT, portMax: POOL_PORT, reuseAfterNs: 0n });
  send(dp, fromClient(port, SYN));
}

function handshake(dp: LoadedDatapath, port: number): void {
  send(dp, fromClient(port, SYN));
  send(dp, fromBackend(dp, port, SYNACK));
  send(dp, fromClient(port, ACK));
}

/** Client ports of the flows in lb_ct, sorted. */
function ctPorts(dp: LoadedDatapath): number[] {
  return [...dp.maps.conns()].map((c) => c.key.srcPort).sort((a, b) => a - b);
}

/** lb_snat as "tuple -> owner port" strings, sorted. */
function snatEntries(dp: LoadedDatapath): string[] {
  return [...dp.maps.snatTuples()].map((t) => `${t.reply.dstIp}:${t.reply.dstPort}>${t.reply.srcIp}/${t.reply.proto} -> ${t.owner.srcPort}`).sort();
}

function snatEntry(c: LbConn, ownerPort: number): string {
  return `${c.snatIp}:${c.snatPort}>${c.backendIp}/${c.proto} -> ${ownerPort}`;
}

interface Gc {
  gc: ConntrackGc;
  /** The GC's clock runs this far ahead of the datapath's stamps. */
  ahead(ns: bigint): void;
}

function gcFor(dp: LoadedDatapath, opts: { maps?: Pick<DatapathMaps, 'map'>; disabled?: ReadonlySet<number>; chunkEntries?: number } = {}): Gc {
  let offset = 0n;
  const gc = new ConntrackGc({
    maps: opts.maps ?? dp.maps,
    context: { timers: realTimers, clock: () => process.hrtime.bigint() + offset, log: pino({ level: 'silent' }) },
    settings: SETTINGS,
    ...(opts.disabled ? { disabledBackends: () => opts.disabled! } : {}),
    // Small chunks: every test crosses chunk boundaries.
    chunkEntries: opts.chunkEntries ?? 2,
  });
  return { gc, ahead: (ns) => (offset = ns) };
}

/** Something done to the maps at a chosen point of a pass, as the datapath could do it. */
interface Stage {
  map: DatapathMapName;
  /** Before the first lookup of `key` in `map` (a re-read), or before `map`'s scan starts. */
  before: { lookup: Buffer } | 'scan';
  act: () => void;
}

/** dp.maps with `stages` run at their points of a pass; `acted()` says how many ran. */
function staged(dp: LoadedDatapath, ...stages: Stage[]): { maps: Pick<DatapathMaps, 'map'>; acted: () => number } {
  const pending = new Set(stages);
  const run = (map: DatapathMapName, at: 'scan' | Buffer): void => {
    for (const stage of pending) {
      if (stage.map !== map) continue;
      const due = stage.before === 'scan' ? at === 'scan' : at !== 'scan' && at.equals(stage.before.lookup);
      if (!due) continue;
      pending.delete(stage);
      stage.act();
    }
  };
  const wrap = (name: DatapathMapName): BpfMap =>
    new Proxy(dp.maps.map(name), {
      get(target, prop) {
        if (prop === 'lookup') {
          return (k: Buffer) => {
            run(name, k);
            return target.lookup(k);
          };
        }
        if (prop === 'lookupBatchPacked') {
          return (opts?: { chunk?: number }) => {
            run(name, 'scan');
            return target.lookupBatchPacked(opts);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  const wrapped = new Map<DatapathMapName, BpfMap>();
  for (const stage of stages) if (!wrapped.has(stage.map)) wrapped.set(stage.map, wrap(stage.map));
  return { maps: { map: (n) => wrapped.get(n) ?? dp.maps.map(n) }, acted: () => stages.length - pending.size };
}

describe('conntrack GC on the datapath maps', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  it('removes each flow once idle past the timeout of its state, from lb_ct and lb_snat', async (t) => {
    const dp = load(t);
    scenario(dp);
    handshake(dp, 1001); // closed by FIN both ways
    send(dp, fromClient(1001, FINACK));
    send(dp, fromBackend(dp, 1001, FINACK));
    handshake(dp, 1002); // closed by RST
    send(dp, fromClient(1002, RST));
    handshake(dp, 1003); // established
    send(dp, fromClient(1004, SYN)); // SYN only
    send(dp, udpFromClient(5001));
    assert.deepEqual(
      [1001, 1002, 1003, 1004].map((p) => connTimeoutClass(conn(dp, p).state)).concat(connTimeoutClass(conn(dp, 5001, IPPROTO_UDP).state)),
      ['tcp_closing', 'tcp_closing', 'tcp_established', 'tcp_syn', 'udp'],
    );
    const tuples = new Map([1001, 1002, 1003, 1004].map((p) => [p, snatEntry(conn(dp, p), p)]));
    tuples.set(5001, snatEntry(conn(dp, 5001, IPPROTO_UDP), 5001));
    const held = (...ports: number[]): string[] => ports.map((p) => tuples.get(p)!).sort();
    const { gc, ahead } = gcFor(dp, { chunkEntries: 4096 });

    let pass = await gc.runPass();
    assert.equal(pass.expired, 0);
    assert.equal(pass.scanned, 5);
    ahead(SECOND); // under tcp_closing (2 s)
    pass = await gc.runPass();
    assert.equal(pass.expired, 0);
    assert.deepEqual(ctPorts(dp), [1001, 1002, 1003, 1004, 5001]);

    ahead(3n * SECOND);
    pass = await gc.runPass();
    assert.equal(pass.expired, 2);
    assert.deepEqual(ctPorts(dp), [1003, 1004, 5001]);
    assert.deepEqual(snatEntries(dp), held(1003, 1004, 5001));

    ahead(29n * SECOND); // under tcp_syn and udp (30 s)
    assert.equal((await gc.runPass()).expired, 0);
    ahead(31n * SECOND);
    pass = await gc.runPass();
    assert.equal(pass.expired, 2);
    assert.deepEqual(ctPorts(dp), [1003]);
    assert.deepEqual(snatEntries(dp), held(1003));

    ahead(599n * SECOND);
    assert.equal((await gc.runPass()).expired, 0);
    ahead(601n * SECOND);
    pass = await gc.runPass();
    assert.equal(pass.expired, 1);
    assert.equal(pass.entries, 0);
    assert.deepEqual(ctPorts(dp), []);
    assert.deepEqual(snatEntries(dp), []);
    assert.equal(pass.orphansFreed, 0);
  });

  it('a tuple freed by the GC goes to the next flow that needs it (a one-port pool)', async (t) => {
    const dp = load(t);
    scenario(dp, { backends: [RS1], ports: 1 });
    send(dp, fromClient(1001, SYN));
    send(dp, fromClient(1002, SYN), 'DROP');
    assert.equal(dp.maps.counters()['drop_snat_exhausted'], 1n);

    const { gc, ahead } = gcFor(dp);
    ahead(31n * SECOND);
    assert.equal((await gc.runPass()).expired, 1);
    send(dp, fromClient(1002, SYN));
    assert.equal(conn(dp, 1002).snatPort, POOL_PORT);
    assert.deepEqual(snatEntries(dp), [snatEntry(conn(dp, 1002), 1002)]);
  });

  it("removes a released entry and leaves the tuple to the flow that took it over", async (t) => {
    const dp = load(t);
    scenario(dp, { backends: [RS1], ports: 1, reuseAfterNs: 0n });
    handshake(dp, 1001);
    send(dp, fromClient(1001, RST));
    send(dp, fromClient(1002, SYN)); // takes the closed flow's tuple over
    assert.ok(conn(dp, 1001).state & LbConnState.RELEASED);

    const { gc } = gcFor(dp);
    const pass = await gc.runPass();
    assert.deepEqual([pass.released, pass.expired, pass.orphansFreed], [1, 0, 0]);
    assert.deepEqual(ctPorts(dp), [1002]);
    assert.deepEqual(snatEntries(dp), [snatEntry(conn(dp, 1002), 1002)]);
    send(dp, fromBackend(dp, 1002, SYNACK)); // the reply still finds its flow
    assert.deepEqual(pass.activeByBackend, new Map([[RS1.id, 1]]));
  });

  it('frees lb_snat entries no flow holds: owner missing, or owner holding another tuple', async (t) => {
    const dp = load(t);
    scenario(dp, { backends: [RS1] });
    handshake(dp, 1001);
    handshake(dp, 1002);
    send(dp, fromClient(1002, RST));
    const before = snatEntries(dp);
    const snat = dp.maps.map('lb_snat');
    const tuple = (port: number): Buffer => lbFlowKey.encode({ srcIp: RS1.ip, dstIp: SNAT_IP, srcPort: RS1.port, dstPort: port, proto: IPPROTO_TCP });
    snat.update(tuple(30001), lbFlowKey.encode(key(9999))); // no such flow
    snat.update(tuple(30002), lbFlowKey.encode(key(1001))); // two CPUs raced on 1001's SYN: it kept the other tuple

    const pass = await gcFor(dp).gc.runPass();
    assert.equal(pass.orphansFreed, 2);
    assert.deepEqual(snatEntries(dp), before);
    assert.deepEqual(ctPorts(dp), [1001, 1002]);
    assert.deepEqual(pass.snatInUse, new Map([[SNAT_IP, 2]]));
  });

  it('keeps a flow that a SYN replaced between the scan and the delete', async (t) => {
    const dp = load(t);
    scenario(dp, { backends: [RS1] });
    handshake(dp, 1001);
    send(dp, fromClient(1001, FINACK));
    send(dp, fromBackend(dp, 1001, FINACK));
    const hook = staged(dp, { map: 'lb_ct', before: { lookup: lbFlowKey.encode(key(1001)) }, act: () => send(dp, fromClient(1001, SYN)) });
    const { gc, ahead } = gcFor(dp, { maps: hook.maps });
    ahead(3n * SECOND); // the closed flow has expired; the new one is fresh
    const pass = await gc.runPass();
    assert.equal(hook.acted(), 1, 'the GC re-read the entry');
    assert.deepEqual([pass.expired, pass.entries], [0, 1]);
    assert.deepEqual(pass.activeByBackend, new Map([[RS1.id, 1]]), 'the new flow is counted');
    const fresh = conn(dp, 1001);
    assert.equal(fresh.state, LbConnState.SYN_SEEN);
    assert.deepEqual(snatEntries(dp), [snatEntry(fresh, 1001)]);
    send(dp, fromBackend(dp, 1001, SYNACK));
  });

  it('leaves the tuple to a flow that took it over between the scan and the re-read', async (t) => {
    const dp = load(t);
    scenario(dp, { backends: [RS1], ports: 1 });
    handshake(dp, 1001);
    send(dp, fromClient(1001, RST));
    const hook = staged(dp, { map: 'lb_ct', before: { lookup: lbFlowKey.encode(key(1001)) }, act: () => takeOverBy(dp, 1002) });
    const { gc, ahead } = gcFor(dp, { maps: hook.maps });
    ahead(3n * SECOND);
    const pass = await gc.runPass();
    assert.equal(hook.acted(), 1, 'the GC re-read the entry');
    assert.deepEqual([pass.released, pass.expired], [1, 0]);
    assert.deepEqual(ctPorts(dp), [1002]);
    assert.deepEqual(snatEntries(dp), [snatEntry(conn(dp, 1002), 1002)]);
    send(dp, fromBackend(dp, 1002, SYNACK));
  });

  it("does not delete an expired flow's tuple that was re-pointed to another owner before the delete", async (t) => {
    const dp = load(t);
    scenario(dp, { backends: [RS1] });
    handshake(dp, 1001);
    send(dp, fromClient(1001, RST));
    const c = conn(dp, 1001);
    const tuple = lbFlowKey.encode(tupleOf(c));
    // What a CPU that looked the closed flow up just before the GC deleted it
    // does: hand its tuple to a new flow (here client port 1002).
    const takeOver = (): void => {
      const now = process.hrtime.bigint();
      const taker = { ...c, clientPort: 1002, state: LbConnState.SYN_SEEN, lastSeenNs: now, createdNs: now };
      dp.maps.map('lb_ct').update(lbFlowKey.encode(key(1002)), lbConn.encode(taker));
      dp.maps.map('lb_snat').update(tuple, lbFlowKey.encode(key(1002)));
    };
    const hook = staged(dp, { map: 'lb_snat', before: { lookup: tuple }, act: takeOver });
    const { gc, ahead } = gcFor(dp, { maps: hook.maps });
    ahead(3n * SECOND);
    const pass = await gc.runPass();
    assert.equal(hook.acted(), 1, 'the GC re-read the tuple');
    assert.deepEqual([pass.expired, pass.orphansFreed], [1, 0]);
    assert.deepEqual(ctPorts(dp), [1002]);
    assert.deepEqual(snatEntries(dp), [snatEntry(c, 1002)]);
    send(dp, fromBackend(dp, 1002, ACK)); // replies on the tuple reach the new flow
  });

  it('does not free an orphan that was re-pointed between the scan and the re-read; the next pass judges it afresh', async (t) => {
    const dp = load(t);
    scenario(dp, { backends: [RS1] });
    const tuple = lbFlowKey.encode({ srcIp: RS1.ip, dstIp: SNAT_IP, srcPort: RS1.port, dstPort: 30001, proto: IPPROTO_TCP });
    const snat = dp.maps.map('lb_snat');
    snat.update(tuple, lbFlowKey.encode(key(9998)));
    const hook = staged(dp, { map: 'lb_snat', before: { lookup: tuple }, act: () => snat.update(tuple, lbFlowKey.encode(key(9999))) });
    const { gc } = gcFor(dp, { maps: hook.maps });
    assert.equal((await gc.runPass()).orphansFreed, 0);
    assert.equal(hook.acted(), 1, 'the GC re-read the tuple');
    assert.deepEqual(lbFlowKey.decode(snat.lookup(tuple)!), key(9999));
    assert.equal((await gc.runPass()).orphansFreed, 1);
    assert.equal(snat.lookup(tuple), undefined);
  });

  it('does not free a suspect whose owner handed the tuple over between the check of the owner and the re-read', async (t) => {
    const dp = load(t);
    scenario(dp, { backends: [RS1], ports: 1 });
    const owner = lbFlowKey.encode(key(1001));
    const hook = staged(
      dp,
      // A flow made after the lb_ct scan: its tuple is a suspect of the lb_snat scan.
      {
        map: 'lb_snat',
        before: 'scan',
        act: () => {
          handshake(dp, 1001);
          send(dp, fromClient(1001, RST));
        },
      },
      // While the GC looks its owner up, the closed flow's tuple goes to a new flow.
      { map: 'lb_ct', before: { lookup: owner }, act: () => takeOverBy(dp, 1002) },
    );
    const pass = await gcFor(dp, { maps: hook.maps }).gc.runPass();
    assert.equal(hook.acted(), 2, 'both stages ran');
    assert.equal(pass.orphansFreed, 0);
    assert.deepEqual(snatEntries(dp), [snatEntry(conn(dp, 1002), 1002)]);
    send(dp, fromBackend(dp, 1002, SYNACK));
  });

  it('purges the flows of disabled backends with their tuples, whatever their age', async (t) => {
    const dp = load(t);
    scenario(dp);
    handshake(dp, 1001); // RS1
    handshake(dp, 1002); // RS2
    send(dp, fromClient(1003, SYN)); // RS1
    send(dp, udpFromClient(5001)); // RS1 (the UDP service's own round robin)
    assert.deepEqual([1001, 1002, 1003].map((p) => conn(dp, p).backendId), [RS1.id, RS2.id, RS1.id]);
    assert.equal(conn(dp, 5001, IPPROTO_UDP).backendId, RS1.id);
    const kept = snatEntry(conn(dp, 1002), 1002);

    const pass = await gcFor(dp, { disabled: new Set([RS1.id]) }).gc.runPass();
    assert.deepEqual([pass.purged, pass.expired, pass.entries], [3, 0, 1]);
    assert.deepEqual(ctPorts(dp), [1002]);
    assert.deepEqual(snatEntries(dp), [kept]);
    assert.deepEqual(pass.activeByBackend, new Map([[RS2.id, 1]]));
  });

  it('counts live flows per backend and tuples per SNAT address, across many chunks', async (t) => {
    const dp = load(t);
    scenario(dp, { addrs: [SNAT_IP, SNAT_IP2] });
    for (let port = 2000; port < 2040; port++) send(dp, fromClient(port, SYN));
    for (let port = 6000; port < 6010; port++) send(dp, udpFromClient(port));
    for (let port = 3000; port < 3005; port++) {
      handshake(dp, port);
      send(dp, fromClient(port, RST));
    }
    // What the datapath chose, read through the codecs: the expected figures.
    const byBackend = new Map<number, number>();
    const byAddress = new Map<string, number>();
    for (const { key: k, conn: c } of dp.maps.conns()) {
      if (k.srcPort >= 3000 && k.srcPort < 3005) continue; // closing: expire below
      byBackend.set(c.backendId, (byBackend.get(c.backendId) ?? 0) + 1);
      byAddress.set(c.snatIp, (byAddress.get(c.snatIp) ?? 0) + 1);
    }
    assert.equal(byAddress.size, 2, 'the flows use both SNAT addresses');

    const { gc, ahead } = gcFor(dp, { chunkEntries: 7 });
    ahead(3n * SECOND);
    const pass = await gc.runPass();
    assert.deepEqual([pass.scanned, pass.expired, pass.entries, pass.orphansFreed], [55, 5, 50, 0]);
    assert.equal(pass.capacity, TEST_MAP_SIZES['lb_ct']);
    assert.deepEqual(pass.activeByBackend, byBackend);
    assert.deepEqual(pass.snatInUse, byAddress);
    assert.equal([...dp.maps.conns()].length, 50);
    assert.equal([...dp.maps.snatTuples()].length, 50);
  });

  it('applies new timeouts from update() at the next pass', async (t) => {
    const dp = load(t);
    scenario(dp);
    send(dp, udpFromClient(5001));
    const { gc, ahead } = gcFor(dp);
    ahead(10n * SECOND);
    assert.equal((await gc.runPass()).expired, 0);
    gc.update({ ...SETTINGS, timeouts: { ...SETTINGS.timeouts, udpMs: 5_000 } });
    assert.equal((await gc.runPass()).expired, 1);
    assert.deepEqual(snatEntries(dp), []);
  });
});
