/**
 * Codecs for the structs and constants shared with the datapath
 * (bpf/lb_structs.h, bpf/lb_consts.h). Pure: Buffers in, plain objects out.
 *
 * Conventions for the TypeScript objects:
 *  - __be32 addresses are dotted strings ('198.18.0.10');
 *  - ports are numbers in host order; __be16 fields are converted on the way
 *    in and out, __u16 fields (lb_snat_pool.port_min/max) are host order;
 *  - MACs are lowercase 'aa:bb:cc:dd:ee:ff' strings;
 *  - __u64 fields are bigint; other __u8/__u16/__u32 fields are numbers;
 *  - char arrays are strings (UTF-8, NUL-padded, at most size - 1 bytes);
 *  - host-order fields are little-endian (every architecture this runs on).
 *
 * Each codec is generated from one field table, which is also its exported
 * layout descriptor: test/layout compares `size`, `fields` (C member name ->
 * byte offset) and `fieldSizes` with the BTF of the built object, so the
 * table the codec runs on is the table that gets checked. A table must tile
 * its struct exactly (fields + explicit padding): this is checked when the
 * module loads.
 */
import { ipv4ToNumber } from '../model/ipv4.js';

// ------------------------------------------------------------------ constants

export const LB_DEFAULT_MAX_SERVICES = 4096;
export const LB_DEFAULT_MAX_BACKENDS = 65536;
export const LB_DEFAULT_MAX_FLOWS = 1048576;
export const LB_DEFAULT_MAX_NEIGHBORS = 65536;
export const LB_DEFAULT_MAX_ADDRS = 8192;
export const LB_MAX_SNAT_ADDRS = 64;
export const LB_MAGLEV_TABLE_SIZE = 16381;
export const LB_SCHED_HDR_LEN_MASK = 0x00ffffff;
export const LB_SCHED_HDR_SCHED_SHIFT = 24;
export const LB_PICK_ATTEMPTS = 4;
export const LB_SNAT_ATTEMPTS = 32;

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** enum lb_scheduler */
export const LbScheduler = {
  ROUND_ROBIN: 0,
  WEIGHTED_ROUND_ROBIN: 1,
  MAGLEV: 2,
  SOURCE_HASH: 3,
} as const;
export type LbSchedulerValue = (typeof LbScheduler)[keyof typeof LbScheduler];

/** Config names (DESIGN.md §2) -> enum lb_scheduler. */
export const SCHEDULER_IDS = {
  round_robin: LbScheduler.ROUND_ROBIN,
  weighted_round_robin: LbScheduler.WEIGHTED_ROUND_ROBIN,
  maglev: LbScheduler.MAGLEV,
  source_hash: LbScheduler.SOURCE_HASH,
} as const;
export type SchedulerName = keyof typeof SCHEDULER_IDS;
export const SCHEDULER_NAMES: readonly SchedulerName[] = ['round_robin', 'weighted_round_robin', 'maglev', 'source_hash'];

/** enum lb_addr_role (bit flags) */
export const LbAddrRole = {
  VIP: 1,
  SNAT: 2,
} as const;

/** enum lb_conn_state (bit flags in lb_conn.state) */
export const LbConnState = {
  SYN_SEEN: 1 << 0,
  SYNACK_SEEN: 1 << 1,
  ESTABLISHED: 1 << 2,
  FIN_CLIENT: 1 << 3,
  FIN_BACKEND: 1 << 4,
  RST: 1 << 5,
  RELEASED: 1 << 6,
  UDP: 1 << 7,
} as const;
export const LB_CT_CLOSING_MASK = LbConnState.FIN_CLIENT | LbConnState.FIN_BACKEND | LbConnState.RST;

/** enum lb_backend_admin: a backend's config `state`. */
export const LbBackendAdmin = {
  active: 0,
  draining: 1,
  disabled: 2,
} as const;
export type BackendAdminName = keyof typeof LbBackendAdmin;
export const BACKEND_ADMIN_NAMES: readonly BackendAdminName[] = ['active', 'draining', 'disabled'];

/** enum lb_xdp_mode: xdp_mode as configured (auto) or attached (native, generic). */
export const LbXdpMode = {
  auto: 0,
  native: 1,
  generic: 2,
} as const;
export type XdpModeName = keyof typeof LbXdpMode;
export const XDP_MODE_NAMES: readonly XdpModeName[] = ['auto', 'native', 'generic'];

/** enum lb_health: a backend's health in lb_be_runtime. */
export const LbHealth = {
  unknown: 0,
  healthy: 1,
  unhealthy: 2,
  unchecked: 3,
} as const;
export type HealthName = keyof typeof LbHealth;
export const HEALTH_NAMES: readonly HealthName[] = ['unknown', 'healthy', 'unhealthy', 'unchecked'];

