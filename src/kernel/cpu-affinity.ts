/*
 * Pin the calling thread to one CPU, e.g. a worker thread of a concurrency
 * test that must run beside the main thread on another CPU. sched_setaffinity
 * with pid 0 targets the calling thread, not the whole process.
 */
import { KernelError } from './errors.js';
import { lastErrno, libcApi } from './libbpf.js';

/* glibc's cpu_set_t: 1024 CPUs as a bit mask. */
const CPU_SETSIZE = 1024;

export function pinCurrentThreadToCpu(cpu: number): void {
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= CPU_SETSIZE) {
    throw new KernelError('EAFFINITY', 'sched_setaffinity', `CPU ${cpu} is not in 0..${CPU_SETSIZE - 1}`);
  }
  const mask = Buffer.alloc(CPU_SETSIZE / 8);
  mask[cpu >> 3] = 1 << (cpu & 7);
  if (libcApi.sched_setaffinity(0, mask.length, mask) !== 0) {
    throw new KernelError('EAFFINITY', 'sched_setaffinity', `pinning this thread to CPU ${cpu}`, {
      errno: lastErrno(),
    });
  }
}
