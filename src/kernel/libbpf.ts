/*
 * koffi bindings to the system libbpf (libbpf.so.1, 1.1.x) and the few libc
 * calls the kernel adapter needs. Every prototype and opts struct is copied
 * field by field from /usr/include/bpf/{bpf,libbpf}.h, linux/bpf.h and glibc's
 * bits/statfs.h; sizes are asserted below because a wrong layout does not
 * fail, it corrupts memory or makes libbpf answer -EINVAL.
 *
 * koffi 3 hands pointers over as BigInt (null for NULL). libbpf int calls
 * return -errno; pointer-returning calls return null and leave errno set
 * (read it with koffi.errno()).
 *
 * This module is safe to import from worker threads: koffi (and these
 * declarations) are per isolate, and nothing process-global happens at import.
 * The libbpf print hook is process-global and is installed only on demand,
 * from the main thread (see captureLibbpfLog). libbpf calls made by a worker
 * that print are then routed by koffi to the main thread's event loop and
 * wait for it: a main thread blocked on that worker would deadlock (map
 * operations never print; opening and loading objects do).
 */
import koffi, { type TypeObject } from 'koffi';
import { isMainThread } from 'node:worker_threads';

/** A C pointer as koffi 3 passes it. */
export type Ptr = bigint;

const libbpfSo = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

koffi.opaque('bpf_object');
koffi.opaque('bpf_map');
koffi.opaque('bpf_program');

/* bpf.h */
export const BpfMapCreateOpts = koffi.struct('bpf_map_create_opts', {
  sz: 'size_t',
  btf_fd: 'uint32_t',
  btf_key_type_id: 'uint32_t',
  btf_value_type_id: 'uint32_t',
  btf_vmlinux_value_type_id: 'uint32_t',
  inner_map_fd: 'uint32_t',
  map_flags: 'uint32_t',
  map_extra: 'uint64_t',
  numa_node: 'uint32_t',
  map_ifindex: 'uint32_t',
});

/* bpf.h */
export const BpfMapBatchOpts = koffi.struct('bpf_map_batch_opts', {
  sz: 'size_t',
  elem_flags: 'uint64_t',
  flags: 'uint64_t',
});

/* bpf.h: the anonymous union is spelled out so the struct has its real size
 * (libbpf checks that bytes past the fields it knows are zero). */
export const BpfLinkCreateOpts = koffi.struct('bpf_link_create_opts', {
  sz: 'size_t',
  flags: 'uint32_t',
  iter_info: 'void *',
  iter_info_len: 'uint32_t',
  target_btf_id: 'uint32_t',
  target: koffi.union({
    perf_event: koffi.struct({ bpf_cookie: 'uint64_t' }),
    kprobe_multi: koffi.struct({
      flags: 'uint32_t',
      cnt: 'uint32_t',
      syms: 'const char **',
      addrs: 'const unsigned long *',
      cookies: 'const uint64_t *',
    }),
    tracing: koffi.struct({ cookie: 'uint64_t' }),
  }),
});

/* bpf.h */
export const BpfTestRunOpts = koffi.struct('bpf_test_run_opts', {
  sz: 'size_t',
  data_in: 'const void *',
  data_out: 'void *',
  data_size_in: 'uint32_t',
  data_size_out: 'uint32_t',
  ctx_in: 'const void *',
  ctx_out: 'void *',
  ctx_size_in: 'uint32_t',
  ctx_size_out: 'uint32_t',
  retval: 'uint32_t',
  repeat: 'int',
  duration: 'uint32_t',
  flags: 'uint32_t',
  cpu: 'uint32_t',
  batch_size: 'uint32_t',
});

/* libbpf.h; the trailing `size_t :0` only pads the struct to 8 bytes. */
export const BpfXdpQueryOpts = koffi.struct('bpf_xdp_query_opts', {
  sz: 'size_t',
  prog_id: 'uint32_t',
  drv_prog_id: 'uint32_t',
  hw_prog_id: 'uint32_t',
  skb_prog_id: 'uint32_t',
  attach_mode: 'uint8_t',
});

