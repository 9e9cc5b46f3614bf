/*
 * Which conntrack and SNAT entries a GC pass removes (DESIGN.md §4): the
 * verdict on one lb_ct entry (keep, expired, released, purged), and what
 * tells an lb_snat entry whose flow no longer holds the tuple. Pure: no maps,
 * no clock; conntrack-gc.ts does the reading and deleting.
 *
 * A pass judges up to a million entries, so the hot functions read batch
 * buffers as 32-bit words (a Uint32Array over the buffer, entries addressed
 * by word index) at the codecs' field offsets: no object or BigInt per entry,
 * and several times faster than Buffer's bounds-checked reads. Host-order
 * fields are little-endian (codecs.ts), as is every platform this runs on;
 * network-order fields are only compared or copied whole.
 */
import { LbConnState, lbConn, lbFlowKey, type LbConn } from '../datapath/codecs.js';
import { connTimeoutClass, type ConnTimeoutClass } from '../datapath/conn-state.js';
import type { ConntrackState } from '../model/desired-state.js';

/** conntrack.timeouts, in milliseconds. */
export type GcTimeouts = ConntrackState['timeouts'];

export const GcVerdict = {
  KEEP: 0,
  /** Idle for longer than its state's timeout: the entry and its tuple go. */
  EXPIRE: 1,
  /** The datapath handed its tuple to another flow: the entry goes, the tuple stays. */
  RELEASED: 2,
  /** Its backend is `state: disabled`: the entry and its tuple go, whatever its age. */
  PURGE: 3,
} as const;
export type GcVerdictValue = (typeof GcVerdict)[keyof typeof GcVerdict];

/** Index of the 32-bit word that holds `field`, which must start it unless `aligned` is false. */
function wordOf(struct: { name: string; fields: Readonly<Record<string, number>> }, field: string, aligned = true): number {
  const offset = struct.fields[field];
  if (offset === undefined) throw new Error(`${struct.name} has no field ${field}`);
  if (aligned && offset % 4 !== 0) throw new Error(`${struct.name}.${field} is not on a 32-bit word`);
  return Math.floor(offset / 4);
}

/** Bit position of the one-byte `field` within its word (little-endian). */
function byteInWord(struct: { name: string; fields: Readonly<Record<string, number>> }, field: string): number {
  return ((struct.fields[field] ?? 0) % 4) * 8;
}

/** Words per lb_conn and per lb_flow_key: the stride of entries in a word view. */
export const CONN_WORDS = lbConn.size / 4;
export const KEY_WORDS = lbFlowKey.size / 4;

const C_LAST_SEEN = wordOf(lbConn, 'last_seen_ns'); // low word; the high word follows
const C_STATE = wordOf(lbConn, 'state');
const C_BACKEND_ID = wordOf(lbConn, 'backend_id');
const C_BACKEND_IP = wordOf(lbConn, 'backend_ip');
const C_SNAT_IP = wordOf(lbConn, 'snat_ip');
// backend_port then snat_port: one word, laid out as an lb_snat key's src_port then dst_port.
const C_PORTS = wordOf(lbConn, 'backend_port');
const C_PROTO = wordOf(lbConn, 'proto', false);
const C_PROTO_SHIFT = byteInWord(lbConn, 'proto');
const K_SRC_IP = wordOf(lbFlowKey, 'src_ip');
const K_DST_IP = wordOf(lbFlowKey, 'dst_ip');
const K_PORTS = wordOf(lbFlowKey, 'src_port');
const K_PROTO = wordOf(lbFlowKey, 'proto');
const K_PROTO_SHIFT = byteInWord(lbFlowKey, 'proto');
if (lbConn.fields['snat_port'] !== (lbConn.fields['backend_port'] ?? 0) + 2 || lbFlowKey.fields['dst_port'] !== (lbFlowKey.fields['src_port'] ?? 0) + 2) {
  throw new Error('lb_conn ports and lb_flow_key ports no longer pair up as one word each');
}

