/*
 * The conntrack GC loop (DESIGN.md §4): every gc_interval, one pass over
 * lb_ct and lb_snat. The datapath only ever adds flows; this loop owns their
 * removal — expired flows with their SNAT tuples, released entries, the
 * flows of disabled backends, and lb_snat entries no flow holds — and it
 * reports each pass's figures (for metrics and status: active connections
 * per backend, SNAT tuples in use per address, table fill).
 *
 * koffi calls are synchronous, so a pass reads the tables in bounded chunks
 * and yields to the event loop after each: a reload or a health check waits
 * for one chunk at most, never for a million-entry scan.
 *
 * The datapath keeps working while a pass runs, so nothing is deleted on the
 * strength of the scan alone; see Pass for the re-reads and their order.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { uint32ToIpv4 } from '../datapath/codecs.js';
import type { DatapathMaps } from '../datapath/datapath-maps.js';
import type { BpfMap } from '../kernel/bpf-map.js';
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
  selectConnAt,
  snatAddressAt,
  type GcRule,
  type GcTimeouts,
} from './gc-select.js';
import type { BackgroundLoop, LoopContext } from './loop-context.js';

export interface GcSettings {
  /** conntrack.gc_interval: from the end of one pass to the start of the next. */
  readonly intervalMs: number;
  readonly timeouts: GcTimeouts;
}

export interface GcPassStats {
  /** lb_ct entries read. */
  readonly scanned: number;
  /** Flows removed, with their tuples, for being idle past their state's timeout. */
  readonly expired: number;
  /** Entries removed whose tuple the datapath had handed to another flow. */
  readonly released: number;
  /** Flows of disabled backends removed, with their tuples. */
  readonly purged: number;
  /** lb_snat entries freed that no flow held. */
  readonly orphansFreed: number;
  readonly durationMs: number;
  /** lb_ct entries after the pass, as far as it saw (flows created meanwhile may be missing). */
  readonly entries: number;
  /** lb_ct max_entries. */
  readonly capacity: number;
  /** Live (not released) flows left per datapath backend id. */
  readonly activeByBackend: ReadonlyMap<number, number>;
  /** lb_snat tuples in use per SNAT address. */
  readonly snatInUse: ReadonlyMap<string, number>;
}

export interface ConntrackGcOptions {
  /** Only lb_ct and lb_snat are used. */
  readonly maps: Pick<DatapathMaps, 'map'>;
  readonly context: LoopContext;
  readonly settings: GcSettings;
  /** Datapath ids of the backends with config `state: disabled`, asked once per pass. */
  readonly disabledBackends?: () => ReadonlySet<number>;
  /** Entries per batch read: bounds how long one chunk holds the event loop. */
  readonly chunkEntries?: number;
  /** Each completed pass's figures (for the runtime records and metrics). */
  readonly onPass?: (stats: GcPassStats) => void;
}

/* A chunk holds the event loop ~3 ms, or under 20 ms when 10 % of it expires (bench/gc-bench.ts, 1M flows). */
const DEFAULT_CHUNK_ENTRIES = 4096;

const NO_BACKENDS: ReadonlySet<number> = new Set();

export class ConntrackGc implements BackgroundLoop {
  private readonly ct: BpfMap;
  private readonly snat: BpfMap;
  private readonly context: LoopContext;
  private readonly disabledBackends: () => ReadonlySet<number>;
  private readonly chunkEntries: number;
  private readonly onPass: (stats: GcPassStats) => void;
  private settings: GcSettings;
  private owned: OwnedTuples | undefined;
  private timer: unknown;
  private running: Promise<GcPassStats> | undefined;
  private stopped = true;
  private last: GcPassStats | undefined;

  constructor(options: ConntrackGcOptions) {
    this.ct = options.maps.map('lb_ct');
    this.snat = options.maps.map('lb_snat');
    this.context = options.context;
    this.settings = options.settings;
    this.disabledBackends = options.disabledBackends ?? (() => NO_BACKENDS);
    this.chunkEntries = options.chunkEntries ?? DEFAULT_CHUNK_ENTRIES;
    this.onPass = options.onPass ?? (() => undefined);
  }

  /** The figures of the last completed pass. */
  get lastPass(): GcPassStats | undefined {
    return this.last;
  }

  /** Hot reload: new timeouts apply from the next pass; a new interval reschedules the pending one. */
  update(settings: GcSettings): void {
    const rescheduling = settings.intervalMs !== this.settings.intervalMs && this.timer !== undefined;
    this.settings = settings;
    if (rescheduling) {
      this.context.timers.clearTimeout(this.timer);
      this.timer = undefined;
      this.schedule();
    }
  }

  /** The first pass runs one interval from now. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  /** Cancels the next pass and waits for the one in progress, if any, to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) {
      this.context.timers.clearTimeout(this.timer);
      this.timer = undefined;
    }
    // Its failure was logged by the scheduled run (or belongs to a runPass caller).
    await this.running?.catch(() => undefined);
  }

  /** One pass now; joins the pass in progress instead of running two at once. */
  runPass(): Promise<GcPassStats> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private schedule(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = this.context.timers.setTimeout(() => {
      this.timer = undefined;
      void this.scheduledPass();
    }, this.settings.intervalMs);
  }

