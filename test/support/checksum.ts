/**
 * Independent, from-scratch checksum computation for tests.
 *
 * The datapath updates checksums incrementally (RFC 1624). To catch mistakes
 * there, tests recompute every checksum here the slow, obvious way: the
 * RFC 1071 one's complement sum of 16-bit big-endian words, byte by byte,
 * over the whole header or segment. Nothing in this file is incremental and
 * nothing here is shared with the datapath or with src/.
 */

const ETH_HLEN = 14;
const ETH_P_IPV4 = 0x0800;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** Where the checksum field sits inside the L4 header. */
const TCP_CSUM_OFF = 16;
const UDP_CSUM_OFF = 6;

/**
 * RFC 1071 one's complement sum of `bytes` as big-endian 16-bit words (an odd
 * trailing byte is padded with a zero byte), with `skip` (absolute indexes
 * into `bytes`) read as zero. Returns the folded 16-bit sum, not its
 * complement.
 */
function onesComplementSum(bytes: Uint8Array, skip: ReadonlySet<number> = new Set()): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    const hi = skip.has(i) ? 0 : (bytes[i] ?? 0);
    const lo = i + 1 < bytes.length && !skip.has(i + 1) ? (bytes[i + 1] ?? 0) : 0;
    sum += (hi << 8) | lo;
    // Fold as we go so the sum stays small whatever the length.
    if (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Adds two folded one's complement sums. */
function addOnes(a: number, b: number): number {
  let sum = a + b;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function ipv4Bytes(ip: string | Uint8Array): Uint8Array {
  if (typeof ip !== 'string') {
    if (ip.length !== 4) throw new RangeError(`IPv4 address buffer must be 4 bytes, got ${ip.length}`);
    return ip;
  }
  const parts = ip.split('.');
  if (parts.length !== 4) throw new RangeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
  const out = new Uint8Array(4);
  parts.forEach((p, i) => {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new RangeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
    out[i] = Number(p);
  });
  return out;
}

/**
 * The checksum an IPv4 header should carry: the complement of the one's
 * complement sum of the whole header (`ipHeader` is exactly ihl * 4 bytes),
 * with the checksum field (bytes 10-11) taken as zero whatever it holds.
 */
export function ipv4HeaderChecksum(ipHeader: Uint8Array): number {
  if (ipHeader.length < 20 || ipHeader.length % 4 !== 0) {
    throw new RangeError(`IPv4 header must be 20..60 bytes and a multiple of 4, got ${ipHeader.length}`);
  }
  return ~onesComplementSum(ipHeader, new Set([10, 11])) & 0xffff;
}

/**
 * The checksum a TCP or UDP segment (header + payload, `l4Segment`) should
 * carry: the complement of the one's complement sum of the pseudo-header
 * (source address, destination address, zero, protocol, segment length — all
 * in network byte order) and the segment, with the segment's own checksum
 * field taken as zero. For UDP a computed 0 is sent as 0xffff (RFC 768: 0
 * means "no checksum"). For other protocols the segment is summed as it is.
 */
export function l4Checksum(
  srcIp: string | Uint8Array,
  dstIp: string | Uint8Array,
  proto: number,
  l4Segment: Uint8Array,
): number {
  if (l4Segment.length > 0xffff) throw new RangeError(`L4 segment too long: ${l4Segment.length}`);
  const len = l4Segment.length;
  const pseudo = new Uint8Array(12);
  pseudo.set(ipv4Bytes(srcIp), 0);
  pseudo.set(ipv4Bytes(dstIp), 4);
  pseudo[8] = 0;
  pseudo[9] = proto & 0xff;
  pseudo[10] = (len >>> 8) & 0xff; // network byte order
  pseudo[11] = len & 0xff;

  const skip = new Set<number>();
  if (proto === IPPROTO_TCP) {
    skip.add(TCP_CSUM_OFF);
    skip.add(TCP_CSUM_OFF + 1);
  } else if (proto === IPPROTO_UDP) {
    skip.add(UDP_CSUM_OFF);
    skip.add(UDP_CSUM_OFF + 1);
  }
  const sum = addOnes(onesComplementSum(pseudo), onesComplementSum(l4Segment, skip));
  const csum = ~sum & 0xffff;
  if (proto === IPPROTO_UDP && csum === 0) return 0xffff;
  return csum;
}

/** The ICMP checksum: complement of the sum over the message, field (bytes 2-3) as zero. */
export function icmpChecksum(message: Uint8Array): number {
  return ~onesComplementSum(message, new Set([2, 3])) & 0xffff;
}

export interface ChecksumReport {
  /** IPv4 header checksum matches a full recomputation. */
  ipOk: boolean;
  /**
   * TCP/UDP checksum matches a full recomputation (a UDP checksum of 0 is
   * valid: "none"). True without checking when `l4Checked` is false
   * (fragments, protocols other than TCP/UDP/ICMP): see `details`.
   */
  l4Ok: boolean;
  l4Checked: boolean;
  ipStored?: number;
  ipComputed?: number;
  l4Stored?: number;
  l4Computed?: number;
  /** One line for failure messages, e.g. "ip 0xb861=0xb861 ok; tcp 0x1c46!=0x1c47 BAD". */
  details: string;
}

const hex = (n: number): string => '0x' + n.toString(16).padStart(4, '0');

/**
 * Two encodings of zero exist in one's complement. A stored 0xffff where
 * the recomputation gives 0x0000 (or the reverse, for TCP) passes a
 * receiver's check, so it is accepted here too, with a note.
 */
function sameOnes(stored: number, computed: number): boolean {
  return stored === computed || (stored === 0xffff && computed === 0) || (stored === 0 && computed === 0xffff);
}

/**
 * Parses Ethernet (with up to two VLAN tags) / IPv4 (honouring ihl, so IP
 * options are covered) / TCP, UDP or ICMP and checks every checksum against
 * a full recomputation. Never throws on malformed input: it reports.
 */
export function verifyChecksums(frame: Uint8Array): ChecksumReport {
  const bad = (details: string): ChecksumReport => ({ ipOk: false, l4Ok: false, l4Checked: false, details });
  let off = ETH_HLEN;
  if (frame.length < ETH_HLEN) return bad(`frame too short for Ethernet: ${frame.length} bytes`);
  let etherType = ((frame[12] ?? 0) << 8) | (frame[13] ?? 0);
  for (let tags = 0; tags < 2 && (etherType === ETH_P_8021Q || etherType === ETH_P_8021AD); tags++) {
    if (frame.length < off + 4) return bad('frame too short for VLAN tag');
    etherType = ((frame[off + 2] ?? 0) << 8) | (frame[off + 3] ?? 0);
    off += 4;
  }
  if (etherType !== ETH_P_IPV4) return bad(`not IPv4: ethertype 0x${etherType.toString(16).padStart(4, '0')}`);
  if (frame.length < off + 20) return bad('frame too short for an IPv4 header');

  const versionIhl = frame[off] ?? 0;
  const version = versionIhl >>> 4;
  const ihl = versionIhl & 0x0f;
  if (version !== 4) return bad(`IP version ${version}, not 4`);
  if (ihl < 5) return bad(`IPv4 ihl ${ihl} < 5`);
  const ipHdrLen = ihl * 4;
  if (frame.length < off + ipHdrLen) return bad(`frame too short for ihl ${ihl} (${ipHdrLen} bytes)`);
  const ipHeader = frame.subarray(off, off + ipHdrLen);
  const ipStored = ((ipHeader[10] ?? 0) << 8) | (ipHeader[11] ?? 0);
  const ipComputed = ipv4HeaderChecksum(ipHeader);
  const ipOk = sameOnes(ipStored, ipComputed);
  const parts: string[] = [`ip ${hex(ipStored)}${ipOk ? '=' : '!='}${hex(ipComputed)} ${ipOk ? 'ok' : 'BAD'}`];
  if (ipOk && ipStored !== ipComputed) parts.push('(ip checksum uses the other zero)');

  const totalLength = ((ipHeader[2] ?? 0) << 8) | (ipHeader[3] ?? 0);
  const fragWord = ((ipHeader[6] ?? 0) << 8) | (ipHeader[7] ?? 0);
  const moreFragments = (fragWord & 0x2000) !== 0;
  const fragOffset = (fragWord & 0x1fff) * 8;
  const proto = ipHeader[9] ?? 0;
  const srcIp = ipHeader.subarray(12, 16);
  const dstIp = ipHeader.subarray(16, 20);
  const base = { ipOk, ipStored, ipComputed };

  if (totalLength < ipHdrLen) {
    parts.push(`total length ${totalLength} < header ${ipHdrLen}: L4 BAD`);
    return { ...base, l4Ok: false, l4Checked: false, details: parts.join('; ') };
  }
  if (frame.length < off + totalLength) {
    parts.push(`frame truncated: IP total length ${totalLength}, ${frame.length - off} bytes present: L4 BAD`);
    return { ...base, l4Ok: false, l4Checked: false, details: parts.join('; ') };
  }
  if (moreFragments || fragOffset !== 0) {
    parts.push(`fragment (offset ${fragOffset}${moreFragments ? ', MF' : ''}): L4 not checked`);
    return { ...base, l4Ok: true, l4Checked: false, details: parts.join('; ') };
  }
  // Bytes past the IP total length are Ethernet padding, not part of the segment.
  const segment = frame.subarray(off + ipHdrLen, off + totalLength);

  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
    const name = proto === IPPROTO_TCP ? 'tcp' : 'udp';
    const minLen = proto === IPPROTO_TCP ? 20 : 8;
    if (segment.length < minLen) {
      parts.push(`${name} segment too short (${segment.length} bytes): BAD`);
      return { ...base, l4Ok: false, l4Checked: false, details: parts.join('; ') };
    }
    if (proto === IPPROTO_UDP) {
      const udpLen = ((segment[4] ?? 0) << 8) | (segment[5] ?? 0);
      if (udpLen !== segment.length) {
        parts.push(`udp length ${udpLen} != IP payload ${segment.length}: BAD`);
        return { ...base, l4Ok: false, l4Checked: false, details: parts.join('; ') };
      }
    }
    const csOff = proto === IPPROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF;
    const l4Stored = ((segment[csOff] ?? 0) << 8) | (segment[csOff + 1] ?? 0);
    const l4Computed = l4Checksum(srcIp, dstIp, proto, segment);
    let l4Ok: boolean;
    if (proto === IPPROTO_UDP && l4Stored === 0) {
      l4Ok = true;
      parts.push('udp checksum 0 (none) ok');
    } else if (proto === IPPROTO_UDP) {
      l4Ok = l4Stored === l4Computed;
      parts.push(`udp ${hex(l4Stored)}${l4Ok ? '=' : '!='}${hex(l4Computed)} ${l4Ok ? 'ok' : 'BAD'}`);
    } else {
      l4Ok = sameOnes(l4Stored, l4Computed);
      parts.push(`tcp ${hex(l4Stored)}${l4Ok ? '=' : '!='}${hex(l4Computed)} ${l4Ok ? 'ok' : 'BAD'}`);
      if (l4Ok && l4Stored !== l4Computed) parts.push('(tcp checksum uses the other zero)');
    }
    return { ...base, l4Ok, l4Checked: true, l4Stored, l4Computed, details: parts.join('; ') };
  }
  if (proto === 1) {
    if (segment.length < 4) {
      parts.push(`icmp message too short (${segment.length} bytes): BAD`);
      return { ...base, l4Ok: false, l4Checked: false, details: parts.join('; ') };
    }
    const l4Stored = ((segment[2] ?? 0) << 8) | (segment[3] ?? 0);
    const l4Computed = icmpChecksum(segment);
    const l4Ok = sameOnes(l4Stored, l4Computed);
    parts.push(`icmp ${hex(l4Stored)}${l4Ok ? '=' : '!='}${hex(l4Computed)} ${l4Ok ? 'ok' : 'BAD'}`);
    return { ...base, l4Ok, l4Checked: true, l4Stored, l4Computed, details: parts.join('; ') };
  }
  parts.push(`protocol ${proto}: L4 not checked`);
  return { ...base, l4Ok: true, l4Checked: false, details: parts.join('; ') };
}