/** enum lb_resolution: whether a backend's MAC is known (and why not), in lb_be_runtime. */
export const LbResolution = {
  pending: 0,
  resolved: 1,
  no_route: 2,
  other_iface: 3,
  no_answer: 4,
} as const;
export type ResolutionName = keyof typeof LbResolution;
export const RESOLUTION_NAMES: readonly ResolutionName[] = ['pending', 'resolved', 'no_route', 'other_iface', 'no_answer'];

/** enum lb_reload_result: the agent's last reload, in lb_agent_run (the `result` of its log event). */
export const LbReloadResult = {
  none: 0,
  applied: 1,
  rejected: 2,
  failed: 3,
} as const;
export type ReloadResultName = keyof typeof LbReloadResult;
export const RELOAD_RESULT_NAMES: readonly ReloadResultName[] = ['none', 'applied', 'rejected', 'failed'];

export const LB_SERVICE_NAME_LEN = 64;
export const LB_IFNAME_LEN = 16;

/** enum lb_counter (indexes into the per-CPU lb_counters array) */
export const LbCounter = {
  DROP_NO_CONNTRACK: 0,
  DROP_FRAGMENT: 1,
  DROP_NO_BACKEND: 2,
  DROP_NO_MAC: 3,
  DROP_SNAT_EXHAUSTED: 4,
  DROP_CONNTRACK_FULL: 5,
  PASS_MALFORMED: 6,
} as const;
export const LB_CNT_MAX = 7;
/** Counter names indexed by enum lb_counter value (for metrics labels). */
export const COUNTER_NAMES: readonly string[] = [
  'drop_no_conntrack',
  'drop_fragment',
  'drop_no_backend',
  'drop_no_mac',
  'drop_snat_exhausted',
  'drop_conntrack_full',
  'pass_malformed',
];

// ------------------------------------------------------------------ errors

export class CodecError extends Error {
  readonly code: 'ERR_CODEC_VALUE' | 'ERR_CODEC_BUFFER';
  constructor(code: 'ERR_CODEC_VALUE' | 'ERR_CODEC_BUFFER', message: string) {
    super(message);
    this.name = 'CodecError';
    this.code = code;
  }
}

// ------------------------------------------------------------------ scalars

/** '198.18.0.10' -> 0xc612000a. Strict dotted quad, no leading zeros (the model's rule). */
export function ipv4ToUint32(ip: string): number {
  const n = ipv4ToNumber(ip);
  if (n === undefined) throw new CodecError('ERR_CODEC_VALUE', `not an IPv4 address: ${JSON.stringify(ip)}`);
  return n;
}

/* Octets as text, with and without the dot that follows all but the last. */
const OCTETS = Array.from({ length: 256 }, (_, i) => String(i));
const OCTETS_DOT = OCTETS.map((o) => `${o}.`);

/**
 * 0xc612000a -> '198.18.0.10'. From tables of the octets' text: a reload
 * formats every backend's address read from the maps (16,000 in a large
 * config), and this makes half the intermediate strings a template does.
 */
export function uint32ToIpv4(n: number): string {
  return OCTETS_DOT[n >>> 24]! + OCTETS_DOT[(n >>> 16) & 0xff]! + OCTETS_DOT[(n >>> 8) & 0xff]! + OCTETS[n & 0xff]!;
}

export function parseMac(mac: string): Buffer {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) {
    throw new CodecError('ERR_CODEC_VALUE', `not a MAC address: ${JSON.stringify(mac)}`);
  }
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

/* Bytes as two lower-case hex digits. */
const HEX_BYTES = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Six bytes as 'aa:bb:cc:dd:ee:ff': a table look-up per byte, since every backend's MAC is formatted on every neighbour refresh. */
export function formatMac(b: Uint8Array): string {
  const h = HEX_BYTES;
  return `${h[b[0]!]}:${h[b[1]!]}:${h[b[2]!]}:${h[b[3]!]}:${h[b[4]!]}:${h[b[5]!]}`;
}

// ------------------------------------------------------------------ layout engine

type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'be16' | 'ipv4' | 'mac' | 'char';

const KIND_SIZE: Record<FieldKind, number> = { u8: 1, u16: 2, u32: 4, u64: 8, be16: 2, ipv4: 4, mac: 6, char: 1 };

interface FieldSpec {
  /** C member name. */
  readonly c: string;
  /** Property of the TypeScript object. */
  readonly ts: string;
  readonly kind: FieldKind;
  readonly offset: number;
  /** Array length (C `type name[count]`); 1 when absent. A char array is one string. */
  readonly count?: number;
}

function writeText(struct: string, f: FieldSpec, v: unknown, buf: Buffer, at: number): void {
  if (typeof v !== 'string') fail(struct, f.c, `expected a string, got ${String(v)}`);
  const bytes = Buffer.from(v, 'utf8');
  // Room for the NUL, and no NUL inside (C would cut the string there).
  if (bytes.length >= (f.count ?? 1) || bytes.includes(0)) fail(struct, f.c, `expected at most ${(f.count ?? 1) - 1} bytes without NUL`);
  bytes.copy(buf, at);
}

interface PadSpec {
  readonly c: string;
  readonly offset: number;
  readonly size: number;
}

