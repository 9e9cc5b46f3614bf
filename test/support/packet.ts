/**
 * Packet builder and parser for tests (Ethernet / IPv4 / TCP, UDP or ICMP).
 *
 * Every checksum is computed from scratch with ./checksum.ts, never
 * incrementally, so an expected frame is independent of the datapath's
 * RFC 1624 code. Addresses are strings ('198.18.0.10', 'aa:bb:cc:00:00:01').
 */
import { icmpChecksum, ipv4HeaderChecksum, l4Checksum, verifyChecksums } from './checksum.js';

export const ETH_HLEN = 14;
export const ETH_P_IPV4 = 0x0800;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export interface TcpFlags {
  fin: boolean;
  syn: boolean;
  rst: boolean;
  psh: boolean;
  ack: boolean;
  urg: boolean;
}

export type ProtoSpec = 'tcp' | 'udp' | number;

export interface FrameSpec {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  /** 'tcp', 'udp', or an IP protocol number (1 builds an ICMP echo request; others carry `payload` raw). */
  proto: ProtoSpec;
  /** TCP/UDP source port; ICMP echo identifier. Ignored for other protocols. */
  srcPort: number;
  /** TCP/UDP destination port; ICMP echo sequence. Ignored for other protocols. */
  dstPort: number;
  /** TCP only. Flags not given are off (default: no flags at all). */
  tcpFlags?: Partial<TcpFlags>;
  /** TCP sequence number, default 1. */
  seq?: number;
  /** TCP acknowledgment number, default 0. */
  ack?: number;
  /** TCP window, default 65535. */
  window?: number;
  /** TCP options, a multiple of 4 bytes, at most 40. */
  tcpOptions?: Buffer;
  /** L4 payload, or its length (filled with bytes i & 0xff). Default empty. */
  payload?: Buffer | number;
  /** IPv4 options, a multiple of 4 bytes, at most 40 (sets ihl accordingly). */
  ipOptions?: Buffer;
  /** Default 64. */
  ttl?: number;
  /** Default 0. */
  tos?: number;
  /** IPv4 identification, default 0. */
  ipId?: number;
  /** Default true unless `fragment` is given. */
  dontFragment?: boolean;
  /**
   * Makes the packet a fragment: `offset` is in BYTES (a multiple of 8). The
   * L4 header is still laid out after the IP header (and its checksum
   * computed as if unfragmented) so tests can check that the datapath does
   * not trust it.
   */
  fragment?: { moreFragments?: boolean; offset?: number };
  /** UDP only: send a checksum of 0 ("none"). */
  udpChecksumZero?: boolean;
}

export interface ParsedFrame {
  dstMac: string;
  srcMac: string;
  etherType: number;
  version: number;
  /** IPv4 header length in 32-bit words (5 without options). */
  ihl: number;
  tos: number;
  totalLength: number;
  ipId: number;
  dontFragment: boolean;
  fragment: { moreFragments: boolean; offset: number };
  /** True when MF is set or the offset is non-zero. */
  isFragment: boolean;
  ttl: number;
  /** 'tcp' | 'udp' for those, the protocol number otherwise (as in FrameSpec). */
  proto: ProtoSpec;
  protocol: number;
  /** Raw IPv4 header checksum field. */
  ipChecksum: number;
  srcIp: string;
  dstIp: string;
  ipOptions: Buffer;
  /** TCP/UDP ports, ICMP echo id/seq; 0 for other protocols. */
  srcPort: number;
  dstPort: number;
  /** TCP only (all false otherwise). */
  tcpFlags: TcpFlags;
  seq: number;
  ack: number;
  window: number;
  /** TCP data offset in 32-bit words. */
  tcpDataOffset: number;
  tcpOptions: Buffer;
  /** UDP length field (0 for other protocols). */
  udpLength: number;
  /** Raw TCP/UDP/ICMP checksum field (0 for other protocols). */
  l4Checksum: number;
  udpChecksumZero: boolean;
  /** Offset of the L4 header within the frame. */
  l4Offset: number;
  payload: Buffer;
  payloadLength: number;
}

