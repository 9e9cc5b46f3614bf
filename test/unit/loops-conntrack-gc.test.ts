/*
 * The conntrack GC as a loop (src/loops/conntrack-gc.ts): scheduling on the
 * injected timers, hot reload of the interval and timeouts, stop() with a
 * pass in progress, yielding between chunks, failures and the log line.
 * Timers and clock are fakes driven by the test, and lb_ct/lb_snat are a
 * small in-memory stand-in: what a pass does to real maps is tested on the
 * kernel's maps in test/bpf/conntrack-gc.test.ts.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import pino from 'pino';
import type { Timers } from '../../src/agent/timers.js';
import { IPPROTO_TCP, LbConnState, lbConn, lbFlowKey, type LbConn } from '../../src/datapath/codecs.js';
import type { DatapathMaps } from '../../src/datapath/datapath-maps.js';
import type { BpfMap, PackedChunk } from '../../src/kernel/bpf-map.js';
import { ConntrackGc, type GcPassStats, type GcSettings } from '../../src/loops/conntrack-gc.js';

const MS = 1_000_000n;
const SETTINGS: GcSettings = {
  intervalMs: 1000,
  timeouts: { tcpSynMs: 30_000, tcpEstablishedMs: 600_000, tcpClosingMs: 2_000, udpMs: 30_000 },
};

/** Timers that run only when the test says so, and remember what is pending. */
class ManualTimers implements Timers {
  private next = 1;
  readonly pending = new Map<number, { callback: () => void; ms: number }>();

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { callback, ms });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** The delays of the pending timers. */
  delays(): number[] {
    return [...this.pending.values()].map((t) => t.ms);
  }

  /** Fires every pending timer, as if their time had come. */
  fire(): void {
    const due = [...this.pending.entries()];
    this.pending.clear();
    for (const [, t] of due) t.callback();
  }
}

/** Just what the GC uses of a BpfMap, over a JS Map; batches are read in insertion order. */
class MemoryMap {
  readonly entries = new Map<string, { key: Buffer; value: Buffer }>();
  /** Makes the next batch read throw, like a failing syscall. */
  failNextScan = false;

  constructor(
    readonly keySize: number,
    readonly valueBufferSize: number,
    readonly maxEntries = 1024,
  ) {}

  update(key: Buffer, value: Buffer): void {
    this.entries.set(key.toString('hex'), { key: Buffer.from(key), value: Buffer.from(value) });
  }

  lookup(key: Buffer): Buffer | undefined {
    const e = this.entries.get(key.toString('hex'));
    return e && Buffer.from(e.value);
  }

  delete(key: Buffer): boolean {
    return this.entries.delete(key.toString('hex'));
  }

  deleteBatch(keys: readonly Buffer[]): number {
    return keys.filter((k) => this.delete(k)).length;
  }

  *lookupBatchPacked(opts: { chunk?: number } = {}): Generator<PackedChunk> {
    if (this.failNextScan) {
      this.failNextScan = false;
      throw new Error('batch lookup failed');
    }
    const chunk = opts.chunk ?? 1024;
    const all = [...this.entries.values()];
    for (let at = 0; at < all.length; at += chunk) {
      const part = all.slice(at, at + chunk);
      yield { keys: Buffer.concat(part.map((e) => e.key)), values: Buffer.concat(part.map((e) => e.value)), count: part.length };
    }
  }
}

interface Rig {
  gc: ConntrackGc;
  timers: ManualTimers;
  ct: MemoryMap;
  snat: MemoryMap;
  /** The fake monotonic clock, in ns. */
  now: { ns: bigint };
  logs: Record<string, unknown>[];
}

function rig(opts: { flows?: number; chunkEntries?: number; onPass?: (stats: GcPassStats) => void } = {}): Rig {
  const timers = new ManualTimers();
  const ct = new MemoryMap(lbFlowKey.size, lbConn.size);
  const snat = new MemoryMap(lbFlowKey.size, lbFlowKey.size);
  const now = { ns: 1_000_000n * MS };
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const maps = { map: (name: string) => (name === 'lb_ct' ? ct : snat) as unknown as BpfMap } as Pick<DatapathMaps, 'map'>;
  const gc = new ConntrackGc({
    maps,
    context: { timers, clock: () => now.ns, log: pino({ level: 'debug' }, sink) },
    settings: SETTINGS,
    chunkEntries: opts.chunkEntries ?? 1024,
    onPass: opts.onPass,
  });
  for (let i = 0; i < (opts.flows ?? 0); i++) addFlow({ ct, snat }, i, { lastSeenNs: now.ns, state: LbConnState.UDP });
  return { gc, timers, ct, snat, now, logs };
}