  private async scheduledPass(): Promise<void> {
    try {
      await this.runPass();
    } catch (err) {
      this.context.log.error({ event: 'conntrack-gc', err: err instanceof Error ? err.message : String(err) }, 'conntrack GC pass failed');
    }
    this.schedule();
  }

  private async pass(): Promise<GcPassStats> {
    const { clock, log } = this.context;
    const started = clock();
    this.owned ??= new OwnedTuples(this.ct.maxEntries);
    // A fresh seed each pass: a print collision never hides the same orphan twice.
    this.owned.reset(Number(started & 0xffffffffn));
    const pass = new Pass(this.ct, this.snat, gcRule(started, this.settings.timeouts, this.disabledBackends()), this.owned, this.chunkEntries);
    await pass.sweepConntrack();
    await pass.sweepSnat();
    const stats = pass.stats(Number(clock() - started) / 1e6);
    this.last = stats;
    const { scanned, expired, released, purged, orphansFreed, durationMs, entries, capacity } = stats;
    log.debug({ event: 'conntrack-gc', scanned, expired, released, purged, orphansFreed, durationMs, entries, capacity }, 'conntrack GC pass');
    this.onPass(stats);
    return stats;
  }
}

/*
 * One pass: first lb_ct (removing flows and their tuples, and noting the
 * tuples the flows it keeps hold), then lb_snat (freeing tuples no flow holds).
 *
 * Every removal rests on fresh reads taken just before it, because the
 * datapath changes both maps under us:
 *  - a flow's lb_ct entry is re-read and re-judged, then deleted on its own,
 *    right away: a new flow can take the same client key at any moment (a SYN
 *    on a closing flow), so the window is one syscall, never a batch;
 *  - its tuple goes after the entry, never before: the other order would free
 *    the tuple while the entry still claimed it, and a take-over landing
 *    between the re-read and the delete would lose the new flow's tuple. With
 *    the entry gone, the tuple is checked like an orphan (freeTuples) once the
 *    event loop has turned, so that a SYN for the same client that was in the
 *    datapath as we deleted has finished, and its new flow is seen;
 *  - an lb_snat entry that the lb_ct scan did not see held is only a suspect:
 *    it may belong to a flow created since, or to one being created right now
 *    (the datapath inserts the tuple, then the flow). It is checked the same
 *    way, after the event loop has turned.
 */
class Pass {
  private scanned = 0;
  private expired = 0;
  private released = 0;
  private purged = 0;
  private orphansFreed = 0;
  private readonly active = new Map<number, number>();
  /* By SNAT address as the u32 of its dotted form: no string per entry. */
  private readonly snatUse = new Map<number, number>();
  private prints = new Int32Array(0);

  constructor(
    private readonly ct: BpfMap,
    private readonly snat: BpfMap,
    private readonly rule: GcRule,
    private readonly owned: OwnedTuples,
    private readonly chunkEntries: number,
  ) {}

  async sweepConntrack(): Promise<void> {
    for (const chunk of this.ct.lookupBatchPacked({ chunk: this.chunkEntries })) {
      const keys = asWords(chunk.keys);
      const conns = asWords(chunk.values);
      this.scanned += chunk.count;
      const prints = this.scratch(chunk.count);
      let kept = 0;
      const doomed: number[] = [];
      for (let i = 0; i < chunk.count; i++) {
        if (selectConnAt(conns, i * CONN_WORDS, this.rule) === GcVerdict.KEEP) prints[kept++] = this.keep(keys, i * KEY_WORDS, conns, i * CONN_WORDS);
        else doomed.push(i);
      }
      for (let j = 0; j < kept; j++) this.owned.add(prints[j]!);
      const dead = this.removeFlows(chunk.keys, doomed);
      // The tuples of the flows removed are checked once the event loop has
      // turned: a SYN for the same client that the datapath was handling as
      // we deleted has then finished, and freeTuples sees its new flow.
      await yieldToEventLoop();
      if (dead.tuples.length > 0) this.freeTuples(dead.tuples, dead.owners);
    }
  }

