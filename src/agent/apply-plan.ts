/**
 * Apply a plan: carry out its operations in order through the datapath
 * adapter and the address announcer, as one transaction. Before each write
 * the entry's current value is read and an undo step recorded; if any
 * operation fails, the steps already taken are undone in reverse order, so
 * the previous generation stays live, and the result names the failing
 * operation and its errno.
 *
 * Scheduler tables are built complete and swapped in whole
 * (DatapathMaps.publishSchedulerTables); a table being replaced is held
 * open until the transaction ends, because undoing the swap needs it and
 * the kernel would free it otherwise.
 * Consecutive backend writes go to the kernel as one batch per map, and
 * consecutive address changes to `ip` as one batch.
 */
import type { BpfMap } from '../kernel/bpf-map.js';
import { LbBackendAdmin, SCHEDULER_IDS, type LbBackend, type LbServiceKey } from '../datapath/codecs.js';
import type { DatapathMaps } from '../datapath/datapath-maps.js';
import { PROTOCOL_NUMBERS, msToNs } from '../datapath/read-live-state.js';
import type { AnnounceAddress, DeleteBackend, DeleteService, Operation, PutBackend, PutService, WithdrawAddress } from '../plan/operations.js';
import { buildSchedulerTable } from '../sched/index.js';
import { groupBy } from './group-by.js';

/**
 * Adds and removes /32 addresses on the host's interfaces (src/host), many
 * at a time. Each call is all or nothing: on failure it undoes its own part.
 */
export interface AddressAnnouncer {
  /** Resolves to the addresses it added (not those already there). */
  add(addresses: readonly string[], ifindex: number): Promise<string[]>;
  /** Resolves to the addresses it removed (not those already gone). */
  remove(addresses: readonly string[], ifindex: number): Promise<string[]>;
}

export interface ApplyFailure {
  /** Index in the plan of the operation that failed. */
  readonly index: number;
  /** The failing call covered this many operations from `index` on (more than 1: a batch). */
  readonly count: number;
  readonly operation: Operation;
  readonly error: Error & { errno?: number; code?: string };
  /** Errors while undoing; empty when the previous state was fully restored. */
  readonly rollbackErrors: readonly Error[];
}

export type ApplyResult = { readonly ok: true; readonly applied: number } | ({ readonly ok: false } & ApplyFailure);

type Undo = () => void | Promise<void>;

/* New tables plus the ones they replace stay open until published and
 * until the transaction ends: bound how many are created at once. */
const TABLES_PER_CHUNK = 256;

function serviceKey(op: { vip: string; port: number; protocol: keyof typeof PROTOCOL_NUMBERS }): LbServiceKey {
  return { vip: op.vip, port: op.port, proto: PROTOCOL_NUMBERS[op.protocol] };
}

const NO_BACKEND: LbBackend = { ip: '0.0.0.0', port: 0 };

class Transaction {
  private readonly undos: Undo[] = [];
  private readonly held: BpfMap[] = [];
  /** What is being done now: the failure to report if it throws. */
  current: { op: Operation; count: number } | undefined;

  constructor(
    private readonly maps: DatapathMaps,
    private readonly announcer: AddressAnnouncer,
  ) {}

  async run(step: readonly Operation[]): Promise<void> {
    const first = step[0]!;
    this.current = { op: first, count: step.length };
    switch (first.kind) {
      case 'put-backend':
        return this.putBackends(step as PutBackend[]);
      case 'delete-backend':
        return this.deleteBackends(step as DeleteBackend[]);
      case 'put-address': {
        const prev = this.maps.addressRoles(first.address);
        this.maps.putAddress(first.address, first.roles);
        this.undos.push(() => (prev === undefined ? void this.maps.deleteAddress(first.address) : this.maps.putAddress(first.address, prev)));
        return;
      }
      case 'delete-address': {
        const prev = this.maps.addressRoles(first.address);
        if (prev === undefined) return;
        this.maps.deleteAddress(first.address);
        this.undos.push(() => this.maps.putAddress(first.address, prev));
        return;
      }
      case 'announce-address':
        return this.announce(step as AnnounceAddress[]);
      case 'withdraw-address':
        return this.withdraw(step as WithdrawAddress[]);
      case 'put-service':
        return this.putServices(step as PutService[]);
      case 'put-snat-pool': {
        const prev = this.maps.snatPool();
        const { addresses, portMin, portMax, reuseAfterMs } = first.pool;
        this.maps.putSnatPool({ addrs: [...addresses], portMin, portMax, reuseAfterNs: msToNs(reuseAfterMs) });
        this.undos.push(() => (prev === undefined ? void this.maps.deleteSnatPool() : this.maps.putSnatPool(prev)));
        return;
      }
      case 'delete-service':
        return this.deleteServices(step as DeleteService[]);
    }
  }

