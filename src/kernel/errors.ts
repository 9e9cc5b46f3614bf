/*
 * The one error class of the kernel adapter. Callers branch on `code` (stable
 * across releases), never on the message; the message is for operators and
 * carries the errno name, its text and, for loads, the tail of libbpf's log
 * (the verifier's reason is there and nowhere else).
 */
import os from 'node:os';
import util from 'node:util';

export type KernelErrorCode =
  | 'EBPF_MAP_CREATE'
  | 'EBPF_MAP_INFO'
  | 'EBPF_MAP_LOOKUP'
  | 'EBPF_MAP_UPDATE'
  | 'EBPF_MAP_DELETE'
  | 'EBPF_MAP_NEXT_KEY'
  | 'EBPF_MAP_BATCH'
  | 'EBPF_OBJ_GET'
  | 'EBPF_OBJ_PIN'
  | 'EBPF_OPEN'
  | 'EBPF_LOAD'
  | 'EBPF_NOT_FOUND'
  | 'EBPF_NOT_LOADED'
  | 'EBPF_ATTACH'
  | 'EBPF_DETACH'
  | 'EBPF_QUERY'
  | 'EBPF_TEST_RUN'
  | 'ESIZE'
  | 'ECLOSED'
  | 'ENOTBPFFS'
  | 'EIFINDEX'
  | 'EAFFINITY';

/* The kernel uses ENOTSUPP (524) internally and leaks it through bpf(2);
 * libuv's text for 95 talks about sockets, which misleads for BPF calls. */
const KERNEL_ERRNO_TEXT: ReadonlyMap<number, [string, string]> = new Map([
  [95, ['EOPNOTSUPP', 'operation not supported']],
  [524, ['ENOTSUPP', 'operation not supported by this map or program type']],
]);

const ERRNO_NAMES: ReadonlyMap<number, string> = (() => {
  const names = new Map<number, string>();
  // First name wins, so EAGAIN beats its alias EWOULDBLOCK.
  for (const [name, value] of Object.entries(os.constants.errno)) {
    if (!names.has(value)) names.set(value, name);
  }
  return names;
})();

const SYSTEM_ERRORS = util.getSystemErrorMap();

export function errnoName(errno: number): string {
  return KERNEL_ERRNO_TEXT.get(errno)?.[0] ?? ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** "ENOENT (2): no such file or directory", like strerror with the symbol in front. */
export function describeErrno(errno: number): string {
  const text = KERNEL_ERRNO_TEXT.get(errno)?.[1] ?? SYSTEM_ERRORS.get(-errno)?.[1] ?? 'unknown error';
  return `${errnoName(errno)} (${errno}): ${text}`;
}

export interface KernelErrorDetails {
  /** Positive errno, when the failure came with one. */
  errno?: number | undefined;
  /** Recent libbpf log lines to append (loads: the verifier's output). */
  log?: readonly string[] | undefined;
}

export class KernelError extends Error {
  override readonly name = 'KernelError';
  readonly code: KernelErrorCode;
  readonly errno: number | undefined;
  /** The libbpf or libc function whose failure this is. */
  readonly op: string;
  readonly log: readonly string[];

  constructor(code: KernelErrorCode, op: string, what: string, details: KernelErrorDetails = {}) {
    const errno = details.errno;
    const log = details.log ?? [];
    let message = errno === undefined ? `${what} (${op})` : `${what}: ${op}: ${describeErrno(errno)}`;
    if (log.length > 0) message += `\nlibbpf log (last ${log.length} lines):\n${log.join('\n')}`;
    super(message);
    this.code = code;
    this.errno = errno;
    this.op = op;
    this.log = log;
  }
}

/** For libbpf int calls, which return -errno on failure. */
export function checkRet(ret: number, code: KernelErrorCode, op: string, what: string): number {
  if (ret < 0) throw new KernelError(code, op, what, { errno: -ret });
  return ret;
}
