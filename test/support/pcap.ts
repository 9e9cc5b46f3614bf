/*
 * Reader of the classic libpcap file format (what `tcpdump -w` writes), so
 * tests judge captured packets from their bytes instead of trusting
 * tcpdump's text. Format: a 24-byte global header (magic 0xa1b2c3d4 for
 * microsecond or 0xa1b23c4d for nanosecond stamps, in the writer's byte
 * order; link type at offset 20), then per packet a 16-byte record header
 * (seconds, sub-second stamp, captured length, original length) and the
 * captured bytes.
 */

/** LINKTYPE_ETHERNET: every record starts with an Ethernet header. */
export const LINKTYPE_ETHERNET = 1;

const GLOBAL_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;
const MAGIC_MICROS = 0xa1b2c3d4;
const MAGIC_NANOS = 0xa1b23c4d;

export interface PcapRecord {
  /** Capture time in nanoseconds since the epoch. */
  timeNs: bigint;
  /** The bytes captured (`snaplen` may have cut the packet: compare with originalLength). */
  data: Buffer;
  originalLength: number;
}

export interface PcapFile {
  linkType: number;
  snapLength: number;
  records: PcapRecord[];
}

export class PcapFormatError extends Error {
  readonly code = 'ERR_PCAP_FORMAT';
  constructor(message: string, readonly offset: number) {
    super(`pcap offset ${offset}: ${message}`);
    this.name = 'PcapFormatError';
  }
}

/**
 * Every record of a pcap file. A file cut in the middle of a record (the
 * writer was killed) ends at the last whole record; anything else that does
 * not fit the format throws with its offset.
 */
export function parsePcap(bytes: Buffer): PcapFile {
  if (bytes.length < GLOBAL_HEADER_LEN) throw new PcapFormatError(`file of ${bytes.length} bytes has no global header`, 0);
  let littleEndian: boolean;
  let nanos: boolean;
  if (bytes.readUInt32LE(0) === MAGIC_MICROS || bytes.readUInt32LE(0) === MAGIC_NANOS) {
    littleEndian = true;
    nanos = bytes.readUInt32LE(0) === MAGIC_NANOS;
  } else if (bytes.readUInt32BE(0) === MAGIC_MICROS || bytes.readUInt32BE(0) === MAGIC_NANOS) {
    littleEndian = false;
    nanos = bytes.readUInt32BE(0) === MAGIC_NANOS;
  } else {
    throw new PcapFormatError(`magic 0x${bytes.readUInt32BE(0).toString(16)} is not pcap's`, 0);
  }
  const u32 = (at: number): number => (littleEndian ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at));
  const snapLength = u32(16);
  const linkType = u32(20) & 0x0fffffff; // the high bits may carry FCS information
  const records: PcapRecord[] = [];
  let at = GLOBAL_HEADER_LEN;
  while (at + RECORD_HEADER_LEN <= bytes.length) {
    const seconds = BigInt(u32(at));
    const fraction = BigInt(u32(at + 4));
    const capturedLength = u32(at + 8);
    const originalLength = u32(at + 12);
    if (capturedLength > originalLength) throw new PcapFormatError(`captured length ${capturedLength} > original length ${originalLength}`, at);
    if (capturedLength > Math.max(snapLength, 262_144)) throw new PcapFormatError(`captured length ${capturedLength} exceeds the snap length ${snapLength}`, at);
    const start = at + RECORD_HEADER_LEN;
    if (start + capturedLength > bytes.length) break;
    records.push({
      timeNs: seconds * 1_000_000_000n + (nanos ? fraction : fraction * 1_000n),
      data: bytes.subarray(start, start + capturedLength),
      originalLength,
    });
    at = start + capturedLength;
  }
  return { linkType, snapLength, records };
}