/**
 * `buf` as 32-bit words: a view when it is aligned (Buffer.alloc'd buffers,
 * and batch entries of whole words, are), else a copy — so write only
 * through the words of a buffer you allocated.
 */
export function asWords(buf: Buffer): Uint32Array {
  if (buf.byteOffset % 4 === 0 && buf.length % 4 === 0) return new Uint32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const copy = new Uint32Array(Math.ceil(buf.length / 4));
  Buffer.from(copy.buffer).set(buf);
  return copy;
}

/**
 * A 64-bit stamp as two 32-bit words: entries are compared without making a
 * BigInt each. hi = -1 is below every stamp: nothing is older than it.
 */
interface Cutoff {
  readonly hi: number;
  readonly lo: number;
}
const NOTHING_OLDER: Cutoff = { hi: -1, lo: 0 };

/** What one pass judges against, fixed when it starts. */
export interface GcRule {
  /** Per timeout class: an entry last seen before this has expired. */
  readonly cutoffs: Readonly<Record<ConnTimeoutClass, Cutoff>>;
  readonly disabledBackends: ReadonlySet<number>;
}

function cutoff(nowNs: bigint, timeoutMs: number, name: string): Cutoff {
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new RangeError(`conntrack timeout ${name} must be >= 0 ms, got ${timeoutMs}`);
  const at = nowNs - BigInt(Math.round(timeoutMs * 1e6));
  // Early after boot the clock is below a timeout: no stamp can be that old,
  // and the subtraction must not wrap the way the u64 in C would.
  if (at <= 0n) return NOTHING_OLDER;
  return { hi: Number(at >> 32n), lo: Number(at & 0xffffffffn) };
}

/**
 * @param nowNs CLOCK_MONOTONIC nanoseconds, the datapath's time base.
 * An entry expires when now - last_seen > its timeout. A stamp slightly
 * ahead of `nowNs` (the datapath's coarse clock and this reading are taken on
 * different CPUs) is simply not old: no difference is ever computed per entry.
 */
export function gcRule(nowNs: bigint, timeouts: GcTimeouts, disabledBackends: ReadonlySet<number> = new Set()): GcRule {
  return {
    cutoffs: {
      tcp_syn: cutoff(nowNs, timeouts.tcpSynMs, 'tcp_syn'),
      tcp_established: cutoff(nowNs, timeouts.tcpEstablishedMs, 'tcp_established'),
      tcp_closing: cutoff(nowNs, timeouts.tcpClosingMs, 'tcp_closing'),
      udp: cutoff(nowNs, timeouts.udpMs, 'udp'),
    },
    disabledBackends,
  };
}

function judge(state: number, lastSeenHi: number, lastSeenLo: number, backendId: number, rule: GcRule): GcVerdictValue {
  // First: a released entry's tuple belongs to another flow, whatever else is true of it.
  if (state & LbConnState.RELEASED) return GcVerdict.RELEASED;
  if (rule.disabledBackends.has(backendId)) return GcVerdict.PURGE;
  const c = rule.cutoffs[connTimeoutClass(state)];
  return lastSeenHi < c.hi || (lastSeenHi === c.hi && lastSeenLo < c.lo) ? GcVerdict.EXPIRE : GcVerdict.KEEP;
}

/** The verdict on a decoded lb_conn. */
export function selectConn(conn: Pick<LbConn, 'state' | 'lastSeenNs' | 'backendId'>, rule: GcRule): GcVerdictValue {
  return judge(conn.state, Number(conn.lastSeenNs >> 32n), Number(conn.lastSeenNs & 0xffffffffn), conn.backendId, rule);
}

/** The verdict on the lb_conn starting at word `at` of `conns`. */
export function selectConnAt(conns: Uint32Array, at: number, rule: GcRule): GcVerdictValue {
  return judge(conns[at + C_STATE]!, conns[at + C_LAST_SEEN + 1]!, conns[at + C_LAST_SEEN]!, conns[at + C_BACKEND_ID]!, rule);
}

