/*
 * Thread pinning from a worker thread. The worker is this same file, started
 * with workerData; it also uses libbpf, to show the bindings load per thread.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { BPF_MAP_TYPE_ARRAY, BpfMap } from '../../src/kernel/bpf-map.js';
import { pinCurrentThreadToCpu } from '../../src/kernel/cpu-affinity.js';
import { KernelError } from '../../src/kernel/errors.js';

function allowedCpus(statusFile: string): string {
  const line = fs.readFileSync(statusFile, 'utf8').split('\n').find((l) => l.startsWith('Cpus_allowed_list:'));
  return line?.split(':')[1]?.trim() ?? '';
}

interface WorkerReport {
  allowed: string;
  mapValue: number;
}

if (!isMainThread) {
  const cpu = (workerData as { cpu: number }).cpu;
  pinCurrentThreadToCpu(cpu);
  const map = BpfMap.create({ type: BPF_MAP_TYPE_ARRAY, name: 'kt_worker', keySize: 4, valueSize: 4, maxEntries: 1 });
  const value = Buffer.alloc(4);
  value.writeUInt32LE(cpu + 1000);
  map.update(Buffer.alloc(4), value);
  const report: WorkerReport = {
    allowed: allowedCpus('/proc/thread-self/status'),
    mapValue: map.lookup(Buffer.alloc(4))?.readUInt32LE() ?? -1,
  };
  map.close();
  parentPort?.postMessage(report);
} else {
  describe('pinCurrentThreadToCpu', () => {
    it('pins a worker thread only, and libbpf works inside the worker', async () => {
      const before = allowedCpus('/proc/self/status');
      // The highest CPU this process may use: "0-1" -> 1, "0,3" -> 3.
      const cpu = Number(before.split(/[,-]/).pop());
      const report = await new Promise<WorkerReport>((resolve, reject) => {
        const worker = new Worker(new URL(import.meta.url), { workerData: { cpu } });
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) => {
          if (code !== 0) reject(new Error(`worker exited with ${code}`));
        });
      });
      assert.equal(report.allowed, String(cpu));
      assert.equal(report.mapValue, cpu + 1000);
      // The main thread kept its affinity.
      assert.equal(allowedCpus('/proc/thread-self/status'), before);
    });

    it('rejects CPUs outside the mask, and CPUs that do not exist', () => {
      for (const cpu of [-1, 1.5, 1024]) {
        assert.throws(() => pinCurrentThreadToCpu(cpu), (err: unknown) => err instanceof KernelError && err.code === 'EAFFINITY');
      }
      assert.throws(
        () => pinCurrentThreadToCpu(1023),
        (err: unknown) => err instanceof KernelError && err.code === 'EAFFINITY' && err.errno === 22,
      );
    });
  });
}
