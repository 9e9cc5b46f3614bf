/*
 * A compiled BPF object file, opened and loaded with libbpf. Map sizes and
 * pin paths can only be set between open and load, so open() takes them.
 *
 * With a pin directory, libbpf reuses a map already pinned there (when its
 * type, sizes and flags match, otherwise the load fails) and pins the maps it
 * creates: that is how the datapath's state outlives the agent.
 */
import { KernelError, checkRet } from './errors.js';
import { BpfMap } from './bpf-map.js';
import { type Ptr, captureLibbpfLog, lastErrno, libbpf, libbpfLogMark, libbpfLogSince } from './libbpf.js';

/* Enough to hold a verifier log's conclusion and libbpf's lines after it. */
const LOAD_LOG_TAIL = 60;

export interface BpfObjectOpenOptions {
  /** max_entries per map name, applied before load. */
  maxEntries?: Record<string, number>;
  /** Pin (and reuse) every map as `${pinDir}/${mapName}`. */
  pinDir?: string;
}

export interface BpfProgramHandle {
  /** Owned by the BpfObject: valid until its close(). */
  fd: number;
  name: string;
}

export class BpfObject {
  readonly path: string;
  private obj: Ptr | null;
  private loaded = false;
  private readonly maps = new Map<string, BpfMap>();

  private constructor(obj: Ptr, path: string) {
    this.obj = obj;
    this.path = path;
  }

  static open(path: string, opts: BpfObjectOpenOptions = {}): BpfObject {
    captureLibbpfLog();
    const mark = libbpfLogMark();
    const obj = libbpf.bpf_object__open_file(path, null);
    if (obj === null) {
      throw new KernelError('EBPF_OPEN', 'bpf_object__open_file', `opening BPF object ${path}`, {
        errno: lastErrno(),
        log: libbpfLogSince(mark, LOAD_LOG_TAIL),
      });
    }
    const object = new BpfObject(obj, path);
    try {
      for (const [name, maxEntries] of Object.entries(opts.maxEntries ?? {})) {
        checkRet(
          libbpf.bpf_map__set_max_entries(object.findMap(name), maxEntries),
          'EBPF_OPEN',
          'bpf_map__set_max_entries',
          `setting max_entries of map ${name} to ${maxEntries}`,
        );
      }
      if (opts.pinDir !== undefined) object.setPinPaths(opts.pinDir);
    } catch (err) {
      object.close();
      throw err;
    }
    return object;
  }

  /** Create maps (or reuse pinned ones), load and verify every program. */
  load(): void {
    const mark = libbpfLogMark();
    const ret = libbpf.bpf_object__load(this.handle());
    if (ret < 0) {
      throw new KernelError('EBPF_LOAD', 'bpf_object__load', `loading BPF object ${this.path}`, {
        errno: -ret,
        log: libbpfLogSince(mark, LOAD_LOG_TAIL),
      });
    }
    this.loaded = true;
  }

  /** A loaded map by its name in the object. The fd belongs to this object. */
  map(name: string): BpfMap {
    const cached = this.maps.get(name);
    if (cached !== undefined) return cached;
    const fd = this.loadedFd(libbpf.bpf_map__fd(this.findMap(name)), `map ${name}`);
    const map = BpfMap.fromFd(fd, name, 'borrowed');
    this.maps.set(name, map);
    return map;
  }

  program(name: string): BpfProgramHandle {
    const prog = libbpf.bpf_object__find_program_by_name(this.handle(), name);
    if (prog === null) {
      throw new KernelError('EBPF_NOT_FOUND', 'bpf_object__find_program_by_name', `no program ${name} in ${this.path}`);
    }
    return { fd: this.loadedFd(libbpf.bpf_program__fd(prog), `program ${name}`), name };
  }

  /** Unload: closes every map and program fd of the object. Pins survive. */
  close(): void {
    if (this.obj === null) return;
    for (const map of this.maps.values()) map.close();
    this.maps.clear();
    libbpf.bpf_object__close(this.obj);
    this.obj = null;
  }

  private setPinPaths(pinDir: string): void {
    const obj = this.handle();
    for (let map = libbpf.bpf_object__next_map(obj, null); map !== null; map = libbpf.bpf_object__next_map(obj, map)) {
      // .rodata/.data/.bss hold load-time constants of this build: reusing a
      // pinned copy from an older build would silently keep the old values.
      if (libbpf.bpf_map__is_internal(map)) continue;
      const name = libbpf.bpf_map__name(map);
      checkRet(
        libbpf.bpf_map__set_pin_path(map, `${pinDir}/${name}`),
        'EBPF_OPEN',
        'bpf_map__set_pin_path',
        `setting pin path of map ${name}`,
      );
    }
  }

  private findMap(name: string): Ptr {
    const map = libbpf.bpf_object__find_map_by_name(this.handle(), name);
    if (map === null) {
      throw new KernelError('EBPF_NOT_FOUND', 'bpf_object__find_map_by_name', `no map ${name} in ${this.path}`);
    }
    return map;
  }

  private loadedFd(fd: number, what: string): number {
    if (!this.loaded || fd < 0) {
      throw new KernelError('EBPF_NOT_LOADED', 'bpf_object__load', `${what} of ${this.path} has no fd: load() first`);
    }
    return fd;
  }

  private handle(): Ptr {
    if (this.obj === null) throw new KernelError('ECLOSED', 'BpfObject', `BPF object ${this.path} is closed`);
    return this.obj;
  }
}