/** Flow i of client 198.18.1.1, with its SNAT tuple. */
function addFlow(maps: { ct: MemoryMap; snat: MemoryMap }, i: number, conn: Partial<LbConn>): void {
  const c: LbConn = {
    lastSeenNs: 0n,
    createdNs: 0n,
    clientIp: '198.18.1.1',
    vip: '198.18.0.10',
    backendIp: '198.18.0.2',
    snatIp: '198.18.0.5',
    clientPort: 1000 + i,
    vport: 80,
    backendPort: 8080,
    snatPort: 20000 + i,
    clientMac: '02:00:5e:00:02:01',
    proto: IPPROTO_TCP,
    serviceId: 0,
    backendId: 1,
    state: LbConnState.SYN_SEEN,
    ...conn,
  };
  const owner = lbFlowKey.encode({ srcIp: c.clientIp, dstIp: c.vip, srcPort: c.clientPort, dstPort: c.vport, proto: c.proto });
  maps.ct.update(owner, lbConn.encode(c));
  maps.snat.update(lbFlowKey.encode({ srcIp: c.backendIp, dstIp: c.snatIp, srcPort: c.backendPort, dstPort: c.snatPort, proto: c.proto }), owner);
}

/** Entries the last pass scanned; a function, so that assertions do not narrow gc.lastPass for good. */
function scannedBy(gc: ConntrackGc): number | undefined {
  return gc.lastPass?.scanned;
}

/** Resolves once the scheduled pass has run: passes here are a few event loop turns. */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await nextTurn();
}

describe('conntrack GC loop: scheduling', () => {
  it('runs a pass one interval after start(), then one interval after each pass', async () => {
    const { gc, timers } = rig({ flows: 3 });
    gc.start();
    assert.deepEqual(timers.delays(), [1000]);
    assert.equal(scannedBy(gc), undefined, 'no pass before the interval');
    timers.fire();
    assert.deepEqual(timers.delays(), [], 'no next pass while one runs');
    await settle();
    assert.equal(gc.lastPass?.scanned, 3);
    assert.deepEqual(timers.delays(), [1000]);
    timers.fire();
    await settle();
    assert.deepEqual(timers.delays(), [1000]);
    await gc.stop();
    assert.equal(timers.pending.size, 0);
  });

  it('tells onPass the figures of every completed pass', async () => {
    const told: GcPassStats[] = [];
    const { gc, now } = rig({ flows: 3, onPass: (stats) => told.push(stats) });
    await gc.runPass();
    now.ns += 60_000n * MS;
    await gc.runPass();
    assert.equal(told.length, 2);
    assert.equal(told[1], gc.lastPass);
    assert.deepEqual(told.map((s) => [s.scanned, s.expired]), [[3, 0], [3, 3]]);
  });

  it('start() twice schedules one timer; stop() then start() resumes', async () => {
    const { gc, timers } = rig();
    gc.start();
    gc.start();
    assert.equal(timers.pending.size, 1);
    await gc.stop();
    assert.equal(timers.pending.size, 0);
    gc.start();
    assert.equal(timers.pending.size, 1);
    await gc.stop();
  });

  it('update() with a new interval replaces the pending timer; the same interval leaves it', async () => {
    const { gc, timers } = rig();
    gc.start();
    const [first] = timers.pending.keys();
    gc.update({ ...SETTINGS, timeouts: { ...SETTINGS.timeouts, udpMs: 1 } });
    assert.deepEqual([...timers.pending.keys()], [first]);
    gc.update({ ...SETTINGS, intervalMs: 250 });
    assert.deepEqual(timers.delays(), [250]);
    timers.fire();
    await settle();
    assert.deepEqual(timers.delays(), [250], 'the next pass keeps the new interval');
    await gc.stop();
  });

  it('update() during a pass sets the interval of the next one', async () => {
    const { gc, timers } = rig({ flows: 10, chunkEntries: 1 });
    gc.start();
    timers.fire();
    gc.update({ ...SETTINGS, intervalMs: 5000 });
    await settle();
    assert.deepEqual(timers.delays(), [5000]);
    await gc.stop();
  });

  it('judges ages on the injected clock, with the timeouts of the last update()', async () => {
    const { gc, ct, now } = rig({ flows: 4 });
    now.ns += 20_000n * MS;
    assert.equal((await gc.runPass()).expired, 0);
    gc.update({ ...SETTINGS, timeouts: { ...SETTINGS.timeouts, udpMs: 10_000 } });
    const pass = await gc.runPass();
    assert.equal(pass.expired, 4);
    assert.equal(ct.entries.size, 0);
  });
});

