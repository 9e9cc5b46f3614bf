import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { encodeU32, encodeU64 } from '../../src/datapath/codecs.js';
import { mountBpffs } from '../support/netns.js';
import {
  BPF_F_NO_PREALLOC,
  BPF_MAP_TYPE_ARRAY,
  BPF_MAP_TYPE_ARRAY_OF_MAPS,
  BPF_MAP_TYPE_HASH,
  BPF_MAP_TYPE_PERCPU_ARRAY,
  BpfMap,
} from '../../src/kernel/bpf-map.js';
import { KernelError } from '../../src/kernel/errors.js';
import { isKernelError } from '../support/kernel-errors.js';

const { E2BIG, EEXIST, ENOENT } = os.constants.errno;

/* Counted independently of libbpf: "0-1" -> 2. */
function possibleCpus(): number {
  let n = 0;
  for (const range of fs.readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(',')) {
    const [lo, hi] = range.split('-').map(Number);
    n += (hi ?? lo ?? 0) - (lo ?? 0) + 1;
  }
  return n;
}

const opened: BpfMap[] = [];
function create(...args: Parameters<typeof BpfMap.create>): BpfMap {
  const map = BpfMap.create(...args);
  opened.push(map);
  return map;
}
after(() => {
  for (const map of opened) map.close();
});

describe('BpfMap on a hash map', () => {
  it('creates, updates, looks up and deletes', () => {
    const map = create({ type: BPF_MAP_TYPE_HASH, name: 'kt_crud', keySize: 4, valueSize: 8, maxEntries: 64 });
    assert.equal(map.type, BPF_MAP_TYPE_HASH);
    assert.equal(map.keySize, 4);
    assert.equal(map.valueSize, 8);
    assert.equal(map.valueBufferSize, 8);
    assert.equal(map.maxEntries, 64);
    assert.equal(map.perCpu, false);
    assert.ok(map.id > 0);

    assert.equal(map.lookup(encodeU32(1)), undefined);
    assert.equal(map.nextKey(undefined), undefined);
    map.update(encodeU32(1), encodeU64(100));
    assert.deepEqual(map.lookup(encodeU32(1)), encodeU64(100));

    assert.throws(() => map.update(encodeU32(1), encodeU64(101), 'noexist'), isKernelError('EBPF_MAP_UPDATE', EEXIST));
    assert.throws(() => map.update(encodeU32(2), encodeU64(102), 'exist'), isKernelError('EBPF_MAP_UPDATE', ENOENT));
    map.update(encodeU32(1), encodeU64(103), 'exist');
    map.update(encodeU32(2), encodeU64(104), 'noexist');
    assert.deepEqual(map.lookup(encodeU32(1)), encodeU64(103));

    assert.equal(map.delete(encodeU32(1)), true);
    assert.equal(map.delete(encodeU32(1)), false);
    assert.equal(map.lookup(encodeU32(1)), undefined);
  });

  it('walks keys with nextKey and keys()', () => {
    const map = create({ type: BPF_MAP_TYPE_HASH, name: 'kt_walk', keySize: 4, valueSize: 8, maxEntries: 64 });
    for (const k of [7, 8, 9]) map.update(encodeU32(k), encodeU64(k));
    const seen = [...map.keys()].map((k) => k.readUInt32LE()).sort();
    assert.deepEqual(seen, [7, 8, 9]);
    const first = map.nextKey(undefined);
    assert.ok(first !== undefined);
    assert.notDeepEqual(map.nextKey(first), first);
  });

  it('rejects Buffers of the wrong size before calling the kernel', () => {
    const map = create({ type: BPF_MAP_TYPE_HASH, name: 'kt_size', keySize: 4, valueSize: 8, maxEntries: 8 });
    const esize = isKernelError('ESIZE');
    assert.throws(() => map.lookup(Buffer.alloc(3)), esize);
    assert.throws(() => map.lookup(Buffer.alloc(5)), esize);
    assert.throws(() => map.update(encodeU32(1), Buffer.alloc(7)), esize);
    assert.throws(() => map.update(encodeU32(1), Buffer.alloc(9)), esize);
    assert.throws(() => map.update(Buffer.alloc(2), encodeU64(1)), esize);
    assert.throws(() => map.delete(Buffer.alloc(8)), esize);
    assert.throws(() => map.nextKey(Buffer.alloc(1)), esize);
    assert.throws(() => map.updateBatch([encodeU32(1), encodeU32(2)], [encodeU64(1)]), esize);
    assert.throws(() => map.updateBatch([encodeU32(1)], [Buffer.alloc(4)]), esize);
    assert.throws(() => map.deleteBatch([Buffer.alloc(3)]), esize);
    assert.throws(() => [...map.lookupBatch({ chunk: 0 })], esize);
    // Nothing reached the map.
    assert.equal(map.nextKey(undefined), undefined);
    assert.throws(
      () => map.lookup(Buffer.alloc(3)),
      (err: unknown) => err instanceof KernelError && /key is 3 bytes, the map's keys are 4/.test(err.message),
    );
  });

  for (const [label, mapFlags] of [
    ['preallocated', 0],
    ['BPF_F_NO_PREALLOC', BPF_F_NO_PREALLOC],
  ] as const) {
    it(`reads 5000 entries in several batch chunks (${label})`, () => {
      const map = create({ type: BPF_MAP_TYPE_HASH, name: 'kt_batch', keySize: 4, valueSize: 8, maxEntries: 8192, mapFlags });
      const keys: Buffer[] = [];
      const values: Buffer[] = [];
      for (let i = 0; i < 5000; i++) {
        keys.push(encodeU32(i));
        values.push(encodeU64(i * 3));
      }
      map.updateBatch(keys, values);

      let chunks = 0;
      const got = new Map<number, number>();
      for (const chunk of map.lookupBatch({ chunk: 1024 })) {
        chunks++;
        assert.equal(chunk.keys.length, chunk.values.length);
        assert.ok(chunk.keys.length <= 1024, `chunk of ${chunk.keys.length}`);
        chunk.keys.forEach((k, i) => got.set(k.readUInt32LE(), Number(chunk.values[i]?.readBigUInt64LE())));
      }
      assert.ok(chunks >= 5, `only ${chunks} chunks`);
      assert.equal(got.size, 5000);
      for (let i = 0; i < 5000; i++) assert.equal(got.get(i), i * 3);
    });
  }

  it('reads every entry even when a hash bucket holds more than a chunk', () => {
    // 64 keys in 64 buckets: some bucket holds two (birthday bound), which a
    // 1-entry chunk cannot take; the kernel answers ENOSPC until it grows.
    const map = create({ type: BPF_MAP_TYPE_HASH, name: 'kt_bucket', keySize: 4, valueSize: 8, maxEntries: 64 });
    const keys = Array.from({ length: 64 }, (_, i) => encodeU32(i * 7919));
    map.updateBatch(keys, keys.map((_, i) => encodeU64(i)));
    const read = [...map.lookupBatch({ chunk: 1 })].flatMap((c) => c.keys.map((k) => k.readUInt32LE()));
    assert.deepEqual(
      read.sort((a, b) => a - b),
      keys.map((k) => k.readUInt32LE()),
    );
  });

  it('batch-updates until the map is full and batch-deletes past missing keys', () => {
    const map = create({ type: BPF_MAP_TYPE_HASH, name: 'kt_bdel', keySize: 4, valueSize: 8, maxEntries: 4 });
    assert.throws(
      () => map.updateBatch([1, 2, 3, 4, 5, 6].map((n) => encodeU32(n)), [1, 2, 3, 4, 5, 6].map((n) => encodeU64(n))),
      (err: unknown) =>
        isKernelError('EBPF_MAP_BATCH', E2BIG)(err) && /stopped after 4 of 6 entries/.test((err as Error).message),
    );
    // Entries before the failing one were written.
    assert.deepEqual(map.lookup(encodeU32(4)), encodeU64(4));
    assert.equal(map.lookup(encodeU32(5)), undefined);
    map.updateBatch([encodeU32(4)], [encodeU64(40)]);
    assert.deepEqual(map.lookup(encodeU32(4)), encodeU64(40));

    const deleted = map.deleteBatch([encodeU32(1), encodeU32(50), encodeU32(2), encodeU32(51), encodeU32(52), encodeU32(3)]);
    assert.equal(deleted, 3);
    assert.deepEqual(
      [...map.keys()].map((k) => k.readUInt32LE()).sort((a, b) => a - b),
      [4],
    );
    assert.equal(map.deleteBatch([]), 0);
  });
});

