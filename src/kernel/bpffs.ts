/*
 * Pins only outlive the agent on the host's bpffs. `ip netns exec` mounts a
 * private /sys in which /sys/fs/bpf is plain sysfs (or a throw-away bpffs
 * mounted there), so pinning is checked before anything is loaded.
 */
import path from 'node:path';
import fs from 'node:fs';
import { KernelError } from './errors.js';
import { type StatfsValue, lastErrno, libcApi } from './libbpf.js';

/* linux/magic.h */
const BPF_FS_MAGIC = 0xcafe4a11;

function nearestExisting(dir: string): string {
  let current = path.resolve(dir);
  while (!fs.existsSync(current)) {
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  return current;
}

/** Whether `dir` (or, if it does not exist yet, its nearest existing parent) is on bpffs. */
export function isOnBpffs(dir: string): boolean {
  const existing = nearestExisting(dir);
  const buf: Partial<StatfsValue> = {};
  if (libcApi.statfs(existing, buf) !== 0) {
    throw new KernelError('ENOTBPFFS', 'statfs', `checking the file system of ${existing}`, { errno: lastErrno() });
  }
  return buf.f_type === BPF_FS_MAGIC;
}

export function assertOnBpffs(dir: string): void {
  if (isOnBpffs(dir)) return;
  throw new KernelError(
    'ENOTBPFFS',
    'statfs',
    `pin path ${dir} is not on the host's bpffs, so pinned maps and the XDP link would not outlive ` +
      'this process. Mount it with `mount -t bpf bpf /sys/fs/bpf`; inside a network namespace run the ' +
      'agent with `nsenter --net=/run/netns/NAME` rather than `ip netns exec`, which mounts a private /sys',
  );
}