/** What test/layout compares with BTF. */
export interface StructDescriptor {
  /** C struct name, e.g. 'lb_conn'. */
  readonly name: string;
  /** sizeof(struct). */
  readonly size: number;
  /** Every non-padding C member -> byte offset. */
  readonly fields: Readonly<Record<string, number>>;
  /** Every non-padding C member -> size in bytes (whole array for arrays). */
  readonly fieldSizes: Readonly<Record<string, number>>;
  /** Explicit padding members -> byte offset. */
  readonly padding: Readonly<Record<string, number>>;
}

export interface StructCodec<T> extends StructDescriptor {
  /** A new zero-filled Buffer of `size` bytes holding `value`. */
  encode(value: T): Buffer;
  /** Writes `value` into `buf` at `offset` (padding is zeroed); returns `buf`. */
  encodeInto(value: T, buf: Buffer, offset?: number): Buffer;
  decode(buf: Uint8Array, offset?: number): T;
  /**
   * Each field on its own, read in place from a struct at `offset` in
   * `buf` (unchecked beyond the Buffer's own bounds): for scans of many
   * entries that need a few fields and no object per entry.
   */
  readonly read: { readonly [K in keyof T]-?: (buf: Buffer, offset: number) => T[K] };
}

function fail(struct: string, field: string, msg: string): never {
  throw new CodecError('ERR_CODEC_VALUE', `${struct}.${field}: ${msg}`);
}

function checkInt(struct: string, field: string, v: unknown, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    fail(struct, field, `expected an integer 0..${max}, got ${String(v)}`);
  }
  return v;
}

function writeScalar(struct: string, f: FieldSpec, v: unknown, buf: Buffer, at: number): void {
  switch (f.kind) {
    case 'u8':
      buf.writeUInt8(checkInt(struct, f.c, v, 0xff), at);
      return;
    case 'u16':
      buf.writeUInt16LE(checkInt(struct, f.c, v, 0xffff), at);
      return;
    case 'u32':
      buf.writeUInt32LE(checkInt(struct, f.c, v, 0xffffffff), at);
      return;
    case 'u64': {
      let b: bigint;
      if (typeof v === 'bigint') b = v;
      else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
      else fail(struct, f.c, `expected a bigint, got ${String(v)}`);
      if (b < 0n || b > 0xffffffffffffffffn) fail(struct, f.c, `out of range for __u64: ${b}`);
      buf.writeBigUInt64LE(b, at);
      return;
    }
    case 'be16':
      buf.writeUInt16BE(checkInt(struct, f.c, v, 0xffff), at);
      return;
    case 'ipv4':
      if (typeof v !== 'string') fail(struct, f.c, `expected a dotted IPv4 string, got ${String(v)}`);
      try {
        buf.writeUInt32BE(ipv4ToUint32(v), at);
      } catch (e) {
        fail(struct, f.c, (e as Error).message);
      }
      return;
    case 'mac':
      if (typeof v !== 'string') fail(struct, f.c, `expected a MAC string, got ${String(v)}`);
      try {
        parseMac(v).copy(buf, at);
      } catch (e) {
        fail(struct, f.c, (e as Error).message);
      }
      return;
    case 'char':
      throw new Error('char arrays are written whole (writeText)');
  }
}

/** Reads one field of a struct at `offset` + the field's offset. */
type FieldReader = (buf: Buffer, offset: number) => unknown;

/*
 * One closure per kind (not one switch per read): a scan that reads a field
 * of thousands of entries then calls one small function at one call site,
 * which V8 inlines.
 */
function scalarReader(kind: Exclude<FieldKind, 'char'>, at: number): FieldReader {
  switch (kind) {
    case 'u8':
      return (buf, offset) => buf.readUInt8(offset + at);
    case 'u16':
      return (buf, offset) => buf.readUInt16LE(offset + at);
    case 'u32':
      return (buf, offset) => buf.readUInt32LE(offset + at);
    case 'u64':
      return (buf, offset) => buf.readBigUInt64LE(offset + at);
    case 'be16':
      return (buf, offset) => buf.readUInt16BE(offset + at);
    case 'ipv4':
      return (buf, offset) => uint32ToIpv4(buf.readUInt32BE(offset + at));
    case 'mac':
      return (buf, offset) => formatMac(buf.subarray(offset + at, offset + at + 6));
  }
}