/* linux/bpf.h */
export const BpfMapInfo = koffi.struct('bpf_map_info', {
  type: 'uint32_t',
  id: 'uint32_t',
  key_size: 'uint32_t',
  value_size: 'uint32_t',
  max_entries: 'uint32_t',
  map_flags: 'uint32_t',
  name: koffi.array('char', 16),
  ifindex: 'uint32_t',
  btf_vmlinux_value_type_id: 'uint32_t',
  netns_dev: 'uint64_t',
  netns_ino: 'uint64_t',
  btf_id: 'uint32_t',
  btf_key_type_id: 'uint32_t',
  btf_value_type_id: 'uint32_t',
  pad: 'uint32_t',
  map_extra: 'uint64_t',
});

/* glibc bits/statfs.h, x86-64 (__fsword_t is long, the counts unsigned long). */
const Statfs = koffi.struct('statfs', {
  f_type: 'long',
  f_bsize: 'long',
  f_blocks: 'unsigned long',
  f_bfree: 'unsigned long',
  f_bavail: 'unsigned long',
  f_files: 'unsigned long',
  f_ffree: 'unsigned long',
  f_fsid: koffi.struct({ val: koffi.array('int', 2) }),
  f_namelen: 'long',
  f_frsize: 'long',
  f_flags: 'long',
  f_spare: koffi.array('long', 4),
});

const EXPECTED_SIZES: ReadonlyArray<[TypeObject, number]> = [
  [BpfMapCreateOpts, 48],
  [BpfMapBatchOpts, 24],
  [BpfLinkCreateOpts, 64],
  [BpfTestRunOpts, 80],
  [BpfXdpQueryOpts, 32],
  [BpfMapInfo, 88],
  [Statfs, 120],
];
for (const [type, size] of EXPECTED_SIZES) {
  if (koffi.sizeof(type) !== size) {
    throw new Error(`koffi layout of struct ${type.name} is ${koffi.sizeof(type)} bytes, C has ${size}`);
  }
}

/* libbpf.h: typedef int (*libbpf_print_fn_t)(enum libbpf_print_level, const char *, va_list).
 * va_list decays to a pointer when passed; fmt stays a raw pointer so it
 * reaches vsnprintf byte for byte. */
const LibbpfPrintFn = koffi.proto('int libbpf_print_fn_t(int level, const void *fmt, void *ap)');

export interface BpfMapInfoValue {
  type: number;
  id: number;
  key_size: number;
  value_size: number;
  max_entries: number;
  map_flags: number;
  name: string;
}

export interface BpfXdpQueryValue {
  sz: number;
  prog_id: number;
  drv_prog_id: number;
  hw_prog_id: number;
  skb_prog_id: number;
  attach_mode: number;
}

export interface BpfTestRunValue {
  sz: number;
  data_in: Buffer | null;
  data_out: Buffer | Ptr | null;
  data_size_in: number;
  data_size_out: number;
  ctx_in: Buffer | null;
  ctx_out: null;
  ctx_size_in: number;
  ctx_size_out: number;
  retval: number;
  repeat: number;
  duration: number;
  flags: number;
  cpu: number;
  batch_size: number;
}

export interface StatfsValue {
  f_type: number;
}

type Buf = Buffer | Uint8Array;
/** An in/out scalar: koffi copies element 0 in and back out. */
type InOut<T> = [T];

export interface LibbpfApi {
  libbpf_set_print(fn: Ptr | null): Ptr | null;
  libbpf_num_possible_cpus(): number;

