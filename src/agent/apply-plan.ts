/**
 * Apply a plan: carry out its operations in order through the datapath
 * adapter and the address announcer, as one transaction. Before each write
 * the entry's current value is read and an undo step recorded; if any
 * operation fails, the steps already taken are undone in reverse order, so
 * the previous generation stays live, and the result names the failing
 * operation and its errno.
 *
 * Scheduler tables are swapped whole (DatapathMaps.putSchedulerTable); the
 * table being replaced is held open until the transaction ends, because
 * undoing the swap needs it and the kernel would free it otherwise.
 * Consecutive backend writes go to the kernel as one batch per map.
 */
import type { BpfMap } from '../kernel/bpf-map.js';
import { LbBackendAdmin, SCHEDULER_IDS, type LbBackend, type LbServiceKey } from '../datapath/codecs.js';
import type { DatapathMaps } from '../datapath/datapath-maps.js';
import { PROTOCOL_NUMBERS, msToNs } from '../datapath/read-live-state.js';
import type { DeleteBackend, Operation, PutBackend, PutService } from '../plan/operations.js';
import { buildSchedulerTable } from '../sched/index.js';

/** Adds and removes /32 addresses on the host's interfaces (src/host). */
export interface AddressAnnouncer {
  /** Returns false when the address was already there. */
  add(address: string, ifindex: number): Promise<boolean>;
  /** Returns false when the address was not there. */
  remove(address: string, ifindex: number): Promise<boolean>;
}

export interface ApplyFailure {
  /** Index of the first operation of the failing step in the plan. */
  readonly index: number;
  /** How many operations the failing step covered (a batch covers several). */
  readonly count: number;
  readonly operation: Operation;
  readonly error: Error & { errno?: number; code?: string };
  /** Errors while undoing; empty when the previous state was fully restored. */
  readonly rollbackErrors: readonly Error[];
}

export type ApplyResult = { readonly ok: true; readonly applied: number } | ({ readonly ok: false } & ApplyFailure);

type Undo = () => void | Promise<void>;

function serviceKey(op: { vip: string; port: number; protocol: keyof typeof PROTOCOL_NUMBERS }): LbServiceKey {
  return { vip: op.vip, port: op.port, proto: PROTOCOL_NUMBERS[op.protocol] };
}

const NO_BACKEND: LbBackend = { ip: '0.0.0.0', port: 0 };

class Transaction {
  private readonly undos: Undo[] = [];
  private readonly held: BpfMap[] = [];

  constructor(
    private readonly maps: DatapathMaps,
    private readonly announcer: AddressAnnouncer,
  ) {}

  async run(step: readonly Operation[]): Promise<void> {
    const first = step[0]!;
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
      case 'announce-address': {
        const recorded = this.maps.announced().has(first.address);
        const added = await this.announcer.add(first.address, first.ifindex);
        if (added) this.undos.push(async () => void (await this.announcer.remove(first.address, first.ifindex)));
        this.maps.putAnnounced(first.address, first.ifindex);
        if (!recorded) this.undos.push(() => void this.maps.deleteAnnounced(first.address));
        return;
      }
      case 'withdraw-address': {
        const removed = await this.announcer.remove(first.address, first.ifindex);
        if (removed) this.undos.push(async () => void (await this.announcer.add(first.address, first.ifindex)));
        this.maps.deleteAnnounced(first.address);
        this.undos.push(() => this.maps.putAnnounced(first.address, first.ifindex));
        return;
      }
      case 'put-service':
        return this.putService(first);
      case 'put-snat-pool': {
        const prev = this.maps.snatPool();
        const { addresses, portMin, portMax, reuseAfterMs } = first.pool;
        this.maps.putSnatPool({ addrs: [...addresses], portMin, portMax, reuseAfterNs: msToNs(reuseAfterMs) });
        this.undos.push(() => (prev === undefined ? void this.maps.deleteSnatPool() : this.maps.putSnatPool(prev)));
        return;
      }
      case 'delete-service':
        return this.deleteService(first);
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

  /** Table first, then the record, then the entry that makes the service reachable. */
  private putService(op: PutService): void {
    const prevMeta = this.maps.serviceMeta(op.num);
    let tableMapId = prevMeta?.tableMapId ?? 0;
    let tableDigest = prevMeta?.tableDigest ?? 0n;
    if (op.table !== null) {
      this.holdTable(op.num);
      tableMapId = this.maps.putSchedulerTable(op.num, buildSchedulerTable(op.table.scheduler, op.table.backends));
      tableDigest = BigInt(`0x${op.table.digest}`);
    }
    this.maps.putServiceMeta(op.num, {
      vip: op.vip,
      port: op.port,
      proto: PROTOCOL_NUMBERS[op.protocol],
      scheduler: SCHEDULER_IDS[op.scheduler],
      tableMapId,
      tableDigest,
      name: op.name,
    });
    this.undos.push(() => (prevMeta === undefined ? void this.maps.deleteServiceMeta(op.num) : this.maps.putServiceMeta(op.num, prevMeta)));
    const key = serviceKey(op);
    const prevId = this.maps.serviceIdOf(key);
    this.maps.putService(key, op.num);
    this.undos.push(() => (prevId === undefined ? void this.maps.deleteService(key) : this.maps.putService(key, prevId)));
  }

  /** Reachability first, then the table and the record. */
  private deleteService(op: Extract<Operation, { kind: 'delete-service' }>): void {
    const key = serviceKey(op);
    const prevId = this.maps.serviceIdOf(key);
    // A duplicate record must not take the entry of the service that owns the key.
    if (prevId !== undefined && (op.num === null || prevId === op.num)) {
      this.maps.deleteService(key);
      this.undos.push(() => this.maps.putService(key, prevId));
    }
    if (op.num === null) return;
    const num = op.num;
    this.holdTable(num);
    this.maps.deleteSchedulerTable(num);
    const prevMeta = this.maps.serviceMeta(num);
    this.maps.deleteServiceMeta(num);
    if (prevMeta !== undefined) this.undos.push(() => this.maps.putServiceMeta(num, prevMeta));
  }

  /** Keep the service's current table alive, and record how to put it back. */
  private holdTable(num: number): void {
    const old = this.maps.openSchedulerTable(num);
    if (old !== undefined) this.held.push(old);
    this.undos.push(() => (old === undefined ? void this.maps.deleteSchedulerTable(num) : this.maps.setSchedulerTableMap(num, old)));
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

/** Consecutive backend operations of one kind form one batched step; everything else is a step of its own. */
function steps(operations: readonly Operation[]): { index: number; ops: Operation[] }[] {
  const out: { index: number; ops: Operation[] }[] = [];
  operations.forEach((op, index) => {
    const last = out[out.length - 1];
    const batched = op.kind === 'put-backend' || op.kind === 'delete-backend';
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
        const rollbackErrors = await tx.rollback();
        return {
          ok: false,
          index: step.index,
          count: step.ops.length,
          operation: step.ops[0]!,
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