describe('BpfMap on array maps', () => {
  it('batch-reads an array map over several chunks', () => {
    const map = create({ type: BPF_MAP_TYPE_ARRAY, name: 'kt_arr', keySize: 4, valueSize: 4, maxEntries: 3000 });
    map.update(encodeU32(2999), encodeU32(42));
    let total = 0;
    let chunks = 0;
    let last: Buffer | undefined;
    for (const chunk of map.lookupBatch({ chunk: 1024 })) {
      chunks++;
      total += chunk.keys.length;
      chunk.keys.forEach((k, i) => {
        if (k.readUInt32LE() === 2999) last = chunk.values[i];
      });
    }
    assert.equal(total, 3000);
    assert.equal(chunks, 3);
    assert.deepEqual(last, encodeU32(42));
  });

  it('sizes per-CPU values by possible CPUs and splits them', () => {
    const cpus = possibleCpus();
    const map = create({ type: BPF_MAP_TYPE_PERCPU_ARRAY, name: 'kt_pcpu', keySize: 4, valueSize: 12, maxEntries: 4 });
    assert.equal(map.perCpu, true);
    assert.equal(map.valueBufferSize, 16 * cpus);
    assert.throws(() => map.update(encodeU32(0), Buffer.alloc(12)), isKernelError('ESIZE'));

    const value = Buffer.alloc(map.valueBufferSize);
    for (let cpu = 0; cpu < cpus; cpu++) value.writeUInt32LE(1000 + cpu, cpu * 16 + 8);
    map.update(encodeU32(3), value);
    const back = map.lookup(encodeU32(3));
    assert.ok(back !== undefined);
    const slots = map.perCpuValues(back);
    assert.equal(slots.length, cpus);
    slots.forEach((slot, cpu) => {
      assert.equal(slot.length, 12);
      assert.equal(slot.readUInt32LE(8), 1000 + cpu);
    });

    const rows = [...map.lookupBatch()].flatMap((c) => c.values);
    assert.equal(rows.length, 4);
    assert.deepEqual(rows[3], value);
  });

  it('stores inner map fds in an array of maps and reads back their ids', () => {
    const inner = create({ type: BPF_MAP_TYPE_ARRAY, name: 'kt_inner', keySize: 4, valueSize: 4, maxEntries: 4 });
    const outer = create({
      type: BPF_MAP_TYPE_ARRAY_OF_MAPS,
      name: 'kt_outer',
      keySize: 4,
      valueSize: 4,
      maxEntries: 4,
      innerMapFd: inner.fd,
    });
    outer.update(encodeU32(1), encodeU32(inner.fd));
    assert.equal(outer.lookup(encodeU32(0)), undefined);
    const id = outer.lookup(encodeU32(1))?.readUInt32LE();
    assert.equal(id, inner.id);

    const chunks = [...outer.lookupBatch()];
    assert.deepEqual(
      chunks.flatMap((c) => c.keys.map((k) => k.readUInt32LE())),
      [1],
    );
    assert.deepEqual(chunks[0]?.values[0], encodeU32(inner.id));

    const again = BpfMap.fromId(inner.id);
    try {
      again.update(encodeU32(2), encodeU32(77));
      assert.deepEqual(inner.lookup(encodeU32(2)), encodeU32(77));
    } finally {
      again.close();
    }
    assert.equal(outer.delete(encodeU32(1)), true);
    assert.equal(outer.lookup(encodeU32(1)), undefined);
  });
});