  bpf_map_create(
    type: number,
    name: string | null,
    keySize: number,
    valueSize: number,
    maxEntries: number,
    opts: Record<string, number> | null,
  ): number;
  bpf_map_lookup_elem(fd: number, key: Buf, value: Buf): number;
  bpf_map_update_elem(fd: number, key: Buf, value: Buf, flags: number): number;
  bpf_map_delete_elem(fd: number, key: Buf): number;
  bpf_map_get_next_key(fd: number, key: Buf | null, nextKey: Buf): number;
  bpf_map_lookup_batch(
    fd: number,
    inBatch: Buf | null,
    outBatch: Buf,
    keys: Buf,
    values: Buf,
    count: InOut<number>,
    opts: Record<string, number>,
  ): number;
  bpf_map_update_batch(fd: number, keys: Buf, values: Buf, count: InOut<number>, opts: Record<string, number>): number;
  bpf_map_delete_batch(fd: number, keys: Buf, count: InOut<number>, opts: Record<string, number>): number;
  bpf_obj_pin(fd: number, path: string): number;
  bpf_obj_get(path: string): number;
  bpf_map_get_fd_by_id(id: number): number;
  bpf_obj_get_info_by_fd(fd: number, info: Partial<BpfMapInfoValue>, infoLen: InOut<number>): number;

  bpf_object__open_file(path: string, opts: null): Ptr | null;
  bpf_object__load(obj: Ptr): number;
  bpf_object__close(obj: Ptr): void;
  bpf_object__find_map_by_name(obj: Ptr, name: string): Ptr | null;
  bpf_object__next_map(obj: Ptr, prev: Ptr | null): Ptr | null;
  bpf_object__find_program_by_name(obj: Ptr, name: string): Ptr | null;
  bpf_map__name(map: Ptr): string;
  bpf_map__is_internal(map: Ptr): boolean;
  bpf_map__set_max_entries(map: Ptr, maxEntries: number): number;
  bpf_map__set_pin_path(map: Ptr, path: string | null): number;
  bpf_map__fd(map: Ptr): number;
  bpf_program__fd(prog: Ptr): number;

  bpf_link_create(progFd: number, targetFd: number, attachType: number, opts: Record<string, number>): number;
  bpf_link_detach(linkFd: number): number;
  bpf_link_update(linkFd: number, newProgFd: number, opts: null): number;
  bpf_xdp_query(ifindex: number, flags: number, opts: Partial<BpfXdpQueryValue>): number;
  bpf_prog_test_run_opts(progFd: number, opts: BpfTestRunValue): number;
}

export interface LibcApi {
  vsnprintf(buf: Buf, size: number, fmt: Ptr, ap: Ptr | Buf): number;
  close(fd: number): number;
  sched_setaffinity(pid: number, size: number, mask: Buf): number;
  if_nametoindex(name: string): number;
  statfs(path: string, buf: Partial<StatfsValue>): number;
}

