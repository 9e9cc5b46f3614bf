/*
 * One BPF map behind a file descriptor. Keys and values are raw Buffers laid
 * out as the C structs (codecs live elsewhere); this class only guarantees
 * that every Buffer handed to the kernel has exactly the size the map expects,
 * because koffi passes a Buffer's address and the kernel reads or writes the
 * full key/value size behind it, overrunning short Buffers silently.
 */
import koffi from 'koffi';
import os from 'node:os';
import { KernelError, checkRet } from './errors.js';
import {
  BpfMapBatchOpts,
  BpfMapCreateOpts,
  BpfMapInfo,
  type BpfMapInfoValue,
  libbpf,
  libcApi,
  numPossibleCpus,
} from './libbpf.js';

/* enum bpf_map_type (linux/bpf.h), the ones this project uses. */
export const BPF_MAP_TYPE_HASH = 1;
export const BPF_MAP_TYPE_ARRAY = 2;
export const BPF_MAP_TYPE_PERCPU_HASH = 5;
export const BPF_MAP_TYPE_PERCPU_ARRAY = 6;
export const BPF_MAP_TYPE_LRU_HASH = 9;
export const BPF_MAP_TYPE_LRU_PERCPU_HASH = 10;
export const BPF_MAP_TYPE_ARRAY_OF_MAPS = 12;
export const BPF_MAP_TYPE_HASH_OF_MAPS = 13;

/* Update flags (linux/bpf.h). */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

/* Map creation flag: hash entries are allocated on insert, not up front. */
export const BPF_F_NO_PREALLOC = 1;

export type UpdateFlag = 'any' | 'noexist' | 'exist';

const UPDATE_FLAGS: Readonly<Record<UpdateFlag, number>> = {
  any: BPF_ANY,
  noexist: BPF_NOEXIST,
  exist: BPF_EXIST,
};

const PER_CPU_TYPES: ReadonlySet<number> = new Set([
  BPF_MAP_TYPE_PERCPU_HASH,
  BPF_MAP_TYPE_PERCPU_ARRAY,
  BPF_MAP_TYPE_LRU_PERCPU_HASH,
]);

const { ENOENT, ENOSPC, EINVAL, EOPNOTSUPP } = os.constants.errno;
/* Kernel-internal "no such operation for this map type" (e.g. maps of maps
 * have no batch ops); user space sees the raw 524. */
const ENOTSUPP = 524;
const BATCH_UNSUPPORTED: ReadonlySet<number> = new Set([EINVAL, EOPNOTSUPP, ENOTSUPP]);

const DEFAULT_CHUNK = 1024;

function batchOpts(elemFlags: number): Record<string, number> {
  return { sz: koffi.sizeof(BpfMapBatchOpts), elem_flags: elemFlags, flags: 0 };
}

export interface BpfMapCreateOptions {
  type: number;
  /** At most 15 characters reach the kernel. */
  name: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags?: number;
  /** Template for the inner maps of ARRAY_OF_MAPS / HASH_OF_MAPS. */
  innerMapFd?: number;
}

export interface BatchChunk {
  keys: Buffer[];
  values: Buffer[];
}

/** A batch as the kernel returns it: `count` keys and values back to back. */
export interface PackedChunk {
  keys: Buffer;
  values: Buffer;
  count: number;
}

/** Whether close() releases the fd ('borrowed': a bpf_object owns it). */
export type FdOwnership = 'owned' | 'borrowed';

export class BpfMap {
  readonly name: string;
  readonly type: number;
  readonly id: number;
  readonly keySize: number;
  /** The map's value_size as the kernel declares it. */
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly mapFlags: number;
  readonly perCpu: boolean;
  /**
   * Bytes of a value Buffer in user space: per-CPU maps carry one slot of
   * roundup(valueSize, 8) bytes per possible CPU, everything else valueSize.
   */
  readonly valueBufferSize: number;
  private fdValue: number;
  private readonly ownership: FdOwnership;

  private constructor(fd: number, info: BpfMapInfoValue, name: string, ownership: FdOwnership) {
    this.fdValue = fd;
    this.ownership = ownership;
    this.name = name;
    this.type = info.type;
    this.id = info.id;
    this.keySize = info.key_size;
    this.valueSize = info.value_size;
    this.maxEntries = info.max_entries;
    this.mapFlags = info.map_flags;
    this.perCpu = PER_CPU_TYPES.has(info.type);
    this.valueBufferSize = this.perCpu ? Math.ceil(info.value_size / 8) * 8 * numPossibleCpus() : info.value_size;
  }