describe('BpfMap fds', () => {
  it('describes an fd from the kernel, which keeps 15 characters of the name', () => {
    const map = create({ type: BPF_MAP_TYPE_HASH, name: 'kt_a_rather_long_name', keySize: 4, valueSize: 4, maxEntries: 4 });
    assert.equal(map.name, 'kt_a_rather_long_name');
    const view = BpfMap.fromFd(map.fd, undefined, 'borrowed');
    assert.equal(view.name, 'kt_a_rather_lon');
    assert.equal(view.id, map.id);
    view.close();
    // Closing a borrowed view left the owner's fd open.
    map.update(encodeU32(1), encodeU32(1));
    assert.deepEqual(map.lookup(encodeU32(1)), encodeU32(1));
  });

  it('refuses use after close, and close is idempotent', () => {
    const map = BpfMap.create({ type: BPF_MAP_TYPE_HASH, name: 'kt_closed', keySize: 4, valueSize: 4, maxEntries: 4 });
    map.close();
    map.close();
    assert.equal(map.closed, true);
    assert.throws(() => map.lookup(encodeU32(1)), isKernelError('ECLOSED'));
  });

  it('reports a missing map id', () => {
    assert.throws(() => BpfMap.fromId(0x7ffffff0), isKernelError('EBPF_OBJ_GET', ENOENT));
  });
});

describe('BpfMap pins', () => {
  let pinDir = '';
  before(() => {
    mountBpffs();
    pinDir = fs.mkdtempSync('/sys/fs/bpf/xdp4slb-kt-map-');
  });
  after(() => {
    if (pinDir !== '') fs.rmSync(pinDir, { recursive: true, force: true });
  });

  it('pins a map and reopens it from the pin after the creator closed it', () => {
    const path = `${pinDir}/kt_pinned`;
    const map = BpfMap.create({ type: BPF_MAP_TYPE_HASH, name: 'kt_pinned', keySize: 4, valueSize: 8, maxEntries: 16 });
    map.update(encodeU32(5), encodeU64(55));
    map.pin(path);
    const id = map.id;
    map.close();

    const reopened = BpfMap.fromPin(path);
    try {
      assert.equal(reopened.id, id);
      assert.equal(reopened.name, 'kt_pinned');
      assert.equal(reopened.keySize, 4);
      assert.equal(reopened.valueSize, 8);
      assert.equal(reopened.maxEntries, 16);
      assert.deepEqual(reopened.lookup(encodeU32(5)), encodeU64(55));
      assert.throws(() => reopened.pin(path), isKernelError('EBPF_OBJ_PIN', EEXIST));
    } finally {
      reopened.close();
    }
  });

  it('reports a missing pin', () => {
    assert.throws(() => BpfMap.fromPin(`${pinDir}/absent`), isKernelError('EBPF_OBJ_GET', ENOENT));
  });
});