export const libbpf: LibbpfApi = {
  libbpf_set_print: libbpfSo.func('libbpf_print_fn_t *libbpf_set_print(libbpf_print_fn_t *fn)'),
  libbpf_num_possible_cpus: libbpfSo.func('int libbpf_num_possible_cpus(void)'),

  bpf_map_create: libbpfSo.func(
    'int bpf_map_create(int map_type, const char *map_name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const bpf_map_create_opts *opts)',
  ),
  bpf_map_lookup_elem: libbpfSo.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
  bpf_map_update_elem: libbpfSo.func(
    'int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)',
  ),
  bpf_map_delete_elem: libbpfSo.func('int bpf_map_delete_elem(int fd, const void *key)'),
  bpf_map_get_next_key: libbpfSo.func('int bpf_map_get_next_key(int fd, const void *key, void *next_key)'),
  bpf_map_lookup_batch: libbpfSo.func(
    'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)',
  ),
  bpf_map_update_batch: libbpfSo.func(
    'int bpf_map_update_batch(int fd, const void *keys, const void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)',
  ),
  bpf_map_delete_batch: libbpfSo.func(
    'int bpf_map_delete_batch(int fd, const void *keys, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)',
  ),
  bpf_obj_pin: libbpfSo.func('int bpf_obj_pin(int fd, const char *pathname)'),
  bpf_obj_get: libbpfSo.func('int bpf_obj_get(const char *pathname)'),
  bpf_map_get_fd_by_id: libbpfSo.func('int bpf_map_get_fd_by_id(uint32_t id)'),
  // The header says `void *info`; only map info is ever asked for here.
  bpf_obj_get_info_by_fd: libbpfSo.func(
    'int bpf_obj_get_info_by_fd(int bpf_fd, _Inout_ bpf_map_info *info, _Inout_ uint32_t *info_len)',
  ),

  // opts is always NULL: the defaults are what we want, per-map settings go
  // through bpf_map__set_* between open and load.
  bpf_object__open_file: libbpfSo.func('bpf_object *bpf_object__open_file(const char *path, const void *opts)'),
  bpf_object__load: libbpfSo.func('int bpf_object__load(bpf_object *obj)'),
  bpf_object__close: libbpfSo.func('void bpf_object__close(bpf_object *obj)'),
  bpf_object__find_map_by_name: libbpfSo.func(
    'bpf_map *bpf_object__find_map_by_name(const bpf_object *obj, const char *name)',
  ),
  bpf_object__next_map: libbpfSo.func('bpf_map *bpf_object__next_map(const bpf_object *obj, const bpf_map *map)'),
  bpf_object__find_program_by_name: libbpfSo.func(
    'bpf_program *bpf_object__find_program_by_name(const bpf_object *obj, const char *name)',
  ),
  bpf_map__name: libbpfSo.func('const char *bpf_map__name(const bpf_map *map)'),
  bpf_map__is_internal: libbpfSo.func('bool bpf_map__is_internal(const bpf_map *map)'),
  bpf_map__set_max_entries: libbpfSo.func('int bpf_map__set_max_entries(bpf_map *map, uint32_t max_entries)'),
  bpf_map__set_pin_path: libbpfSo.func('int bpf_map__set_pin_path(bpf_map *map, const char *path)'),
  bpf_map__fd: libbpfSo.func('int bpf_map__fd(const bpf_map *map)'),
  bpf_program__fd: libbpfSo.func('int bpf_program__fd(const bpf_program *prog)'),

  bpf_link_create: libbpfSo.func(
    'int bpf_link_create(int prog_fd, int target_fd, int attach_type, const bpf_link_create_opts *opts)',
  ),
  bpf_link_detach: libbpfSo.func('int bpf_link_detach(int link_fd)'),
  // opts NULL: replace whatever program the link holds.
  bpf_link_update: libbpfSo.func('int bpf_link_update(int link_fd, int new_prog_fd, const void *opts)'),
  bpf_xdp_query: libbpfSo.func('int bpf_xdp_query(int ifindex, int flags, _Inout_ bpf_xdp_query_opts *opts)'),
  bpf_prog_test_run_opts: libbpfSo.func(
    'int bpf_prog_test_run_opts(int prog_fd, _Inout_ bpf_test_run_opts *opts)',
  ),
};

export const libcApi: LibcApi = {
  vsnprintf: libc.func('int vsnprintf(void *str, size_t size, const void *format, void *ap)'),
  close: libc.func('int close(int fd)'),
  sched_setaffinity: libc.func('int sched_setaffinity(int pid, size_t cpusetsize, const void *mask)'),
  if_nametoindex: libc.func('unsigned int if_nametoindex(const char *ifname)'),
  statfs: libc.func('int statfs(const char *file, _Out_ statfs *buf)'),
};

/** errno of the last failed pointer-returning or libc call on this thread. */
export function lastErrno(): number {
  return koffi.errno();
}

let possibleCpus: number | undefined;