  /**
   * Describe a map fd from the kernel's own record of it. The BpfMap takes
   * the fd over (closes it on close()) unless told it is 'borrowed'.
   */
  static fromFd(fd: number, nameHint?: string, ownership: FdOwnership = 'owned'): BpfMap {
    const info: Partial<BpfMapInfoValue> = {};
    const infoLen: [number] = [koffi.sizeof(BpfMapInfo)];
    checkRet(
      libbpf.bpf_obj_get_info_by_fd(fd, info, infoLen),
      'EBPF_MAP_INFO',
      'bpf_obj_get_info_by_fd',
      `reading map info of fd ${fd}`,
    );
    const full = info as BpfMapInfoValue;
    // The kernel keeps only 15 characters of a name; the hint is the full one.
    return new BpfMap(fd, full, nameHint ?? full.name, ownership);
  }

  static fromPin(path: string): BpfMap {
    const fd = checkRet(libbpf.bpf_obj_get(path), 'EBPF_OBJ_GET', 'bpf_obj_get', `opening pinned map ${path}`);
    return BpfMap.adopt(fd);
  }

  static fromId(id: number): BpfMap {
    const fd = checkRet(libbpf.bpf_map_get_fd_by_id(id), 'EBPF_OBJ_GET', 'bpf_map_get_fd_by_id', `opening map id ${id}`);
    return BpfMap.adopt(fd);
  }

  static create(opts: BpfMapCreateOptions): BpfMap {
    const createOpts = {
      sz: koffi.sizeof(BpfMapCreateOpts),
      inner_map_fd: opts.innerMapFd ?? 0,
      map_flags: opts.mapFlags ?? 0,
    };
    const fd = checkRet(
      libbpf.bpf_map_create(opts.type, opts.name, opts.keySize, opts.valueSize, opts.maxEntries, createOpts),
      'EBPF_MAP_CREATE',
      'bpf_map_create',
      `creating map ${opts.name} (type ${opts.type})`,
    );
    return BpfMap.adopt(fd, opts.name);
  }

  /* An fd we just obtained: ours to close, also when describing it fails. */
  private static adopt(fd: number, nameHint?: string): BpfMap {
    try {
      return BpfMap.fromFd(fd, nameHint, 'owned');
    } catch (err) {
      libcApi.close(fd);
      throw err;
    }
  }

  get fd(): number {
    if (this.fdValue < 0) throw new KernelError('ECLOSED', 'BpfMap', `map ${this.name} is closed`);
    return this.fdValue;
  }

  get closed(): boolean {
    return this.fdValue < 0;
  }

  /** The value, or undefined when the key is absent. Maps of maps answer the inner map's id (4 bytes). */
  lookup(key: Buffer): Buffer | undefined {
    this.checkKey(key, 'bpf_map_lookup_elem');
    const value = Buffer.alloc(this.valueBufferSize);
    const ret = libbpf.bpf_map_lookup_elem(this.fd, key, value);
    if (ret === -ENOENT) return undefined;
    checkRet(ret, 'EBPF_MAP_LOOKUP', 'bpf_map_lookup_elem', `lookup in map ${this.name}`);
    return value;
  }

  /** Maps of maps take the inner map's fd as a 4-byte value. */
  update(key: Buffer, value: Buffer, flag: UpdateFlag = 'any'): void {
    this.checkKey(key, 'bpf_map_update_elem');
    this.checkValue(value, 'bpf_map_update_elem');
    checkRet(
      libbpf.bpf_map_update_elem(this.fd, key, value, UPDATE_FLAGS[flag]),
      'EBPF_MAP_UPDATE',
      'bpf_map_update_elem',
      `update (${flag}) in map ${this.name}`,
    );
  }

  /** False when the key was not there. */
  delete(key: Buffer): boolean {
    this.checkKey(key, 'bpf_map_delete_elem');
    const ret = libbpf.bpf_map_delete_elem(this.fd, key);
    if (ret === -ENOENT) return false;
    checkRet(ret, 'EBPF_MAP_DELETE', 'bpf_map_delete_elem', `delete in map ${this.name}`);
    return true;
  }