function fieldReader(f: FieldSpec): FieldReader {
  const count = f.count ?? 1;
  if (f.kind === 'char') {
    return (buf, offset) => {
      const field = buf.subarray(offset + f.offset, offset + f.offset + count);
      const end = field.indexOf(0);
      return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
    };
  }
  if (f.count === undefined) return scalarReader(f.kind, f.offset);
  const width = KIND_SIZE[f.kind];
  const items = Array.from({ length: count }, (_, i) => scalarReader(f.kind as Exclude<FieldKind, 'char'>, f.offset + i * width));
  return (buf, offset) => items.map((read) => read(buf, offset));
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function defineStruct<T extends object>(name: string, size: number, specs: readonly FieldSpec[], pads: readonly PadSpec[]): StructCodec<T> {
  // Load-time check: fields and padding tile [0, size) exactly.
  const owner = new Array<string | undefined>(size).fill(undefined);
  const claim = (member: string, off: number, len: number): void => {
    for (let i = off; i < off + len; i++) {
      if (i >= size) throw new Error(`codec ${name}: ${member} runs past sizeof ${size}`);
      if (owner[i] !== undefined) throw new Error(`codec ${name}: ${member} overlaps ${owner[i]} at byte ${i}`);
      owner[i] = member;
    }
  };
  const fields: Record<string, number> = {};
  const fieldSizes: Record<string, number> = {};
  const padding: Record<string, number> = {};
  for (const f of specs) {
    const len = KIND_SIZE[f.kind] * (f.count ?? 1);
    claim(f.c, f.offset, len);
    fields[f.c] = f.offset;
    fieldSizes[f.c] = len;
  }
  for (const p of pads) {
    claim(p.c, p.offset, p.size);
    padding[p.c] = p.offset;
  }
  const hole = owner.indexOf(undefined);
  if (hole !== -1) throw new Error(`codec ${name}: byte ${hole} belongs to no member`);

  const encodeInto = (value: T, buf: Buffer, offset = 0): Buffer => {
    if (offset < 0 || buf.length < offset + size) {
      throw new CodecError('ERR_CODEC_BUFFER', `${name}: need ${size} bytes at offset ${offset}, buffer has ${buf.length}`);
    }
    buf.fill(0, offset, offset + size);
    const obj = value as Record<string, unknown>;
    for (const f of specs) {
      const v = obj[f.ts];
      const width = KIND_SIZE[f.kind];
      if (f.kind === 'char') {
        writeText(name, f, v, buf, offset + f.offset);
      } else if (f.count === undefined) {
        writeScalar(name, f, v, buf, offset + f.offset);
      } else {
        if (!Array.isArray(v) || v.length !== f.count) fail(name, f.c, `expected an array of ${f.count}`);
        v.forEach((x, i) => writeScalar(name, f, x, buf, offset + f.offset + i * width));
      }
    }
    return buf;
  };

  const readers = specs.map((f) => [f.ts, fieldReader(f)] as const);
  return Object.freeze({
    name,
    size,
    fields: Object.freeze(fields),
    fieldSizes: Object.freeze(fieldSizes),
    padding: Object.freeze(padding),
    encode: (value: T): Buffer => encodeInto(value, Buffer.alloc(size), 0),
    encodeInto,
    decode: (input: Uint8Array, offset = 0): T => {
      const buf = asBuffer(input);
      if (offset < 0 || buf.length < offset + size) {
        throw new CodecError('ERR_CODEC_BUFFER', `${name}: need ${size} bytes at offset ${offset}, buffer has ${buf.length}`);
      }
      const out: Record<string, unknown> = {};
      for (const [ts, read] of readers) out[ts] = read(buf, offset);
      return out as T;
    },
    read: Object.freeze(Object.fromEntries(readers)) as StructCodec<T>['read'],
  });
}

// ------------------------------------------------------------------ structs

/** struct lb_service_key: lb_services key. */
export interface LbServiceKey {
  vip: string;
  port: number;
  /** IPPROTO_TCP or IPPROTO_UDP */
  proto: number;
}
export const lbServiceKey = defineStruct<LbServiceKey>(
  'lb_service_key',
  8,
  [
    { c: 'vip', ts: 'vip', kind: 'ipv4', offset: 0 },
    { c: 'port', ts: 'port', kind: 'be16', offset: 4 },
    { c: 'proto', ts: 'proto', kind: 'u8', offset: 6 },
  ],
  [{ c: 'pad', offset: 7, size: 1 }],
);

/** struct lb_service: lb_services value. */
export interface LbService {
  id: number;
}
export const lbService = defineStruct<LbService>('lb_service', 4, [{ c: 'id', ts: 'id', kind: 'u32', offset: 0 }], []);

/** struct lb_backend: lb_backends value, indexed by backend id. */
export interface LbBackend {
  ip: string;
  port: number;
}
export const lbBackend = defineStruct<LbBackend>(
  'lb_backend',
  8,
  [
    { c: 'ip', ts: 'ip', kind: 'ipv4', offset: 0 },
    { c: 'port', ts: 'port', kind: 'be16', offset: 4 },
  ],
  [{ c: 'pad', offset: 6, size: 2 }],
);

/** struct lb_neigh: lb_neigh value, keyed by a backend's address. */
export interface LbNeigh {
  mac: string;
}
export const lbNeigh = defineStruct<LbNeigh>(
  'lb_neigh',
  8,
  [{ c: 'mac', ts: 'mac', kind: 'mac', offset: 0 }],
  [{ c: 'pad', offset: 6, size: 2 }],
);

/** struct lb_flow_key: key of lb_ct (client -> VIP) and lb_snat (backend -> SNAT address); lb_snat's value. */
export interface LbFlowKey {
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  proto: number;
}
export const lbFlowKey = defineStruct<LbFlowKey>(
  'lb_flow_key',
  16,
  [
    { c: 'src_ip', ts: 'srcIp', kind: 'ipv4', offset: 0 },
    { c: 'dst_ip', ts: 'dstIp', kind: 'ipv4', offset: 4 },
    { c: 'src_port', ts: 'srcPort', kind: 'be16', offset: 8 },
    { c: 'dst_port', ts: 'dstPort', kind: 'be16', offset: 10 },
    { c: 'proto', ts: 'proto', kind: 'u8', offset: 12 },
  ],
  [{ c: 'pad', offset: 13, size: 3 }],
);

/** struct lb_conn: lb_ct value. Timestamps are CLOCK_MONOTONIC ns. */
export interface LbConn {
  lastSeenNs: bigint;
  createdNs: bigint;
  clientIp: string;
  vip: string;
  backendIp: string;
  snatIp: string;
  clientPort: number;
  vport: number;
  backendPort: number;
  snatPort: number;
  clientMac: string;
  proto: number;
  serviceId: number;
  backendId: number;
  /** LbConnState bits */
  state: number;
}
export const lbConn = defineStruct<LbConn>(
  'lb_conn',
  64,
  [
    { c: 'last_seen_ns', ts: 'lastSeenNs', kind: 'u64', offset: 0 },
    { c: 'created_ns', ts: 'createdNs', kind: 'u64', offset: 8 },
    { c: 'client_ip', ts: 'clientIp', kind: 'ipv4', offset: 16 },
    { c: 'vip', ts: 'vip', kind: 'ipv4', offset: 20 },
    { c: 'backend_ip', ts: 'backendIp', kind: 'ipv4', offset: 24 },
    { c: 'snat_ip', ts: 'snatIp', kind: 'ipv4', offset: 28 },
    { c: 'client_port', ts: 'clientPort', kind: 'be16', offset: 32 },
    { c: 'vport', ts: 'vport', kind: 'be16', offset: 34 },
    { c: 'backend_port', ts: 'backendPort', kind: 'be16', offset: 36 },
    { c: 'snat_port', ts: 'snatPort', kind: 'be16', offset: 38 },
    { c: 'client_mac', ts: 'clientMac', kind: 'mac', offset: 40 },
    { c: 'proto', ts: 'proto', kind: 'u8', offset: 46 },
    { c: 'service_id', ts: 'serviceId', kind: 'u32', offset: 48 },
    { c: 'backend_id', ts: 'backendId', kind: 'u32', offset: 52 },
    { c: 'state', ts: 'state', kind: 'u32', offset: 56 },
  ],
  [
    { c: 'pad', offset: 47, size: 1 },
    { c: 'pad2', offset: 60, size: 4 },
  ],
);

/** struct lb_snat_pool: lb_snat_pool value (key 0). Ports inclusive, host order. */
export interface LbSnatPool {
  /** The first addr_count entries of addrs[] (at most LB_MAX_SNAT_ADDRS). */
  addrs: string[];
  portMin: number;
  portMax: number;
  reuseAfterNs: bigint;
}
interface LbSnatPoolRaw {
  addrs: string[];
  addrCount: number;
  portMin: number;
  portMax: number;
  reuseAfterNs: bigint;
}
const lbSnatPoolRaw = defineStruct<LbSnatPoolRaw>(
  'lb_snat_pool',
  272,
  [
    { c: 'addrs', ts: 'addrs', kind: 'ipv4', offset: 0, count: LB_MAX_SNAT_ADDRS },
    { c: 'addr_count', ts: 'addrCount', kind: 'u32', offset: 256 },
    { c: 'port_min', ts: 'portMin', kind: 'u16', offset: 260 },
    { c: 'port_max', ts: 'portMax', kind: 'u16', offset: 262 },
    { c: 'reuse_after_ns', ts: 'reuseAfterNs', kind: 'u64', offset: 264 },
  ],
  [],
);
function snatToRaw(v: LbSnatPool): LbSnatPoolRaw {
  if (!Array.isArray(v.addrs) || v.addrs.length > LB_MAX_SNAT_ADDRS) {
    fail('lb_snat_pool', 'addrs', `at most ${LB_MAX_SNAT_ADDRS} addresses, got ${Array.isArray(v.addrs) ? v.addrs.length : 'none'}`);
  }
  const addrs = Array.from({ length: LB_MAX_SNAT_ADDRS }, (_, i) => v.addrs[i] ?? '0.0.0.0');
  return { addrs, addrCount: v.addrs.length, portMin: v.portMin, portMax: v.portMax, reuseAfterNs: v.reuseAfterNs };
}
function decodeSnatPool(buf: Uint8Array, offset = 0): LbSnatPool {
  const raw = lbSnatPoolRaw.decode(buf, offset);
  if (raw.addrCount > LB_MAX_SNAT_ADDRS) {
    throw new CodecError('ERR_CODEC_VALUE', `lb_snat_pool.addr_count: ${raw.addrCount} > ${LB_MAX_SNAT_ADDRS}`);
  }
  return { addrs: raw.addrs.slice(0, raw.addrCount), portMin: raw.portMin, portMax: raw.portMax, reuseAfterNs: raw.reuseAfterNs };
}
export const lbSnatPool: StructCodec<LbSnatPool> = Object.freeze({
  name: lbSnatPoolRaw.name,
  size: lbSnatPoolRaw.size,
  fields: lbSnatPoolRaw.fields,
  fieldSizes: lbSnatPoolRaw.fieldSizes,
  padding: lbSnatPoolRaw.padding,
  encode: (v: LbSnatPool): Buffer => lbSnatPoolRaw.encode(snatToRaw(v)),
  encodeInto: (v: LbSnatPool, buf: Buffer, offset = 0): Buffer => lbSnatPoolRaw.encodeInto(snatToRaw(v), buf, offset),
  decode: decodeSnatPool,
  read: Object.freeze({
    addrs: (buf: Buffer, offset: number) => decodeSnatPool(buf, offset).addrs,
    portMin: lbSnatPoolRaw.read.portMin,
    portMax: lbSnatPoolRaw.read.portMax,
    reuseAfterNs: lbSnatPoolRaw.read.reuseAfterNs,
  }),
});

/** struct lb_traffic: per-CPU counters of a service or a backend. */
export interface LbTraffic {
  packetsIn: bigint;
  bytesIn: bigint;
  packetsOut: bigint;
  bytesOut: bigint;
  newFlows: bigint;
}
export const lbTraffic = defineStruct<LbTraffic>(
  'lb_traffic',
  40,
  [
    { c: 'packets_in', ts: 'packetsIn', kind: 'u64', offset: 0 },
    { c: 'bytes_in', ts: 'bytesIn', kind: 'u64', offset: 8 },
    { c: 'packets_out', ts: 'packetsOut', kind: 'u64', offset: 16 },
    { c: 'bytes_out', ts: 'bytesOut', kind: 'u64', offset: 24 },
    { c: 'new_flows', ts: 'newFlows', kind: 'u64', offset: 32 },
  ],
  [],
);

/** struct lb_service_meta: lb_svc_meta value, by service id (the agent's record). */
export interface LbServiceMeta {
  vip: string;
  port: number;
  proto: number;
  /** enum lb_scheduler */
  scheduler: number;
  tableMapId: number;
  tableDigest: bigint;
  name: string;
}
export const lbServiceMeta = defineStruct<LbServiceMeta>(
  'lb_service_meta',
  88,
  [
    { c: 'vip', ts: 'vip', kind: 'ipv4', offset: 0 },
    { c: 'port', ts: 'port', kind: 'be16', offset: 4 },
    { c: 'proto', ts: 'proto', kind: 'u8', offset: 6 },
    { c: 'scheduler', ts: 'scheduler', kind: 'u8', offset: 7 },
    { c: 'table_map_id', ts: 'tableMapId', kind: 'u32', offset: 8 },
    { c: 'table_digest', ts: 'tableDigest', kind: 'u64', offset: 16 },
    { c: 'name', ts: 'name', kind: 'char', offset: 24, count: LB_SERVICE_NAME_LEN },
  ],
  [{ c: 'pad', offset: 12, size: 4 }],
);

/** struct lb_backend_meta: lb_be_meta value, by backend id (the agent's record). */
export interface LbBackendMeta {
  ip: string;
  port: number;
  weight: number;
  serviceId: number;
  /** enum lb_backend_admin */
  admin: number;
}
export const lbBackendMeta = defineStruct<LbBackendMeta>(
  'lb_backend_meta',
  16,
  [
    { c: 'ip', ts: 'ip', kind: 'ipv4', offset: 0 },
    { c: 'port', ts: 'port', kind: 'be16', offset: 4 },
    { c: 'weight', ts: 'weight', kind: 'u16', offset: 6 },
    { c: 'service_id', ts: 'serviceId', kind: 'u32', offset: 8 },
    { c: 'admin', ts: 'admin', kind: 'u8', offset: 12 },
  ],
  [{ c: 'pad', offset: 13, size: 3 }],
);

/** struct lb_announced: lb_announced value, keyed by an address the agent added. */
export interface LbAnnounced {
  ifindex: number;
}
export const lbAnnounced = defineStruct<LbAnnounced>(
  'lb_announced',
  8,
  [{ c: 'ifindex', ts: 'ifindex', kind: 'u32', offset: 0 }],
  [{ c: 'pad', offset: 4, size: 4 }],
);

/** struct lb_agent_record: lb_agent value (key 0), the restart-only settings. */
export interface LbAgentRecord {
  ifname: string;
  ifindex: number;
  /** enum lb_xdp_mode as configured */
  xdpMode: number;
  /** enum lb_xdp_mode as attached */
  attachedMode: number;
}
export const lbAgentRecord = defineStruct<LbAgentRecord>(
  'lb_agent_record',
  24,
  [
    { c: 'ifname', ts: 'ifname', kind: 'char', offset: 0, count: LB_IFNAME_LEN },
    { c: 'ifindex', ts: 'ifindex', kind: 'u32', offset: 16 },
    { c: 'xdp_mode', ts: 'xdpMode', kind: 'u8', offset: 20 },
    { c: 'attached_mode', ts: 'attachedMode', kind: 'u8', offset: 21 },
  ],
  [{ c: 'pad', offset: 22, size: 2 }],
);

/** struct lb_backend_runtime: lb_be_runtime value, by backend id (the agent's loops' record). */
export interface LbBackendRuntime {
  /** CLOCK_MONOTONIC ns when health or resolution last changed. */
  changedNs: bigint;
  activeConns: number;
  /** enum lb_health */
  health: number;
  /** enum lb_resolution */
  resolution: number;
}
export const lbBackendRuntime = defineStruct<LbBackendRuntime>(
  'lb_backend_runtime',
  16,
  [
    { c: 'changed_ns', ts: 'changedNs', kind: 'u64', offset: 0 },
    { c: 'active_conns', ts: 'activeConns', kind: 'u32', offset: 8 },
    { c: 'health', ts: 'health', kind: 'u8', offset: 12 },
    { c: 'resolution', ts: 'resolution', kind: 'u8', offset: 13 },
  ],
  [{ c: 'pad', offset: 14, size: 2 }],
);

/** struct lb_agent_run: lb_agent_run value (key 0), the running agent's record. Times are CLOCK_MONOTONIC ns. */
export interface LbAgentRun {
  startedNs: bigint;
  /** starttime of /proc/PID/stat (clock ticks since boot). */
  procStartTicks: bigint;
  pid: number;
  /** enum lb_reload_result */
  reloadResult: number;
  reloadNs: bigint;
  appliedNs: bigint;
  configDigest: bigint;
  reloadOperations: number;
  reloadsApplied: number;
  reloadsRejected: number;
  reloadsFailed: number;
  gcPasses: bigint;
  gcNs: bigint;
  gcDurationNs: bigint;
  gcScanned: number;
  gcExpired: number;
  gcRemoved: number;
  gcEntries: number;
}
export const lbAgentRun = defineStruct<LbAgentRun>(
  'lb_agent_run',
  104,
  [
    { c: 'started_ns', ts: 'startedNs', kind: 'u64', offset: 0 },
    { c: 'proc_start_ticks', ts: 'procStartTicks', kind: 'u64', offset: 8 },
    { c: 'pid', ts: 'pid', kind: 'u32', offset: 16 },
    { c: 'reload_result', ts: 'reloadResult', kind: 'u8', offset: 20 },
    { c: 'reload_ns', ts: 'reloadNs', kind: 'u64', offset: 24 },
    { c: 'applied_ns', ts: 'appliedNs', kind: 'u64', offset: 32 },
    { c: 'config_digest', ts: 'configDigest', kind: 'u64', offset: 40 },
    { c: 'reload_operations', ts: 'reloadOperations', kind: 'u32', offset: 48 },
    { c: 'reloads_applied', ts: 'reloadsApplied', kind: 'u32', offset: 52 },
    { c: 'reloads_rejected', ts: 'reloadsRejected', kind: 'u32', offset: 56 },
    { c: 'reloads_failed', ts: 'reloadsFailed', kind: 'u32', offset: 60 },
    { c: 'gc_passes', ts: 'gcPasses', kind: 'u64', offset: 64 },
    { c: 'gc_ns', ts: 'gcNs', kind: 'u64', offset: 72 },
    { c: 'gc_duration_ns', ts: 'gcDurationNs', kind: 'u64', offset: 80 },
    { c: 'gc_scanned', ts: 'gcScanned', kind: 'u32', offset: 88 },
    { c: 'gc_expired', ts: 'gcExpired', kind: 'u32', offset: 92 },
    { c: 'gc_removed', ts: 'gcRemoved', kind: 'u32', offset: 96 },
    { c: 'gc_entries', ts: 'gcEntries', kind: 'u32', offset: 100 },
  ],
  [{ c: 'pad', offset: 21, size: 3 }],
);

/** Every struct codec, for the layout test. */
export const STRUCT_CODECS: readonly StructDescriptor[] = [
  lbServiceKey,
  lbService,
  lbBackend,
  lbNeigh,
  lbFlowKey,
  lbConn,
  lbSnatPool,
  lbTraffic,
  lbServiceMeta,
  lbBackendMeta,
  lbAnnounced,
  lbAgentRecord,
  lbBackendRuntime,
  lbAgentRun,
];

// ------------------------------------------------------------------ small values

/** A __u32 map key or value (array map indexes, scheduler slots), host order. */
export function encodeU32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(checkInt('u32', 'value', v, 0xffffffff));
  return b;
}
export function decodeU32(buf: Uint8Array, offset = 0): number {
  return asBuffer(buf).readUInt32LE(offset);
}
/** A __u64 value, host order. */
export function encodeU64(v: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}
export function decodeU64(buf: Uint8Array, offset = 0): bigint {
  return asBuffer(buf).readBigUInt64LE(offset);
}
/** A __be32 address as a map key (e.g. lb_neigh, lb_addrs), network order. */
export function encodeIpv4Key(ip: string): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ipv4ToUint32(ip));
  return b;
}
export function decodeIpv4Key(buf: Uint8Array, offset = 0): string {
  return uint32ToIpv4(asBuffer(buf).readUInt32BE(offset));
}