/** The datapath backend id of the lb_conn at word `at`. */
export function backendIdAt(conns: Uint32Array, at: number): number {
  return conns[at + C_BACKEND_ID]!;
}

/** The SNAT address of the lb_snat key at word `at`, as the u32 of its dotted form (198.18.0.5 -> 0xc6120005). */
export function snatAddressAt(replies: Uint32Array, at: number): number {
  const w = replies[at + K_DST_IP]!; // network order, read little-endian
  return (((w & 0xff) << 24) | ((w & 0xff00) << 8) | ((w >>> 8) & 0xff00) | (w >>> 24)) >>> 0;
}

function connProto(conns: Uint32Array, at: number): number {
  return (conns[at + C_PROTO]! >>> C_PROTO_SHIFT) & 0xff;
}

function keyProto(keys: Uint32Array, at: number): number {
  return (keys[at + K_PROTO]! >>> K_PROTO_SHIFT) & 0xff;
}

/** Writes at word `outAt` the lb_snat key the flow's replies arrive on (lb_conn_reply_key in bpf/lb_conntrack.h). */
export function replyKeyInto(conns: Uint32Array, at: number, out: Uint32Array, outAt: number): void {
  out.fill(0, outAt, outAt + KEY_WORDS);
  out[outAt + K_SRC_IP] = conns[at + C_BACKEND_IP]!;
  out[outAt + K_DST_IP] = conns[at + C_SNAT_IP]!;
  out[outAt + K_PORTS] = conns[at + C_PORTS]!;
  out[outAt + K_PROTO] = connProto(conns, at) << K_PROTO_SHIFT;
}

/**
 * Does the flow at word `at` still hold the tuple at word `replyAt`
 * (lb_conn_owns_reply, plus the protocol)? A released flow holds none.
 */
export function ownsReply(conns: Uint32Array, at: number, replies: Uint32Array, replyAt: number): boolean {
  return (
    (conns[at + C_STATE]! & LbConnState.RELEASED) === 0 &&
    conns[at + C_BACKEND_IP] === replies[replyAt + K_SRC_IP] &&
    conns[at + C_SNAT_IP] === replies[replyAt + K_DST_IP] &&
    conns[at + C_PORTS] === replies[replyAt + K_PORTS] &&
    connProto(conns, at) === keyProto(replies, replyAt)
  );
}