  /**
   * The key after `key` (the first key for undefined); undefined at the end.
   * In a hash map, a `key` that has been deleted meanwhile restarts the walk.
   */
  nextKey(key: Buffer | undefined): Buffer | undefined {
    if (key !== undefined) this.checkKey(key, 'bpf_map_get_next_key');
    const next = Buffer.alloc(this.keySize);
    const ret = libbpf.bpf_map_get_next_key(this.fd, key ?? null, next);
    if (ret === -ENOENT) return undefined;
    checkRet(ret, 'EBPF_MAP_NEXT_KEY', 'bpf_map_get_next_key', `walking map ${this.name}`);
    return next;
  }

  /** One syscall per key: prefer lookupBatch for whole-map reads. */
  *keys(): Generator<Buffer, void, undefined> {
    for (let key = this.nextKey(undefined); key !== undefined; key = this.nextKey(key)) yield key;
  }

  /**
   * Read the whole map in chunks of up to `chunk` entries with
   * bpf_map_lookup_batch, one syscall per chunk. Each chunk is its own
   * allocation, so entries stay valid after the next one is read; the caller
   * may yield to the event loop between chunks. Map types without batch
   * support (maps of maps) are walked key by key instead.
   */
  *lookupBatch(opts: { chunk?: number } = {}): Generator<BatchChunk, void, undefined> {
    for (const packed of this.lookupBatchPacked(opts)) yield this.splitChunk(packed);
  }

  /**
   * lookupBatch without splitting chunks into one Buffer per entry: for
   * large scans that decode at offsets (entry i's key at i * keySize, its
   * value at i * valueBufferSize) and should not make garbage per entry.
   */
  *lookupBatchPacked(opts: { chunk?: number } = {}): Generator<PackedChunk, void, undefined> {
    const requested = opts.chunk ?? DEFAULT_CHUNK;
    if (!Number.isInteger(requested) || requested < 1) {
      throw new KernelError('ESIZE', 'bpf_map_lookup_batch', `map ${this.name}: chunk must be a positive integer, got ${requested}`);
    }
    // No call returns more than the map holds: do not allocate for more.
    let chunk = Math.min(requested, Math.max(this.maxEntries, 1));
    // The resume token is a hash bucket index (u32) or, for arrays, a key.
    const tokenSize = Math.max(this.keySize, 8);
    let inBatch: Buffer | null = null;
    for (;;) {
      const outBatch = Buffer.alloc(tokenSize);
      const keys = Buffer.alloc(chunk * this.keySize);
      const values = Buffer.alloc(chunk * this.valueBufferSize);
      const count: [number] = [chunk];
      const ret = libbpf.bpf_map_lookup_batch(this.fd, inBatch, outBatch, keys, values, count, batchOpts(0));
      if (ret < 0 && ret !== -ENOENT) {
        if (inBatch === null && BATCH_UNSUPPORTED.has(-ret)) {
          for (const c of this.lookupByKeys(chunk)) yield { keys: Buffer.concat(c.keys), values: Buffer.concat(c.values), count: c.keys.length };
          return;
        }
        // One hash bucket holds more entries than fit: retry it with room.
        if (ret === -ENOSPC && count[0] === 0) {
          chunk *= 2;
          continue;
        }
        checkRet(ret, 'EBPF_MAP_BATCH', 'bpf_map_lookup_batch', `batch lookup in map ${this.name}`);
      }
      if (count[0] > 0) yield { keys, values, count: count[0] };
      // ENOENT: the walk reached the end; this call's entries are still valid.
      if (ret === -ENOENT) return;
      inBatch = outBatch;
    }
  }

  /**
   * Insert or replace many entries with one syscall. There is no
   * 'noexist'/'exist' here: the kernel accepts only BPF_F_LOCK as a batch
   * element flag.
   */
  updateBatch(keys: readonly Buffer[], values: readonly Buffer[]): void {
    if (keys.length !== values.length) {
      throw new KernelError(
        'ESIZE',
        'bpf_map_update_batch',
        `map ${this.name}: ${keys.length} keys but ${values.length} values`,
      );
    }
    for (const key of keys) this.checkKey(key, 'bpf_map_update_batch');
    for (const value of values) this.checkValue(value, 'bpf_map_update_batch');
    if (keys.length === 0) return;
    this.updatePacked(Buffer.concat(keys), Buffer.concat(values));
  }