// ------------------------------------------------------------------ per-CPU values

/** Distance between CPU slots in a per-CPU map value buffer: roundup(size, 8). */
export function perCpuStride(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}

/** Bytes needed to read one per-CPU value for `cpus` possible CPUs. */
export function perCpuBufferSize(valueSize: number, cpus: number): number {
  return perCpuStride(valueSize) * cpus;
}

/**
 * Decodes one per-CPU map value: `cpus` slots, `roundup(valueSize, 8)` bytes
 * apart. Returns the per-CPU values; with `sum`, folds them into one.
 */
export function decodePerCpu<T>(buf: Uint8Array, valueSize: number, cpus: number, decode: (buf: Uint8Array, offset: number) => T): T[];
export function decodePerCpu<T>(
  buf: Uint8Array,
  valueSize: number,
  cpus: number,
  decode: (buf: Uint8Array, offset: number) => T,
  sum: (a: T, b: T) => T,
): T;
export function decodePerCpu<T>(
  buf: Uint8Array,
  valueSize: number,
  cpus: number,
  decode: (buf: Uint8Array, offset: number) => T,
  sum?: (a: T, b: T) => T,
): T[] | T {
  const stride = perCpuStride(valueSize);
  if (!Number.isInteger(cpus) || cpus < 1) throw new CodecError('ERR_CODEC_VALUE', `cpus must be a positive integer, got ${cpus}`);
  if (buf.length < stride * cpus) {
    throw new CodecError('ERR_CODEC_BUFFER', `per-CPU value: need ${stride * cpus} bytes (${cpus} x ${stride}), have ${buf.length}`);
  }
  const values: T[] = [];
  for (let cpu = 0; cpu < cpus; cpu++) values.push(decode(buf, cpu * stride));
  if (sum === undefined) return values;
  let acc = values[0] as T;
  for (let i = 1; i < values.length; i++) acc = sum(acc, values[i] as T);
  return acc;
}

