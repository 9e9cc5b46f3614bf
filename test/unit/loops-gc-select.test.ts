/*
 * The GC's pure selection (src/loops/gc-select.ts): which timeout each state
 * gets, the exact boundary, released and disabled entries, a datapath stamp
 * ahead of the agent's clock, and the tuple helpers the GC deletes by.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { IPPROTO_TCP, IPPROTO_UDP, LbConnState, lbConn, lbFlowKey, type LbConn, type LbFlowKey } from '../../src/datapath/codecs.js';
import {
  CONN_WORDS,
  GcVerdict,
  KEY_WORDS,
  OwnedTuples,
  asWords,
  backendIdAt,
  gcRule,
  ownsReply,
  replyKeyInto,
  selectConn,
  selectConnAt,
  snatAddressAt,
  type GcTimeouts,
} from '../../src/loops/gc-select.js';

const MS = 1_000_000n;
/* All different, so a state judged by the wrong class fails at some boundary. */
const TIMEOUTS: GcTimeouts = { tcpSynMs: 30_000, tcpEstablishedMs: 600_000, tcpClosingMs: 2_000, udpMs: 45_000 };
/* Well past boot, and with a non-zero high word. */
const NOW = (1n << 40n) + 123_456_789n;

const S = LbConnState;
const CLASSES: { name: string; state: number; timeoutMs: number }[] = [
  { name: 'SYN seen', state: S.SYN_SEEN, timeoutMs: TIMEOUTS.tcpSynMs },
  { name: 'SYN+ACK seen, not yet ACKed', state: S.SYN_SEEN | S.SYNACK_SEEN, timeoutMs: TIMEOUTS.tcpSynMs },
  { name: 'established', state: S.SYN_SEEN | S.SYNACK_SEEN | S.ESTABLISHED, timeoutMs: TIMEOUTS.tcpEstablishedMs },
  { name: 'FIN from the client', state: S.SYN_SEEN | S.SYNACK_SEEN | S.ESTABLISHED | S.FIN_CLIENT, timeoutMs: TIMEOUTS.tcpClosingMs },
  { name: 'FIN from the backend', state: S.SYN_SEEN | S.SYNACK_SEEN | S.ESTABLISHED | S.FIN_BACKEND, timeoutMs: TIMEOUTS.tcpClosingMs },
  { name: 'FIN both ways', state: S.SYN_SEEN | S.ESTABLISHED | S.FIN_CLIENT | S.FIN_BACKEND, timeoutMs: TIMEOUTS.tcpClosingMs },
  { name: 'RST before establishment', state: S.SYN_SEEN | S.RST, timeoutMs: TIMEOUTS.tcpClosingMs },
  { name: 'UDP', state: S.UDP, timeoutMs: TIMEOUTS.udpMs },
];

const BASE: LbConn = {
  lastSeenNs: NOW,
  createdNs: NOW - 1000n * MS,
  clientIp: '198.18.1.1',
  vip: '198.18.0.10',
  backendIp: '198.18.0.2',
  snatIp: '198.18.0.5',
  clientPort: 40000,
  vport: 80,
  backendPort: 8080,
  snatPort: 20001,
  clientMac: '02:00:5e:00:02:01',
  proto: IPPROTO_TCP,
  serviceId: 3,
  backendId: 7,
  state: S.SYN_SEEN | S.SYNACK_SEEN | S.ESTABLISHED,
};
const TUPLE: LbFlowKey = { srcIp: BASE.backendIp, dstIp: BASE.snatIp, srcPort: BASE.backendPort, dstPort: BASE.snatPort, proto: IPPROTO_TCP };

/** The verdict both ways: on the decoded conn, and at an offset of an encoded batch buffer. */
function verdict(conn: Partial<LbConn>, nowNs = NOW, disabled?: ReadonlySet<number>): number {
  const rule = gcRule(nowNs, TIMEOUTS, disabled);
  const full = { ...BASE, ...conn };
  const decoded = selectConn(full, rule);
  const buf = Buffer.alloc(3 * lbConn.size, 0xee);
  lbConn.encodeInto(full, buf, lbConn.size);
  assert.equal(selectConnAt(asWords(buf), CONN_WORDS, rule), decoded, 'selectConnAt agrees with selectConn');
  return decoded;
}

