// DatapathMaps' bulk readers, on maps made for the test (the full set comes
// from the BPF object in test/bpf): the scheduler table ids of many services
// in one read, and its fallback for kernels whose batch walk of a map of
// maps stops at an empty slot; per-CPU traffic and counters summed per id
// from batch reads.
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, describe, it } from 'node:test';
import { COUNTER_NAMES, LB_CNT_MAX, encodePerCpu, encodeU32, encodeU64, lbTraffic, perCpuStride } from '../../src/datapath/codecs.js';
import { DatapathMaps } from '../../src/datapath/datapath-maps.js';
import { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_PERCPU_ARRAY, BpfMap } from '../../src/kernel/bpf-map.js';
import { numPossibleCpus } from '../../src/kernel/libbpf.js';
import type { BpfObject } from '../../src/kernel/bpf-object.js';
import { KernelError } from '../../src/kernel/errors.js';
import { mountBpffs } from '../support/netns.js';

const { EINTR } = os.constants.errno;

const opened: BpfMap[] = [];
after(() => {
  for (const map of opened) map.close();
});

/** DatapathMaps with these maps; the others are never touched here. */
function withMaps(given: Record<string, unknown>): DatapathMaps {
  const unused = new Proxy({}, { get: () => assert.fail(`only ${Object.keys(given).join(', ')} are read`) });
  const object = { map: (name: string) => given[name] ?? unused } as unknown as BpfObject;
  return DatapathMaps.fromObject(object);
}

function withSched(sched: unknown): DatapathMaps {
  return withMaps({ lb_sched: sched });
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

describe('DatapathMaps: per-CPU traffic and counters from batch reads', () => {
  const cpus = numPossibleCpus();

  /* A per-CPU lb_traffic value whose CPU c holds (id + 1) * (c + 1) in every field. */
  function trafficValue(id: number): Buffer {
    const buf = Buffer.alloc(perCpuStride(lbTraffic.size) * cpus);
    for (let c = 0; c < cpus; c++) {
      const n = BigInt((id + 1) * (c + 1));
      lbTraffic.encodeInto({ packetsIn: n, bytesIn: n * 100n, packetsOut: n * 2n, bytesOut: n * 200n, newFlows: n }, buf, c * perCpuStride(lbTraffic.size));
    }
    return buf;
  }

  it('sums ids 0..maxId over CPUs, across batch chunks, and no id beyond', () => {
    mountBpffs();
    const stats = BpfMap.create({ type: BPF_MAP_TYPE_PERCPU_ARRAY, name: 'kt_be_stats', keySize: 4, valueSize: lbTraffic.size, maxEntries: 20_000 });
    opened.push(stats);
    const ids = [0, 1, 8191, 8192, 9000, 9001];
    for (const id of ids) stats.update(encodeU32(id), trafficValue(id));
    const maps = withMaps({ lb_be_stats: stats, lb_svc_stats: stats });
    const all = maps.backendTrafficUpTo(9000);
    assert.equal(all.length, 9001);
    const cpuSum = BigInt((cpus * (cpus + 1)) / 2);
    for (const id of [0, 1, 8191, 8192, 9000]) {
      const n = BigInt(id + 1) * cpuSum;
      assert.deepEqual(all[id], { packetsIn: n, bytesIn: n * 100n, packetsOut: n * 2n, bytesOut: n * 200n, newFlows: n }, `id ${id}`);
      assert.deepEqual(all[id], maps.backendTraffic(id), `id ${id}: the same as a lookup of that id`);
    }
    assert.deepEqual(all[2], { packetsIn: 0n, bytesIn: 0n, packetsOut: 0n, bytesOut: 0n, newFlows: 0n });
    assert.deepEqual(maps.serviceTrafficUpTo(1).map((t) => t.packetsIn), [cpuSum, 2n * cpuSum]);
    assert.deepEqual(maps.serviceTrafficUpTo(-1), []);
  });

  it('counters: every name, summed over CPUs', () => {
    const counters = BpfMap.create({ type: BPF_MAP_TYPE_PERCPU_ARRAY, name: 'kt_counters', keySize: 4, valueSize: 8, maxEntries: LB_CNT_MAX });
    opened.push(counters);
    for (let i = 0; i < LB_CNT_MAX; i++) counters.update(encodeU32(i), encodePerCpu(BigInt(i * 10), 8, cpus, (v, buf, at) => {
      encodeU64(v).copy(buf, at);
      return buf;
    }));
    const got = withMaps({ lb_counters: counters }).counters();
    assert.deepEqual(got, Object.fromEntries(COUNTER_NAMES.map((name, i) => [name, BigInt(i * 10 * cpus)])));
  });
});