/* Word mixing of a 32-bit hash (multiply, rotate, xor). */
function mix(h: number, word: number): number {
  let w = Math.imul(word, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  h ^= Math.imul(w, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/*
 * The fingerprint of (owner key, reply tuple); never 0, which marks an empty
 * slot. A signed 32-bit value: it stays a small integer in V8, where an
 * unsigned one above 2^31 would be boxed on every call.
 */
function fingerprint(seed: number, owners: Uint32Array, ownerAt: number, ip1: number, ip2: number, ports: number, proto: number): number {
  let h = mix(seed, owners[ownerAt + K_SRC_IP]!);
  h = mix(h, owners[ownerAt + K_DST_IP]!);
  h = mix(h, owners[ownerAt + K_PORTS]!);
  h = mix(h, keyProto(owners, ownerAt));
  h = mix(h, ip1);
  h = mix(h, ip2);
  h = mix(h, ports);
  h = mix(h, proto);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h === 0 ? 1 : h;
}

/* The smallest table of prints (16 KiB). */
const MIN_OWNED_SLOTS = 4096;

/**
 * The tuples held by the flows a pass kept, so that the lb_snat scan can
 * tell an entry whose owner holds it without one lb_ct lookup per entry
 * (a million lookups would cost more than the whole scan).
 *
 * An open-addressing set of 32-bit prints of (owner key, tuple) in one typed
 * array: no object per flow. A print collision can only make an orphan look
 * held, so the set errs towards keeping; with a new seed each pass, the same
 * orphan is not hidden twice. Entries the set does not know (flows created
 * after the lb_ct scan passed them) are suspects that the GC checks with real
 * lookups before deleting anything.
 *
 * Callers compute the prints of a whole chunk first and add or look them up
 * in a second loop: the table is larger than the caches, and a loop of
 * independent probes lets the CPU overlap their misses (2-3x faster than
 * hashing and probing entry by entry, at a million entries).
 */
export class OwnedTuples {
  /*
   * Sized to the flows there are, not to the most there can be: a table for
   * a million flows is 8 MiB, and emptying it every pass keeps all of it
   * resident on a balancer that carries a few thousand. It doubles as a pass
   * adds, and each pass starts at the size the last one needed.
   */
  private slots: Int32Array;
  private mask: number;
  /* The size for lb_ct's max_entries: past 3/4 of it, probing slows down: stop adding and keep everything. */
  private readonly maxCapacity: number;
  private readonly limit: number;
  private size = 0;
  private seed = 0;
  private saturated = false;

  /** @param maxFlows lb_ct's max_entries: the most flows a pass can keep. */
  constructor(maxFlows: number) {
    let capacity = 16;
    while (capacity < 2 * maxFlows) capacity *= 2;
    this.maxCapacity = capacity;
    this.limit = Math.floor(capacity * 0.75);
    this.slots = new Int32Array(Math.min(MIN_OWNED_SLOTS, capacity));
    this.mask = this.slots.length - 1;
  }

  /** Empty the set for a new pass. */
  reset(seed: number): void {
    let capacity = Math.min(MIN_OWNED_SLOTS, this.maxCapacity);
    while (capacity < 2 * this.size && capacity < this.maxCapacity) capacity *= 2;
    if (capacity === this.slots.length) this.slots.fill(0);
    else this.resize(capacity);
    this.size = 0;
    this.seed = seed | 0;
    this.saturated = false;
  }

  /** The print of the tuple held by the lb_ct entry whose key is at word `keyAt` and lb_conn at word `connAt`. */
  printOfFlow(keys: Uint32Array, keyAt: number, conns: Uint32Array, connAt: number): number {
    return fingerprint(this.seed, keys, keyAt, conns[connAt + C_BACKEND_IP]!, conns[connAt + C_SNAT_IP]!, conns[connAt + C_PORTS]!, connProto(conns, connAt));
  }

  /** The print of the lb_snat entry whose reply key is at word `replyAt` and owner key at word `ownerAt`. */
  printOfTuple(replies: Uint32Array, replyAt: number, owners: Uint32Array, ownerAt: number): number {
    return fingerprint(this.seed, owners, ownerAt, replies[replyAt + K_SRC_IP]!, replies[replyAt + K_DST_IP]!, replies[replyAt + K_PORTS]!, keyProto(replies, replyAt));
  }

  add(print: number): void {
    if (this.saturated) return;
    if (this.size >= this.limit) {
      this.saturated = true;
      return;
    }
    // Below the full size, kept at most half full.
    if (2 * this.size >= this.slots.length && this.slots.length < this.maxCapacity) this.grow();
    if (this.insert(print)) this.size++;
  }

  /** Put a print in its slot; false when it was there already. */
  private insert(print: number): boolean {
    for (let i = print & this.mask; ; i = (i + 1) & this.mask) {
      const slot = this.slots[i];
      if (slot === print) return false;
      if (slot === 0) {
        this.slots[i] = print;
        return true;
      }
    }
  }

  /** An empty table of `capacity` slots. */
  private resize(capacity: number): void {
    this.slots = new Int32Array(capacity);
    this.mask = capacity - 1;
  }

  /** Twice the slots, with every print added so far. */
  private grow(): void {
    const old = this.slots;
    this.resize(old.length * 2);
    for (const print of old) if (print !== 0) this.insert(print);
  }

  /** Was a flow holding this print added (or is the set too full to say)? */
  has(print: number): boolean {
    if (this.saturated) return true;
    for (let i = print & this.mask; ; i = (i + 1) & this.mask) {
      const slot = this.slots[i];
      if (slot === print) return true;
      if (slot === 0) return false;
    }
  }
}