describe('gc-select: expiry by state', () => {
  for (const c of CLASSES) {
    it(`${c.name}: kept at exactly its timeout, expired one nanosecond later`, () => {
      const timeout = BigInt(c.timeoutMs) * MS;
      assert.equal(verdict({ state: c.state, lastSeenNs: NOW - timeout }), GcVerdict.KEEP);
      assert.equal(verdict({ state: c.state, lastSeenNs: NOW - timeout - 1n }), GcVerdict.EXPIRE);
      assert.equal(verdict({ state: c.state, lastSeenNs: NOW }), GcVerdict.KEEP);
      assert.equal(verdict({ state: c.state, lastSeenNs: 0n }), GcVerdict.EXPIRE);
    });
  }

  it('UDP gets the udp timeout whatever other bits say', () => {
    const state = S.UDP | S.FIN_CLIENT;
    assert.equal(verdict({ state, lastSeenNs: NOW - BigInt(TIMEOUTS.tcpClosingMs) * MS - 1n }), GcVerdict.KEEP);
    assert.equal(verdict({ state, lastSeenNs: NOW - BigInt(TIMEOUTS.udpMs) * MS - 1n }), GcVerdict.EXPIRE);
  });

  it('compares both 32-bit halves of the stamps', () => {
    // Cutoff with a low word of 0: one below it borrows from the high word.
    const now = (5n << 32n) + BigInt(TIMEOUTS.tcpClosingMs) * MS;
    const state = S.RST;
    assert.equal(verdict({ state, lastSeenNs: 5n << 32n }, now), GcVerdict.KEEP);
    assert.equal(verdict({ state, lastSeenNs: (5n << 32n) - 1n }, now), GcVerdict.EXPIRE);
    assert.equal(verdict({ state, lastSeenNs: (4n << 32n) + 0xffffffffn }, now), GcVerdict.EXPIRE);
    assert.equal(verdict({ state, lastSeenNs: (6n << 32n) - 1n }, now), GcVerdict.KEEP);
  });

  it('a fractional timeout counts to the nanosecond', () => {
    const rule = gcRule(NOW, { ...TIMEOUTS, tcpClosingMs: 1.5 });
    assert.equal(selectConn({ state: S.RST, lastSeenNs: NOW - 1_500_000n, backendId: 1 }, rule), GcVerdict.KEEP);
    assert.equal(selectConn({ state: S.RST, lastSeenNs: NOW - 1_500_001n, backendId: 1 }, rule), GcVerdict.EXPIRE);
  });

  it('rejects a negative or non-finite timeout', () => {
    assert.throws(() => gcRule(NOW, { ...TIMEOUTS, udpMs: -1 }), RangeError);
    assert.throws(() => gcRule(NOW, { ...TIMEOUTS, tcpSynMs: Number.NaN }), RangeError);
  });

  it('matches the definition now - last_seen > timeout on random stamps', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        // Mostly near the boundaries: from 10 s ahead of now to 700 s behind it.
        fc.oneof(fc.bigInt({ min: -10_000n * MS, max: 700_000n * MS }), fc.bigInt({ min: -(1n << 64n), max: 1n << 64n })),
        fc.constantFrom(...CLASSES),
        (now, behind, c) => {
          const lastSeen = now - behind;
          fc.pre(lastSeen >= 0n && lastSeen < 1n << 64n);
          const idleTooLong = lastSeen < now && now - lastSeen > BigInt(c.timeoutMs) * MS;
          assert.equal(verdict({ state: c.state, lastSeenNs: lastSeen }, now), idleTooLong ? GcVerdict.EXPIRE : GcVerdict.KEEP);
        },
      ),
    );
  });
});

describe('gc-select: clock skew and early boot', () => {
  it('keeps an entry stamped ahead of the agent clock (coarse clock, another CPU), even with a zero timeout', () => {
    assert.equal(verdict({ state: S.RST, lastSeenNs: NOW + 4n * MS }), GcVerdict.KEEP);
    const rule = gcRule(NOW, { tcpSynMs: 0, tcpEstablishedMs: 0, tcpClosingMs: 0, udpMs: 0 });
    assert.equal(selectConn({ state: S.UDP, lastSeenNs: NOW + 1n, backendId: 1 }, rule), GcVerdict.KEEP);
    assert.equal(selectConn({ state: S.UDP, lastSeenNs: NOW, backendId: 1 }, rule), GcVerdict.KEEP);
    assert.equal(selectConn({ state: S.UDP, lastSeenNs: NOW - 1n, backendId: 1 }, rule), GcVerdict.EXPIRE);
    assert.equal(selectConn({ state: S.UDP, lastSeenNs: (1n << 64n) - 1n, backendId: 1 }, rule), GcVerdict.KEEP);
  });

  it('expires nothing while the clock is below a timeout (no wrap-around)', () => {
    const timeout = BigInt(TIMEOUTS.tcpClosingMs) * MS;
    assert.equal(verdict({ state: S.RST, lastSeenNs: 0n }, timeout - 1n), GcVerdict.KEEP);
    assert.equal(verdict({ state: S.RST, lastSeenNs: 0n }, timeout), GcVerdict.KEEP);
    assert.equal(verdict({ state: S.RST, lastSeenNs: 0n }, timeout + 1n), GcVerdict.EXPIRE);
    assert.equal(verdict({ state: S.RST, lastSeenNs: 0n }, 0n), GcVerdict.KEEP);
  });
});

