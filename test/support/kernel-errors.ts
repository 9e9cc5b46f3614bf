/* Predicates for assert.throws on the kernel adapter's errors. */
import { KernelError, type KernelErrorCode } from '../../src/kernel/errors.js';

export function isKernelError(code: KernelErrorCode, errno?: number): (err: unknown) => boolean {
  return (err: unknown) => err instanceof KernelError && err.code === code && (errno === undefined || err.errno === errno);
}