  /** Add the /32s, then record them as ours (all of a step share the interface). */
  private async announce(ops: readonly AnnounceAddress[]): Promise<void> {
    const ifindex = ops[0]!.ifindex;
    const added = await this.announcer.add(
      ops.map((op) => op.address),
      ifindex,
    );
    if (added.length > 0) this.undos.push(async () => void (await this.announcer.remove(added, ifindex)));
    const recorded = this.maps.announced();
    for (const op of ops) {
      this.maps.putAnnounced(op.address, op.ifindex);
      if (!recorded.has(op.address)) this.undos.push(() => void this.maps.deleteAnnounced(op.address));
    }
  }

  private async withdraw(ops: readonly WithdrawAddress[]): Promise<void> {
    for (const [ifindex, group] of groupBy(ops, (op) => op.ifindex)) {
      const removed = await this.announcer.remove(
        group.map((op) => op.address),
        ifindex,
      );
      if (removed.length > 0) this.undos.push(async () => void (await this.announcer.add(removed, ifindex)));
      for (const op of group) {
        this.maps.deleteAnnounced(op.address);
        this.undos.push(() => this.maps.putAnnounced(op.address, op.ifindex));
      }
    }
  }

  private putBackends(ops: readonly PutBackend[]): void {
    const prev = ops.map((op) => ({ id: op.num, backend: this.maps.backend(op.num), meta: this.maps.backendMeta(op.num) }));
    this.undos.push(() => this.restoreBackends(prev));
    this.maps.putBackends(ops.map((op) => ({ id: op.num, backend: { ip: op.address, port: op.port } })));
    this.maps.putBackendMetas(
      ops.map((op) => ({
        id: op.num,
        meta: { ip: op.address, port: op.port, weight: op.weight, serviceId: op.serviceNum, admin: LbBackendAdmin[op.state] },
      })),
    );
  }

  private deleteBackends(ops: readonly DeleteBackend[]): void {
    const prev = ops.map((op) => ({ id: op.num, backend: this.maps.backend(op.num), meta: this.maps.backendMeta(op.num) }));
    this.undos.push(() => this.restoreBackends(prev));
    for (const op of ops) this.maps.deleteBackendMeta(op.num);
    this.maps.putBackends(ops.map((op) => ({ id: op.num, backend: NO_BACKEND })));
  }

  private restoreBackends(prev: readonly { id: number; backend: LbBackend; meta: ReturnType<DatapathMaps['backendMeta']> }[]): void {
    this.maps.putBackends(prev.map((p) => ({ id: p.id, backend: p.backend })));
    for (const p of prev) {
      if (p.meta === undefined) this.maps.deleteBackendMeta(p.id);
      else this.maps.putBackendMetas([{ id: p.id, meta: p.meta }]);
    }
  }

  /**
   * Tables first (all complete before any is swapped in), then the records,
   * then the entries that make the services reachable. In chunks, so that
   * the new tables and the ones they replace need a bounded number of fds.
   */
  private putServices(ops: readonly PutService[]): void {
    for (let i = 0; i < ops.length; i += TABLES_PER_CHUNK) {
      const chunk = ops.slice(i, i + TABLES_PER_CHUNK);
      this.current = { op: chunk[0]!, count: chunk.length };
      const fresh: { serviceId: number; table: BpfMap }[] = [];
      try {
        for (const op of chunk) {
          if (op.table !== null) fresh.push({ serviceId: op.num, table: this.maps.createSchedulerTable(buildSchedulerTable(op.table.scheduler, op.table.backends)) });
        }
        this.holdTables(fresh.map((f) => f.serviceId));
        if (fresh.length > 0) this.maps.publishSchedulerTables(fresh);
        const published = new Map(fresh.map((f) => [f.serviceId, f.table.id]));
        for (const op of chunk) this.putServiceRecord(op, published.get(op.num));
      } finally {
        for (const f of fresh) f.table.close();
      }
    }
  }