describe('gc-select: released and disabled', () => {
  it('a released entry goes as released, fresh or old, disabled backend or not', () => {
    for (const c of CLASSES) {
      const state = c.state | S.RELEASED;
      assert.equal(verdict({ state }), GcVerdict.RELEASED, c.name);
      assert.equal(verdict({ state, lastSeenNs: 0n }), GcVerdict.RELEASED, c.name);
      assert.equal(verdict({ state }, NOW, new Set([BASE.backendId])), GcVerdict.RELEASED, c.name);
    }
  });

  it("a disabled backend's flows are purged whatever their age; other backends' flows are judged by age", () => {
    const disabled = new Set([BASE.backendId, 99]);
    assert.equal(verdict({}, NOW, disabled), GcVerdict.PURGE);
    assert.equal(verdict({ lastSeenNs: 0n }, NOW, disabled), GcVerdict.PURGE);
    assert.equal(verdict({ backendId: 8 }, NOW, disabled), GcVerdict.KEEP);
    assert.equal(verdict({ backendId: 8, lastSeenNs: 0n }, NOW, disabled), GcVerdict.EXPIRE);
  });
});

describe('gc-select: tuples', () => {
  const connWords = (c: Partial<LbConn> = {}): Uint32Array => asWords(lbConn.encode({ ...BASE, ...c }));
  const keyWords = (k: LbFlowKey): Uint32Array => asWords(lbFlowKey.encode(k));

  it('replyKeyInto writes the lb_snat key of the flow, padding zeroed', () => {
    const out = Buffer.alloc(3 * lbFlowKey.size, 0xff);
    replyKeyInto(connWords(), 0, asWords(out), KEY_WORDS);
    assert.deepEqual(out.subarray(lbFlowKey.size, 2 * lbFlowKey.size), lbFlowKey.encode(TUPLE));
    assert.deepEqual(out.subarray(0, lbFlowKey.size), Buffer.alloc(lbFlowKey.size, 0xff), 'writes only its slot');
  });

  it('ownsReply: the tuple the flow was given, unless released; any other field differing is another tuple', () => {
    const tuple = keyWords(TUPLE);
    assert.equal(ownsReply(connWords(), 0, tuple, 0), true);
    assert.equal(ownsReply(connWords({ state: BASE.state | S.RELEASED }), 0, tuple, 0), false);
    const others: Partial<LbFlowKey>[] = [
      { srcIp: '198.18.0.3' },
      { dstIp: '198.18.0.6' },
      { srcPort: 8081 },
      { dstPort: 20002 },
      { proto: IPPROTO_UDP },
    ];
    for (const other of others) assert.equal(ownsReply(connWords(), 0, keyWords({ ...TUPLE, ...other }), 0), false, JSON.stringify(other));
  });

  it('reads the backend id of a conn and the SNAT address of a tuple', () => {
    assert.equal(backendIdAt(connWords(), 0), 7);
    assert.equal(snatAddressAt(keyWords(TUPLE), 0), 0xc6120005);
    assert.equal(snatAddressAt(keyWords({ ...TUPLE, dstIp: '255.1.2.254' }), 0), 0xff0102fe);
  });

  it('asWords reads an unaligned buffer through a copy, an aligned one in place', () => {
    const backing = Buffer.alloc(lbConn.size + 1);
    const unaligned = backing.subarray(1);
    lbConn.encodeInto(BASE, unaligned);
    assert.equal(backendIdAt(asWords(unaligned), 0), 7);
    const aligned = lbConn.encode(BASE);
    const words = asWords(aligned);
    aligned.writeUInt32LE(9, lbConn.fields['backend_id']!);
    assert.equal(backendIdAt(words, 0), 9);
  });
});