export class PacketParseError extends Error {
  readonly code = 'ERR_PACKET_PARSE';
  constructor(message: string) {
    super(message);
    this.name = 'PacketParseError';
  }
}

// ---------------------------------------------------------------- addresses

/** '198.18.0.10' -> 0xc612000a (a plain unsigned number, host value). */
export function ipv4ToNumber(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new RangeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new RangeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
    n = n * 256 + Number(p);
  }
  return n;
}

/** 0xc612000a -> '198.18.0.10'. */
export function numberToIpv4(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`not a 32-bit address: ${n}`);
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

/** '198.18.0.10' -> <Buffer c6 12 00 0a> (network byte order, as a __be32 is stored). */
export function ipToBe32Buffer(ip: string): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ipv4ToNumber(ip));
  return b;
}

export function macToBuffer(mac: string): Buffer {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) throw new RangeError(`not a MAC address: ${JSON.stringify(mac)}`);
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export function bufferToMac(b: Uint8Array): string {
  if (b.length !== 6) throw new RangeError(`MAC must be 6 bytes, got ${b.length}`);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

function protoNumber(proto: ProtoSpec): number {
  if (proto === 'tcp') return IPPROTO_TCP;
  if (proto === 'udp') return IPPROTO_UDP;
  if (!Number.isInteger(proto) || proto < 0 || proto > 255) throw new RangeError(`bad protocol: ${String(proto)}`);
  return proto;
}

function protoSpec(n: number): ProtoSpec {
  return n === IPPROTO_TCP ? 'tcp' : n === IPPROTO_UDP ? 'udp' : n;
}

function checkUint(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} must be an integer 0..${max}, got ${v}`);
  return v;
}

function checkOptions(name: string, b: Buffer | undefined): Buffer {
  const opts = b ?? Buffer.alloc(0);
  if (opts.length % 4 !== 0 || opts.length > 40) {
    throw new RangeError(`${name} must be a multiple of 4 bytes and at most 40, got ${opts.length}`);
  }
  return opts;
}

function makePayload(p: Buffer | number | undefined): Buffer {
  if (p === undefined) return Buffer.alloc(0);
  if (typeof p === 'number') {
    checkUint('payload length', p, 65535);
    const b = Buffer.alloc(p);
    for (let i = 0; i < p; i++) b[i] = i & 0xff;
    return b;
  }
  return Buffer.from(p);
}

// ---------------------------------------------------------------- building

/** Builds a frame with correct IPv4 and L4 checksums (full recomputation). */
export function buildFrame(spec: FrameSpec): Buffer {
  const protocol = protoNumber(spec.proto);
  const ipOptions = checkOptions('ipOptions', spec.ipOptions);
  const payload = makePayload(spec.payload);

  let l4: Buffer;
  if (protocol === IPPROTO_TCP) {
    const tcpOptions = checkOptions('tcpOptions', spec.tcpOptions);
    const hlen = 20 + tcpOptions.length;
    l4 = Buffer.alloc(hlen + payload.length);
    l4.writeUInt16BE(checkUint('srcPort', spec.srcPort, 0xffff), 0);
    l4.writeUInt16BE(checkUint('dstPort', spec.dstPort, 0xffff), 2);
    l4.writeUInt32BE(checkUint('seq', spec.seq ?? 1, 0xffffffff), 4);
    l4.writeUInt32BE(checkUint('ack', spec.ack ?? 0, 0xffffffff), 8);
    l4[12] = (hlen / 4) << 4;
    const f = spec.tcpFlags ?? {};
    l4[13] =
      (f.fin ? 0x01 : 0) | (f.syn ? 0x02 : 0) | (f.rst ? 0x04 : 0) | (f.psh ? 0x08 : 0) | (f.ack ? 0x10 : 0) | (f.urg ? 0x20 : 0);
    l4.writeUInt16BE(checkUint('window', spec.window ?? 65535, 0xffff), 14);
    // 16: checksum, 18: urgent pointer
    tcpOptions.copy(l4, 20);
    payload.copy(l4, hlen);
  } else if (protocol === IPPROTO_UDP) {
    l4 = Buffer.alloc(8 + payload.length);
    l4.writeUInt16BE(checkUint('srcPort', spec.srcPort, 0xffff), 0);
    l4.writeUInt16BE(checkUint('dstPort', spec.dstPort, 0xffff), 2);
    l4.writeUInt16BE(checkUint('udp length', l4.length, 0xffff), 4);
    payload.copy(l4, 8);
  } else if (protocol === IPPROTO_ICMP) {
    l4 = Buffer.alloc(8 + payload.length);
    l4[0] = 8; // echo request
    l4[1] = 0;
    l4.writeUInt16BE(checkUint('srcPort (ICMP id)', spec.srcPort, 0xffff), 4);
    l4.writeUInt16BE(checkUint('dstPort (ICMP seq)', spec.dstPort, 0xffff), 6);
    payload.copy(l4, 8);
  } else {
    l4 = payload;
  }

  const ihl = 5 + ipOptions.length / 4;
  const ip = Buffer.alloc(ihl * 4);
  ip[0] = 0x40 | ihl;
  ip[1] = checkUint('tos', spec.tos ?? 0, 0xff);
  ip.writeUInt16BE(checkUint('IP total length', ip.length + l4.length, 0xffff), 2);
  ip.writeUInt16BE(checkUint('ipId', spec.ipId ?? 0, 0xffff), 4);
  const fragOffset = spec.fragment?.offset ?? 0;
  if (fragOffset % 8 !== 0) throw new RangeError(`fragment.offset is in bytes and must be a multiple of 8, got ${fragOffset}`);
  checkUint('fragment.offset', fragOffset, 0x1fff * 8);
  const df = spec.dontFragment ?? spec.fragment === undefined;
  ip.writeUInt16BE((df ? 0x4000 : 0) | (spec.fragment?.moreFragments ? 0x2000 : 0) | (fragOffset / 8), 6);
  ip[8] = checkUint('ttl', spec.ttl ?? 64, 0xff);
  ip[9] = protocol;
  ipToBe32Buffer(spec.srcIp).copy(ip, 12);
  ipToBe32Buffer(spec.dstIp).copy(ip, 16);
  ipOptions.copy(ip, 20);

  const eth = Buffer.alloc(ETH_HLEN);
  macToBuffer(spec.dstMac).copy(eth, 0);
  macToBuffer(spec.srcMac).copy(eth, 6);
  eth.writeUInt16BE(ETH_P_IPV4, 12);

  const frame = Buffer.concat([eth, ip, l4]);
  recomputeChecksums(frame, { udpChecksumZero: protocol === IPPROTO_UDP && spec.udpChecksumZero === true });
  return frame;
}

/**
 * Recomputes, in place, the IPv4 header checksum and the TCP/UDP/ICMP
 * checksum of `frame` from scratch. A UDP checksum is left 0 when
 * `udpChecksumZero` is true.
 */
function recomputeChecksums(frame: Buffer, opts: { udpChecksumZero: boolean }): void {
  const ihl = (frame[ETH_HLEN] ?? 0) & 0x0f;
  const ipStart = ETH_HLEN;
  const ipEnd = ipStart + ihl * 4;
  const totalLength = frame.readUInt16BE(ipStart + 2);
  const protocol = frame[ipStart + 9] ?? 0;
  frame.writeUInt16BE(0, ipStart + 10);
  frame.writeUInt16BE(ipv4HeaderChecksum(frame.subarray(ipStart, ipEnd)), ipStart + 10);

  const seg = frame.subarray(ipEnd, ipStart + totalLength);
  const src = frame.subarray(ipStart + 12, ipStart + 16);
  const dst = frame.subarray(ipStart + 16, ipStart + 20);
  if (protocol === IPPROTO_TCP && seg.length >= 20) {
    seg.writeUInt16BE(0, 16);
    seg.writeUInt16BE(l4Checksum(src, dst, protocol, seg), 16);
  } else if (protocol === IPPROTO_UDP && seg.length >= 8) {
    seg.writeUInt16BE(0, 6);
    if (!opts.udpChecksumZero) seg.writeUInt16BE(l4Checksum(src, dst, protocol, seg), 6);
  } else if (protocol === IPPROTO_ICMP && seg.length >= 4) {
    seg.writeUInt16BE(0, 2);
    seg.writeUInt16BE(icmpChecksum(seg), 2);
  }
}

// ---------------------------------------------------------------- parsing

const NO_FLAGS: TcpFlags = { fin: false, syn: false, rst: false, psh: false, ack: false, urg: false };

/** Parses an Ethernet/IPv4 frame. Throws PacketParseError on anything else or on truncation. */
export function parseFrame(buf: Buffer): ParsedFrame {
  if (buf.length < ETH_HLEN) throw new PacketParseError(`frame too short for Ethernet: ${buf.length} bytes`);
  const etherType = buf.readUInt16BE(12);
  if (etherType !== ETH_P_IPV4) {
    throw new PacketParseError(`not IPv4: ethertype 0x${etherType.toString(16).padStart(4, '0')}`);
  }
  const ip = ETH_HLEN;
  if (buf.length < ip + 20) throw new PacketParseError(`frame too short for IPv4: ${buf.length} bytes`);
  const version = (buf[ip] ?? 0) >>> 4;
  const ihl = (buf[ip] ?? 0) & 0x0f;
  if (version !== 4) throw new PacketParseError(`IP version ${version}`);
  if (ihl < 5) throw new PacketParseError(`IPv4 ihl ${ihl} < 5`);
  if (buf.length < ip + ihl * 4) throw new PacketParseError(`frame too short for ihl ${ihl}`);
  const totalLength = buf.readUInt16BE(ip + 2);
  if (totalLength < ihl * 4 || buf.length < ip + totalLength) {
    throw new PacketParseError(`IPv4 total length ${totalLength} inconsistent with ihl ${ihl} / frame ${buf.length} bytes`);
  }
  const fragWord = buf.readUInt16BE(ip + 6);
  const fragment = { moreFragments: (fragWord & 0x2000) !== 0, offset: (fragWord & 0x1fff) * 8 };
  const protocol = buf[ip + 9] ?? 0;
  const l4Offset = ip + ihl * 4;
  const end = ip + totalLength; // bytes beyond are Ethernet padding
  const seg = buf.subarray(l4Offset, end);

  const out: ParsedFrame = {
    dstMac: bufferToMac(buf.subarray(0, 6)),
    srcMac: bufferToMac(buf.subarray(6, 12)),
    etherType,
    version,
    ihl,
    tos: buf[ip + 1] ?? 0,
    totalLength,
    ipId: buf.readUInt16BE(ip + 4),
    dontFragment: (fragWord & 0x4000) !== 0,
    fragment,
    isFragment: fragment.moreFragments || fragment.offset !== 0,
    ttl: buf[ip + 8] ?? 0,
    proto: protoSpec(protocol),
    protocol,
    ipChecksum: buf.readUInt16BE(ip + 10),
    srcIp: numberToIpv4(buf.readUInt32BE(ip + 12)),
    dstIp: numberToIpv4(buf.readUInt32BE(ip + 16)),
    ipOptions: Buffer.from(buf.subarray(ip + 20, l4Offset)),
    srcPort: 0,
    dstPort: 0,
    tcpFlags: { ...NO_FLAGS },
    seq: 0,
    ack: 0,
    window: 0,
    tcpDataOffset: 0,
    tcpOptions: Buffer.alloc(0),
    udpLength: 0,
    l4Checksum: 0,
    udpChecksumZero: false,
    l4Offset,
    payload: Buffer.from(seg),
    payloadLength: seg.length,
  };

  if (protocol === IPPROTO_TCP) {
    if (seg.length < 20) throw new PacketParseError(`TCP segment too short: ${seg.length} bytes`);
    const doff = (seg[12] ?? 0) >>> 4;
    if (doff < 5 || doff * 4 > seg.length) throw new PacketParseError(`TCP data offset ${doff} invalid for ${seg.length} bytes`);
    const fl = seg[13] ?? 0;
    out.srcPort = seg.readUInt16BE(0);
    out.dstPort = seg.readUInt16BE(2);
    out.seq = seg.readUInt32BE(4);
    out.ack = seg.readUInt32BE(8);
    out.tcpDataOffset = doff;
    out.tcpFlags = {
      fin: (fl & 0x01) !== 0,
      syn: (fl & 0x02) !== 0,
      rst: (fl & 0x04) !== 0,
      psh: (fl & 0x08) !== 0,
      ack: (fl & 0x10) !== 0,
      urg: (fl & 0x20) !== 0,
    };
    out.window = seg.readUInt16BE(14);
    out.l4Checksum = seg.readUInt16BE(16);
    out.tcpOptions = Buffer.from(seg.subarray(20, doff * 4));
    out.payload = Buffer.from(seg.subarray(doff * 4));
  } else if (protocol === IPPROTO_UDP) {
    if (seg.length < 8) throw new PacketParseError(`UDP datagram too short: ${seg.length} bytes`);
    out.srcPort = seg.readUInt16BE(0);
    out.dstPort = seg.readUInt16BE(2);
    out.udpLength = seg.readUInt16BE(4);
    out.l4Checksum = seg.readUInt16BE(6);
    out.udpChecksumZero = out.l4Checksum === 0;
    out.payload = Buffer.from(seg.subarray(8));
  } else if (protocol === IPPROTO_ICMP && seg.length >= 8) {
    out.l4Checksum = seg.readUInt16BE(2);
    out.srcPort = seg.readUInt16BE(4);
    out.dstPort = seg.readUInt16BE(6);
    out.payload = Buffer.from(seg.subarray(8));
  }
  out.payloadLength = out.payload.length;
  return out;
}

// ---------------------------------------------------------------- rewriting

export interface Rewrite {
  srcMac?: string;
  dstMac?: string;
  srcIp?: string;
  dstIp?: string;
  srcPort?: number;
  dstPort?: number;
  ttl?: number;
}

/**
 * A NEW frame equal to `frame` with the given fields replaced and every
 * checksum recomputed from scratch (not incrementally). A UDP checksum of 0
 * stays 0. Everything else (IP options, TCP options, payload, flags, padding
 * after the IP packet) is kept byte for byte.
 */
export function withRewrite(frame: Buffer, rw: Rewrite): Buffer {
  const p = parseFrame(frame); // validates the layout before touching anything
  const out = Buffer.from(frame);
  const ip = ETH_HLEN;
  if (rw.dstMac !== undefined) macToBuffer(rw.dstMac).copy(out, 0);
  if (rw.srcMac !== undefined) macToBuffer(rw.srcMac).copy(out, 6);
  if (rw.ttl !== undefined) out[ip + 8] = checkUint('ttl', rw.ttl, 0xff);
  if (rw.srcIp !== undefined) ipToBe32Buffer(rw.srcIp).copy(out, ip + 12);
  if (rw.dstIp !== undefined) ipToBe32Buffer(rw.dstIp).copy(out, ip + 16);
  if (rw.srcPort !== undefined || rw.dstPort !== undefined) {
    if (p.protocol !== IPPROTO_TCP && p.protocol !== IPPROTO_UDP) {
      throw new RangeError(`cannot rewrite ports of protocol ${p.protocol}`);
    }
    if (rw.srcPort !== undefined) out.writeUInt16BE(checkUint('srcPort', rw.srcPort, 0xffff), p.l4Offset);
    if (rw.dstPort !== undefined) out.writeUInt16BE(checkUint('dstPort', rw.dstPort, 0xffff), p.l4Offset + 2);
  }
  recomputeChecksums(out, { udpChecksumZero: p.protocol === IPPROTO_UDP && p.udpChecksumZero });
  return out;
}

// ---------------------------------------------------------------- describing

function flagString(f: TcpFlags): string {
  const s = (f.syn ? 'S' : '') + (f.fin ? 'F' : '') + (f.rst ? 'R' : '') + (f.psh ? 'P' : '') + (f.urg ? 'U' : '') + (f.ack ? '.' : '');
  return s === '' ? 'none' : s;
}

const hex4 = (n: number): string => '0x' + n.toString(16).padStart(4, '0');

/**
 * One line describing a frame, for failure messages, e.g.
 * `aa:bb:cc:00:00:01 > aa:bb:cc:00:00:02 198.18.0.1:40000 > 198.18.0.10:80 tcp [S] seq=1 ack=0 ttl=64 ihl=5 len=0 csum ip=0x1234 ok l4=0xbeef ok (74 bytes)`.
 * Never throws.
 */
export function describeFrame(buf: Buffer | null | undefined): string {
  if (buf === null || buf === undefined) return '(no frame)';
  let p: ParsedFrame;
  try {
    p = parseFrame(buf);
  } catch (e) {
    const head = buf.subarray(0, 34).toString('hex');
    return `(unparsed: ${(e as Error).message}; ${buf.length} bytes: ${head}${buf.length > 34 ? '...' : ''})`;
  }
  const v = verifyChecksums(buf);
  const macs = `${p.srcMac} > ${p.dstMac}`;
  const frag = p.isFragment ? ` frag(off=${p.fragment.offset}${p.fragment.moreFragments ? ',MF' : ''})` : '';
  const ipcs = `ip=${hex4(p.ipChecksum)} ${v.ipOk ? 'ok' : 'BAD'}`;
  const l4cs = !v.l4Checked ? '' : ` l4=${hex4(p.l4Checksum)} ${v.l4Ok ? 'ok' : 'BAD'}`;
  let l4: string;
  if (p.protocol === IPPROTO_TCP) {
    l4 = `${p.srcIp}:${p.srcPort} > ${p.dstIp}:${p.dstPort} tcp [${flagString(p.tcpFlags)}] seq=${p.seq} ack=${p.ack}`;
  } else if (p.protocol === IPPROTO_UDP) {
    l4 = `${p.srcIp}:${p.srcPort} > ${p.dstIp}:${p.dstPort} udp${p.udpChecksumZero ? ' csum=0(none)' : ''}`;
  } else if (p.protocol === IPPROTO_ICMP) {
    l4 = `${p.srcIp} > ${p.dstIp} icmp id=${p.srcPort} seq=${p.dstPort}`;
  } else {
    l4 = `${p.srcIp} > ${p.dstIp} proto=${p.protocol}`;
  }
  return `${macs} ${l4} ttl=${p.ttl} ihl=${p.ihl}${frag} len=${p.payloadLength} csum ${ipcs}${l4cs} (${buf.length} bytes)`;
}

/**
 * Field-by-field differences between two frames (empty when equal), e.g.
 * ['dstIp: expected 198.18.0.2, got 198.18.0.3', 'l4Checksum: ...']. Falls
 * back to the first differing byte when a frame does not parse.
 */
export function diffFrames(expected: Buffer, actual: Buffer): string[] {
  if (expected.equals(actual)) return [];
  let a: ParsedFrame;
  let b: ParsedFrame;
  try {
    a = parseFrame(expected);
    b = parseFrame(actual);
  } catch {
    let i = 0;
    while (i < expected.length && i < actual.length && expected[i] === actual[i]) i++;
    return [`bytes differ from offset ${i} (lengths ${expected.length} / ${actual.length})`];
  }
  const out: string[] = [];
  const keys = Object.keys(a) as (keyof ParsedFrame)[];
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    const sx = Buffer.isBuffer(x) ? x.toString('hex') : JSON.stringify(x);
    const sy = Buffer.isBuffer(y) ? y.toString('hex') : JSON.stringify(y);
    if (sx !== sy) out.push(`${k}: expected ${sx}, got ${sy}`);
  }
  if (out.length === 0) out.push(`frames differ outside parsed fields (lengths ${expected.length} / ${actual.length})`);
  return out;
}