  async sweepSnat(): Promise<void> {
    for (const chunk of this.snat.lookupBatchPacked({ chunk: this.chunkEntries })) {
      const replies = asWords(chunk.keys);
      const owners = asWords(chunk.values);
      const prints = this.scratch(chunk.count);
      for (let i = 0; i < chunk.count; i++) {
        const at = i * KEY_WORDS;
        this.countSnat(snatAddressAt(replies, at), 1);
        prints[i] = this.owned.printOfTuple(replies, at, owners, at);
      }
      const suspects: number[] = [];
      for (let i = 0; i < chunk.count; i++) if (!this.owned.has(prints[i]!)) suspects.push(i);
      // Also the suspects' wait: a flow being created holds its tuple before
      // it has an lb_ct entry; by the time the event loop has turned, it has one.
      await yieldToEventLoop();
      if (suspects.length === 0) continue;
      const size = this.snat.keySize;
      const freed = this.freeTuples(
        suspects.map((i) => chunk.keys.subarray(i * size, (i + 1) * size)),
        suspects.map((i) => chunk.values.subarray(i * size, (i + 1) * size)),
      );
      this.orphansFreed += freed.length;
      for (const tuple of freed) this.countSnat(snatAddressAt(asWords(tuple), 0), -1);
    }
  }

  stats(durationMs: number): GcPassStats {
    const snatInUse = new Map<string, number>();
    for (const [addr, n] of this.snatUse) if (n > 0) snatInUse.set(uint32ToIpv4(addr), n);
    return {
      scanned: this.scanned,
      expired: this.expired,
      released: this.released,
      purged: this.purged,
      orphansFreed: this.orphansFreed,
      durationMs,
      entries: this.scanned - this.expired - this.released - this.purged,
      capacity: this.ct.maxEntries,
      activeByBackend: this.active,
      snatInUse,
    };
  }

  /* Counts a flow the pass keeps; returns the print of its tuple, for the owned set. */
  private keep(keys: Uint32Array, keyAt: number, conns: Uint32Array, connAt: number): number {
    const backendId = backendIdAt(conns, connAt);
    this.active.set(backendId, (this.active.get(backendId) ?? 0) + 1);
    return this.owned.printOfFlow(keys, keyAt, conns, connAt);
  }

  /* Room for one print per entry of a chunk (a chunk can exceed chunkEntries: BpfMap grows it for a crowded bucket). */
  private scratch(count: number): Int32Array {
    if (this.prints.length < count) this.prints = new Int32Array(count);
    return this.prints;
  }

  /*
   * The scan's candidates for removal (entries `indexes` of a chunk), each
   * re-read and re-judged. Returns, for the flows removed whose tuple goes
   * too (expired, purged), that tuple and the flow's key.
   */
  private removeFlows(keys: Buffer, indexes: readonly number[]): { tuples: Buffer[]; owners: Buffer[] } {
    const keySize = this.ct.keySize;
    const tupleBytes = Buffer.alloc(indexes.length * this.snat.keySize);
    const tupleWords = asWords(tupleBytes);
    const tuples: Buffer[] = [];
    const owners: Buffer[] = [];
    for (const i of indexes) {
      const key = keys.subarray(i * keySize, (i + 1) * keySize);
      const value = this.ct.lookup(key);
      if (value === undefined) continue;
      const conn = asWords(value);
      // A packet may have refreshed it, or a SYN replaced it with a new flow.
      const verdict = selectConnAt(conn, 0, this.rule);
      if (verdict === GcVerdict.KEEP) {
        this.owned.add(this.keep(asWords(key), 0, conn, 0));
        continue;
      }
      if (!this.ct.delete(key)) continue;
      if (verdict === GcVerdict.RELEASED) {
        this.released++;
        continue;
      }
      if (verdict === GcVerdict.EXPIRE) this.expired++;
      else this.purged++;
      replyKeyInto(conn, 0, tupleWords, tuples.length * KEY_WORDS);
      tuples.push(tupleBytes.subarray(tuples.length * this.snat.keySize, (tuples.length + 1) * this.snat.keySize));
      owners.push(key);
    }
    return { tuples, owners };
  }

  /**
   * Deletes each lb_snat entry `tuples[i]` that no flow holds: the lb_ct
   * entry of `owners[i]` is absent or holds another tuple (or none), and the
   * lb_snat entry, read again after that, still names `owners[i]`. In that
   * order, because such a tuple is frozen: the datapath takes a tuple over
   * only from an owner that holds it, and never allocates a taken one, so
   * once both reads agree nothing can change it but us, and the confirmed
   * tuples can go in one deleteBatch. (The other order would let a take-over
   * land between the two reads.) Returns the tuples deleted.
   */
  private freeTuples(tuples: readonly Buffer[], owners: readonly Buffer[]): Buffer[] {
    const confirmed: Buffer[] = [];
    tuples.forEach((tuple, i) => {
      const owner = owners[i];
      if (owner === undefined) return;
      const conn = this.ct.lookup(owner);
      if (conn !== undefined && ownsReply(asWords(conn), 0, asWords(tuple), 0)) return;
      const current = this.snat.lookup(tuple);
      // Freed meanwhile, or handed to another flow: not ours to delete.
      if (current === undefined || !current.equals(owner)) return;
      confirmed.push(tuple);
    });
    if (confirmed.length > 0) this.snat.deleteBatch(confirmed);
    return confirmed;
  }

  private countSnat(addr: number, delta: number): void {
    this.snatUse.set(addr, (this.snatUse.get(addr) ?? 0) + delta);
  }
}