describe('gc-select: OwnedTuples', () => {
  /** Flow n: a client port and a SNAT port of its own. */
  const flow = (n: number): { key: Uint32Array; conn: Uint32Array; tuple: Uint32Array } => {
    const c: LbConn = { ...BASE, clientPort: 1024 + (n % 60000), clientIp: `198.18.${2 + Math.floor(n / 60000)}.1`, snatPort: 10000 + (n % 50000), snatIp: n < 50000 ? '198.18.0.5' : '198.18.0.6' };
    const owner: LbFlowKey = { srcIp: c.clientIp, dstIp: c.vip, srcPort: c.clientPort, dstPort: c.vport, proto: c.proto };
    return { key: asWords(lbFlowKey.encode(owner)), conn: asWords(lbConn.encode(c)), tuple: asWords(lbFlowKey.encode({ ...TUPLE, dstIp: c.snatIp, dstPort: c.snatPort })) };
  };

  it('holds exactly the (tuple, owner) pairs of the flows added', () => {
    const set = new OwnedTuples(1000);
    set.reset(42);
    const a = flow(1);
    const b = flow(2);
    set.add(set.printOfFlow(a.key, 0, a.conn, 0));
    assert.equal(set.has(set.printOfTuple(a.tuple, 0, a.key, 0)), true);
    assert.equal(set.has(set.printOfTuple(a.tuple, 0, b.key, 0)), false, 'the tuple named by another owner');
    assert.equal(set.has(set.printOfTuple(b.tuple, 0, a.key, 0)), false, 'another tuple named by the owner');
    set.reset(43);
    assert.equal(set.has(set.printOfTuple(a.tuple, 0, a.key, 0)), false, 'reset empties it');
  });

  it('tells apart pairs that differ in any one field of the owner or of the tuple', () => {
    const set = new OwnedTuples(1000);
    set.reset(5);
    const owner: LbFlowKey = { srcIp: BASE.clientIp, dstIp: BASE.vip, srcPort: BASE.clientPort, dstPort: BASE.vport, proto: IPPROTO_TCP };
    const words = (k: LbFlowKey): Uint32Array => asWords(lbFlowKey.encode(k));
    set.add(set.printOfFlow(words(owner), 0, asWords(lbConn.encode(BASE)), 0));
    assert.equal(set.has(set.printOfTuple(words(TUPLE), 0, words(owner), 0)), true);
    const variants: Partial<LbFlowKey>[] = [{ srcIp: '198.18.9.9' }, { dstIp: '198.18.9.9' }, { srcPort: 1 }, { dstPort: 1 }, { proto: IPPROTO_UDP }];
    for (const v of variants) {
      assert.equal(set.has(set.printOfTuple(words(TUPLE), 0, words({ ...owner, ...v }), 0)), false, `owner ${JSON.stringify(v)}`);
      assert.equal(set.has(set.printOfTuple(words({ ...TUPLE, ...v }), 0, words(owner), 0)), false, `tuple ${JSON.stringify(v)}`);
    }
  });

  it('finds every flow added among 100,000 and almost no other pair', () => {
    const n = 100_000;
    const set = new OwnedTuples(n);
    set.reset(7);
    for (let i = 0; i < n; i += 2) {
      const f = flow(i);
      set.add(set.printOfFlow(f.key, 0, f.conn, 0));
    }
    let strays = 0;
    for (let i = 0; i < n; i++) {
      const f = flow(i);
      const held = set.has(set.printOfTuple(f.tuple, 0, f.key, 0));
      if (i % 2 === 0) assert.ok(held, `flow ${i} missing`);
      else if (held) strays++;
    }
    // 32-bit prints: ~50,000 / 2^32 false hits expected per query.
    assert.ok(strays <= 2, `${strays} pairs held that were never added`);
  });

  it('once fuller than it was sized for, answers "held" for everything (keeps rather than frees)', () => {
    const set = new OwnedTuples(4);
    set.reset(1);
    for (let i = 0; i < 40; i++) {
      const f = flow(i);
      set.add(set.printOfFlow(f.key, 0, f.conn, 0));
    }
    const stranger = flow(999);
    assert.equal(set.has(set.printOfTuple(stranger.tuple, 0, stranger.key, 0)), true);
  });
});