/** CPUs the kernel sizes per-CPU map values for; read once (it cannot change). */
export function numPossibleCpus(): number {
  if (possibleCpus === undefined) {
    const n = libbpf.libbpf_num_possible_cpus();
    if (n <= 0) throw new Error(`libbpf_num_possible_cpus failed: ${n}`);
    possibleCpus = n;
  }
  return possibleCpus;
}

/* ---- libbpf log capture --------------------------------------------------
 * libbpf reports everything, including the verifier's reason for rejecting a
 * program, only through its print callback. Lines go into a ring so a failed
 * load can quote the tail, and optionally to a logger. */

export type LibbpfLogLevel = 'warn' | 'info' | 'debug';
export type LibbpfLogger = (level: LibbpfLogLevel, line: string) => void;

const LEVELS: readonly LibbpfLogLevel[] = ['warn', 'info', 'debug'];
/* Enough for the tail of a verifier log plus libbpf's closing lines. */
const RING_SIZE = 2048;
/* va_list on x86-64 is a 24-byte struct; copying it is what va_copy does. */
const VA_LIST_SIZE = 24;

const ring: string[] = new Array<string>(RING_SIZE);
let written = 0;
let pending = '';
let logger: LibbpfLogger | undefined;
const formatBuf = Buffer.alloc(4096);
let installed = false;

function format(fmt: Ptr, ap: Ptr): string {
  // vsnprintf consumes its va_list, so the first (possibly too short) attempt
  // uses a copy and the retry with the right size uses the original. Other
  // architectures lay va_list out differently: there, long messages are cut.
  const apCopy = process.arch === 'x64' ? Buffer.from(koffi.view(ap, VA_LIST_SIZE).slice(0)) : ap;
  const n = libcApi.vsnprintf(formatBuf, formatBuf.length, fmt, apCopy);
  if (n < 0) return '';
  if (n >= formatBuf.length && apCopy !== ap) {
    // Only verifier logs get this big; do not keep megabytes around after one.
    const big = Buffer.alloc(n + 1);
    libcApi.vsnprintf(big, big.length, fmt, ap);
    return big.toString('utf8', 0, n);
  }
  return formatBuf.toString('utf8', 0, Math.min(n, formatBuf.length - 1));
}

function onPrint(level: number, fmt: Ptr, ap: Ptr): number {
  try {
    const lines = (pending + format(fmt, ap)).split('\n');
    // A message without a trailing newline continues in the next call.
    pending = lines.pop() ?? '';
    const name = LEVELS[level] ?? 'debug';
    for (const line of lines) {
      ring[written % RING_SIZE] = line;
      written++;
      logger?.(name, line);
    }
  } catch {
    // Never let a formatting or logger failure unwind into libbpf's C frames.
  }
  return 0;
}

/**
 * Route libbpf's messages into the ring (idempotent). Only the main thread
 * installs the hook: it is global to the process, and a worker that replaced
 * it would steal the main thread's load logs.
 */
export function captureLibbpfLog(): void {
  if (installed || !isMainThread) return;
  // Registered for the life of the process: libbpf keeps the pointer.
  const cb = koffi.register(onPrint, koffi.pointer(LibbpfPrintFn));
  libbpf.libbpf_set_print(cb);
  installed = true;
}

/** Also forward every libbpf line to `fn` (undefined stops forwarding). */
export function setLibbpfLogger(fn: LibbpfLogger | undefined): void {
  logger = fn;
  captureLibbpfLog();
}

/** A position in the log, to ask later for what was printed after it. */
export function libbpfLogMark(): number {
  return written;
}

/** Up to `max` most recent complete lines printed since `mark`. */
export function libbpfLogSince(mark: number, max: number): string[] {
  const count = Math.min(written - mark, max, RING_SIZE);
  const out: string[] = [];
  for (let i = written - count; i < written; i++) out.push(ring[i % RING_SIZE] ?? '');
  return out;
}