describe('conntrack GC loop: stop()', () => {
  it('with a pass in progress: waits for it to complete and leaves no timer', async () => {
    const { gc, timers } = rig({ flows: 20, chunkEntries: 1 });
    gc.start();
    timers.fire(); // the pass starts and yields after its first chunk
    assert.equal(scannedBy(gc), undefined, 'the pass is in progress');
    let stopped = false;
    const stopping = gc.stop().then(() => {
      stopped = true;
    });
    await nextTurn();
    assert.equal(stopped, false, 'stop() waits for the pass');
    await stopping;
    assert.equal(gc.lastPass?.scanned, 20, 'the pass completed before stop() resolved');
    assert.equal(timers.pending.size, 0);
    await settle();
    assert.equal(timers.pending.size, 0, 'nothing scheduled after the pass either');
  });

  it('before any pass: cancels the timer', async () => {
    const { gc, timers } = rig({ flows: 2 });
    gc.start();
    await gc.stop();
    assert.equal(timers.pending.size, 0);
    assert.equal(gc.lastPass, undefined);
  });
});

describe('conntrack GC loop: passes', () => {
  it('yields to the event loop between chunks', async () => {
    const { gc } = rig({ flows: 12, chunkEntries: 2 });
    let turns = 0;
    let done = false;
    const spin = (): void => {
      if (done) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    await gc.runPass();
    done = true;
    // 6 lb_ct chunks and 6 lb_snat chunks, each followed by a yield.
    assert.ok(turns >= 12, `only ${turns} event loop turns during the pass`);
  });

  it('runPass() during a pass joins it instead of starting another', async () => {
    const { gc } = rig({ flows: 6, chunkEntries: 1 });
    const a = gc.runPass();
    const b = gc.runPass();
    assert.equal(a, b);
    const stats = await a;
    assert.equal(stats.scanned, 6);
    assert.notEqual(gc.runPass(), a, 'a later call starts a new pass');
    await gc.stop();
  });

  it('a failed pass is logged and the loop goes on', async () => {
    const { gc, timers, ct, logs } = rig({ flows: 1 });
    ct.failNextScan = true;
    gc.start();
    timers.fire();
    await settle();
    const failure = logs.find((l) => l['level'] === 50);
    assert.equal(failure?.['event'], 'conntrack-gc');
    assert.match(String(failure?.['err']), /batch lookup failed/);
    assert.deepEqual(timers.delays(), [1000]);
    timers.fire();
    await settle();
    assert.equal(gc.lastPass?.scanned, 1);
    await gc.stop();
  });

  it('logs one debug line per pass with its figures', async () => {
    const { gc, ct, snat, now, logs } = rig({ flows: 2 });
    addFlow({ ct, snat }, 10, { lastSeenNs: 0n, state: LbConnState.RST }); // long closed
    now.ns += 1n;
    await gc.runPass();
    await gc.runPass();
    const lines = logs.filter((l) => l['event'] === 'conntrack-gc');
    assert.equal(lines.length, 2);
    const first = lines[0]!;
    assert.equal(first['level'], 20);
    assert.deepEqual(
      ['scanned', 'expired', 'released', 'purged', 'orphansFreed', 'entries', 'capacity'].map((k) => first[k]),
      [3, 1, 0, 0, 0, 2, 1024],
    );
    assert.equal(typeof first['durationMs'], 'number');
  });
});
