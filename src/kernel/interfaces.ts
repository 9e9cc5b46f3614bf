/*
 * Interface name -> ifindex. if_nametoindex asks the kernel through a socket,
 * so it answers for the caller's network namespace; /sys/class/net would show
 * the host's interfaces under `nsenter --net` (sysfs is not remounted).
 */
import { KernelError } from './errors.js';
import { lastErrno, libcApi } from './libbpf.js';

export function ifindexOf(name: string): number {
  const ifindex = libcApi.if_nametoindex(name);
  if (ifindex === 0) {
    throw new KernelError('EIFINDEX', 'if_nametoindex', `no interface ${name} in this network namespace`, {
      errno: lastErrno(),
    });
  }
  return ifindex;
}