/** Encodes the same value for every CPU (e.g. zeroes to reset counters). */
export function encodePerCpu<T>(value: T, valueSize: number, cpus: number, encodeInto: (v: T, buf: Buffer, offset: number) => Buffer): Buffer {
  const stride = perCpuStride(valueSize);
  const buf = Buffer.alloc(stride * cpus);
  for (let cpu = 0; cpu < cpus; cpu++) encodeInto(value, buf, cpu * stride);
  return buf;
}

export function addTraffic(a: LbTraffic, b: LbTraffic): LbTraffic {
  return {
    packetsIn: a.packetsIn + b.packetsIn,
    bytesIn: a.bytesIn + b.bytesIn,
    packetsOut: a.packetsOut + b.packetsOut,
    bytesOut: a.bytesOut + b.bytesOut,
    newFlows: a.newFlows + b.newFlows,
  };
}

/** Sum over CPUs of a per-CPU lb_traffic value. */
export function decodePerCpuTrafficSum(buf: Uint8Array, cpus: number): LbTraffic {
  return decodePerCpu(buf, lbTraffic.size, cpus, lbTraffic.decode, addTraffic);
}

/**
 * decodePerCpuTrafficSum in place: the per-CPU lb_traffic value at `offset`
 * of `buf` (a batch read's values), summed without an object per CPU.
 */
export function sumPerCpuTraffic(buf: Buffer, offset: number, cpus: number): LbTraffic {
  const stride = perCpuStride(lbTraffic.size);
  const read = lbTraffic.read;
  let packetsIn = 0n;
  let bytesIn = 0n;
  let packetsOut = 0n;
  let bytesOut = 0n;
  let newFlows = 0n;
  for (let at = offset, cpu = 0; cpu < cpus; cpu++, at += stride) {
    packetsIn += read.packetsIn(buf, at);
    bytesIn += read.bytesIn(buf, at);
    packetsOut += read.packetsOut(buf, at);
    bytesOut += read.bytesOut(buf, at);
    newFlows += read.newFlows(buf, at);
  }
  return { packetsIn, bytesIn, packetsOut, bytesOut, newFlows };
}

/** Sum over CPUs of a per-CPU __u64 value (one lb_counters slot). */
export function decodePerCpuU64Sum(buf: Uint8Array, cpus: number): bigint {
  return decodePerCpu(buf, 8, cpus, decodeU64, (a, b) => a + b);
}
