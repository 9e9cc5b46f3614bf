// DatapathMaps' bulk readers of the reload path, on maps made for the test
// (the full set comes from the BPF object in test/bpf): the scheduler table
// ids of many services in one read, and its fallback for kernels whose
// batch walk of a map of maps stops at an empty slot.
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, describe, it } from 'node:test';
import { encodeU32 } from '../../src/datapath/codecs.js';
import { DatapathMaps } from '../../src/datapath/datapath-maps.js';
import { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BpfMap } from '../../src/kernel/bpf-map.js';
import type { BpfObject } from '../../src/kernel/bpf-object.js';
import { KernelError } from '../../src/kernel/errors.js';
import { mountBpffs } from '../support/netns.js';

const { EINTR } = os.constants.errno;

const opened: BpfMap[] = [];
after(() => {
  for (const map of opened) map.close();
});

/** DatapathMaps whose lb_sched is `sched`; the other maps are never touched here. */
function withSched(sched: unknown): DatapathMaps {
  const unused = new Proxy({}, { get: () => assert.fail('only lb_sched is read') });
  const object = { map: (name: string) => (name === 'lb_sched' ? sched : unused) } as unknown as BpfObject;
  return DatapathMaps.fromObject(object);
}

describe('DatapathMaps.schedulerTableIds', () => {
  it('reads the table id of every filled slot, and no other', () => {
    mountBpffs();
    const inner = BpfMap.create({ type: BPF_MAP_TYPE_ARRAY, name: 'kt_tbl', keySize: 4, valueSize: 4, maxEntries: 1 });
    opened.push(inner);
    const sched = BpfMap.create({
      type: BPF_MAP_TYPE_ARRAY_OF_MAPS,
      name: 'kt_sched',
      keySize: 4,
      valueSize: 4,
      maxEntries: 64,
      innerMapFd: inner.fd,
    });
    opened.push(sched);
    for (const slot of [0, 1, 5, 63]) sched.update(encodeU32(slot), encodeU32(inner.fd));
    const ids = withSched(sched).schedulerTableIds([0, 1, 2, 5, 63]);
    assert.deepEqual([...ids].sort((a, b) => a[0] - b[0]), [0, 1, 5, 63].map((slot) => [slot, inner.id]));
  });

  it('looks each service up alone where the batch walk stops at an empty slot (EINTR)', () => {
    const slots = new Map([
      [0, 40],
      [3, 41],
    ]);
    const sched = {
      keySize: 4,
      valueBufferSize: 4,
      *lookupBatchPacked(): Generator<never> {
        throw new KernelError('EBPF_MAP_BATCH', 'bpf_map_lookup_batch', 'batch lookup in map lb_sched', { errno: EINTR });
      },
      lookup: (key: Buffer) => {
        const id = slots.get(key.readUInt32LE());
        return id === undefined ? undefined : encodeU32(id);
      },
    };
    assert.deepEqual([...withSched(sched).schedulerTableIds([0, 1, 3])], [
      [0, 40],
      [3, 41],
    ]);
  });

  it('lets any other failure through', () => {
    const sched = {
      keySize: 4,
      valueBufferSize: 4,
      *lookupBatchPacked(): Generator<never> {
        throw new KernelError('EBPF_MAP_BATCH', 'bpf_map_lookup_batch', 'batch lookup in map lb_sched', { errno: 9 });
      },
    };
    assert.throws(() => withSched(sched).schedulerTableIds([0]), { code: 'EBPF_MAP_BATCH', errno: 9 });
  });
});