  /**
   * updateBatch for entries already packed back to back (keySize and
   * valueBufferSize bytes each): a large table in one allocation rather
   * than one Buffer per entry.
   */
  updatePacked(keys: Buffer, values: Buffer): void {
    const n = keys.length / this.keySize;
    if (!Number.isInteger(n) || values.length !== n * this.valueBufferSize) {
      throw new KernelError(
        'ESIZE',
        'bpf_map_update_batch',
        `map ${this.name}: ${keys.length} key bytes and ${values.length} value bytes are not whole entries of ${this.keySize} + ${this.valueBufferSize} bytes`,
      );
    }
    if (n === 0) return;
    const count: [number] = [n];
    const ret = libbpf.bpf_map_update_batch(this.fd, keys, values, count, batchOpts(0));
    // The kernel writes entries in order and reports how many it wrote
    // before the failing one (e.g. E2BIG on a full map).
    const stopped = count[0] < n ? `, stopped after ${count[0]} of ${n} entries` : '';
    checkRet(ret, 'EBPF_MAP_BATCH', 'bpf_map_update_batch', `batch update in map ${this.name}${stopped}`);
  }

  /**
   * Delete many keys, skipping ones already gone (the datapath or LRU may
   * have removed them meanwhile). Returns how many were deleted.
   */
  deleteBatch(keys: readonly Buffer[]): number {
    for (const key of keys) this.checkKey(key, 'bpf_map_delete_batch');
    const all = Buffer.concat(keys);
    let deleted = 0;
    let offset = 0;
    while (offset < keys.length) {
      const count: [number] = [keys.length - offset];
      const ret = libbpf.bpf_map_delete_batch(this.fd, all.subarray(offset * this.keySize), count, batchOpts(0));
      deleted += count[0];
      if (ret === 0) break;
      if (ret !== -ENOENT) {
        checkRet(ret, 'EBPF_MAP_BATCH', 'bpf_map_delete_batch', `batch delete in map ${this.name}`);
      }
      // The kernel stops at the first missing key; continue after it.
      offset += count[0] + 1;
    }
    return deleted;
  }

  /** The per-CPU slots of a per-CPU value, each valueSize bytes (padding dropped). */
  perCpuValues(value: Buffer): Buffer[] {
    if (!this.perCpu) {
      throw new KernelError('ESIZE', 'BpfMap.perCpuValues', `map ${this.name} is not a per-CPU map`);
    }
    this.checkValue(value, 'BpfMap.perCpuValues');
    const stride = Math.ceil(this.valueSize / 8) * 8;
    const out: Buffer[] = [];
    for (let offset = 0; offset < value.length; offset += stride) {
      out.push(value.subarray(offset, offset + this.valueSize));
    }
    return out;
  }

  pin(path: string): void {
    checkRet(libbpf.bpf_obj_pin(this.fd, path), 'EBPF_OBJ_PIN', 'bpf_obj_pin', `pinning map ${this.name} at ${path}`);
  }

  /** Release the fd if this object owns it; idempotent. Pins keep the map alive. */
  close(): void {
    if (this.fdValue < 0) return;
    if (this.ownership === 'owned') libcApi.close(this.fdValue);
    this.fdValue = -1;
  }

  private *lookupByKeys(chunk: number): Generator<BatchChunk, void, undefined> {
    let batch: BatchChunk = { keys: [], values: [] };
    for (const key of this.keys()) {
      const value = this.lookup(key);
      // Deleted between get_next_key and lookup, or an empty map-of-maps slot.
      if (value === undefined) continue;
      batch.keys.push(key);
      batch.values.push(value);
      if (batch.keys.length === chunk) {
        yield batch;
        batch = { keys: [], values: [] };
      }
    }
    if (batch.keys.length > 0) yield batch;
  }

  private splitChunk({ keys, values, count }: PackedChunk): BatchChunk {
    const out: BatchChunk = { keys: [], values: [] };
    for (let i = 0; i < count; i++) {
      out.keys.push(keys.subarray(i * this.keySize, (i + 1) * this.keySize));
      out.values.push(values.subarray(i * this.valueBufferSize, (i + 1) * this.valueBufferSize));
    }
    return out;
  }

  private checkKey(key: Buffer, op: string): void {
    if (key.length !== this.keySize) {
      throw new KernelError('ESIZE', op, `map ${this.name}: key is ${key.length} bytes, the map's keys are ${this.keySize}`);
    }
  }

  private checkValue(value: Buffer, op: string): void {
    if (value.length !== this.valueBufferSize) {
      const what = this.perCpu
        ? `${this.valueBufferSize} (${numPossibleCpus()} CPUs x ${Math.ceil(this.valueSize / 8) * 8})`
        : `${this.valueBufferSize}`;
      throw new KernelError('ESIZE', op, `map ${this.name}: value is ${value.length} bytes, the map's values are ${what}`);
    }
  }
}