  private putServiceRecord(op: PutService, tableMapId: number | undefined): void {
    this.current = { op, count: 1 };
    const prevMeta = this.maps.serviceMeta(op.num);
    this.maps.putServiceMeta(op.num, {
      vip: op.vip,
      port: op.port,
      proto: PROTOCOL_NUMBERS[op.protocol],
      scheduler: SCHEDULER_IDS[op.scheduler],
      tableMapId: tableMapId ?? prevMeta?.tableMapId ?? 0,
      tableDigest: op.table !== null ? BigInt(`0x${op.table.digest}`) : (prevMeta?.tableDigest ?? 0n),
      name: op.name,
    });
    this.undos.push(() => (prevMeta === undefined ? void this.maps.deleteServiceMeta(op.num) : this.maps.putServiceMeta(op.num, prevMeta)));
    const key = serviceKey(op);
    const prevId = this.maps.serviceIdOf(key);
    this.maps.putService(key, op.num);
    this.undos.push(() => (prevId === undefined ? void this.maps.deleteService(key) : this.maps.putService(key, prevId)));
  }

  /** Reachability first, then the tables and the records. */
  private deleteServices(ops: readonly DeleteService[]): void {
    for (const op of ops) {
      this.current = { op, count: 1 };
      const key = serviceKey(op);
      const prevId = this.maps.serviceIdOf(key);
      // A duplicate record must not take the entry of the service that owns the key.
      if (prevId !== undefined && (op.num === null || prevId === op.num)) {
        this.maps.deleteService(key);
        this.undos.push(() => this.maps.putService(key, prevId));
      }
    }
    const nums = ops.flatMap((op) => (op.num === null ? [] : [op.num]));
    this.current = { op: ops[0]!, count: ops.length };
    for (let i = 0; i < nums.length; i += TABLES_PER_CHUNK) {
      const chunk = nums.slice(i, i + TABLES_PER_CHUNK);
      this.holdTables(chunk);
      this.maps.clearSchedulerTables(chunk);
    }
    for (const num of nums) {
      const prevMeta = this.maps.serviceMeta(num);
      this.maps.deleteServiceMeta(num);
      if (prevMeta !== undefined) this.undos.push(() => this.maps.putServiceMeta(num, prevMeta));
    }
  }

  /** Keep the services' current tables alive, and record how to put them back. */
  private holdTables(nums: readonly number[]): void {
    const old = nums.map((num) => ({ serviceId: num, table: this.maps.openSchedulerTable(num) }));
    const kept = old.flatMap((o) => (o.table === undefined ? [] : [{ serviceId: o.serviceId, table: o.table }]));
    this.held.push(...kept.map((k) => k.table));
    const empty = old.filter((o) => o.table === undefined).map((o) => o.serviceId);
    this.undos.push(() => {
      if (kept.length > 0) this.maps.publishSchedulerTables(kept);
      this.maps.clearSchedulerTables(empty);
    });
  }

  async rollback(): Promise<Error[]> {
    const errors: Error[] = [];
    for (const undo of this.undos.reverse()) {
      try {
        await undo();
      } catch (err) {
        errors.push(err as Error);
      }
    }
    return errors;
  }

  release(): void {
    for (const map of this.held) map.close();
  }
}

const BATCHED: ReadonlySet<Operation['kind']> = new Set([
  'put-backend',
  'delete-backend',
  'put-service',
  'delete-service',
  'announce-address',
  'withdraw-address',
]);

/** Consecutive operations of one of these kinds form one batched step; the others are a step each. */
function steps(operations: readonly Operation[]): { index: number; ops: Operation[] }[] {
  const out: { index: number; ops: Operation[] }[] = [];
  operations.forEach((op, index) => {
    const last = out[out.length - 1];
    const batched = BATCHED.has(op.kind);
    if (batched && last !== undefined && last.ops[0]!.kind === op.kind) last.ops.push(op);
    else out.push({ index, ops: [op] });
  });
  return out;
}

export async function applyPlan(operations: readonly Operation[], maps: DatapathMaps, announcer: AddressAnnouncer): Promise<ApplyResult> {
  const tx = new Transaction(maps, announcer);
  try {
    for (const step of steps(operations)) {
      try {
        await tx.run(step.ops);
      } catch (err) {
        const failed = tx.current!;
        const rollbackErrors = await tx.rollback();
        return {
          ok: false,
          index: operations.indexOf(failed.op),
          count: failed.count,
          operation: failed.op,
          error: err as ApplyFailure['error'],
          rollbackErrors,
        };
      }
    }
    return { ok: true, applied: operations.length };
  } finally {
    tx.release();
  }
}
