/*
 * The readers the capture-based end-to-end tests and bench:rate judge
 * packets with: the pcap file format (test/support/pcap.ts) and the SYN
 * outcome counts (test/support/syn-outcomes.ts), on files and frames built
 * here byte by byte.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildFrame, type TcpFlags } from '../support/packet.js';
import { LINKTYPE_ETHERNET, PcapFormatError, parsePcap, type PcapRecord } from '../support/pcap.js';
import { synOutcomes } from '../support/syn-outcomes.js';

/** A pcap file as tcpdump writes it: global header, then one record per frame. */
function pcapFile(frames: readonly Buffer[], opts: { bigEndian?: boolean; nanos?: boolean } = {}): Buffer {
  const u32 = (value: number): Buffer => {
    const b = Buffer.alloc(4);
    if (opts.bigEndian) b.writeUInt32BE(value);
    else b.writeUInt32LE(value);
    return b;
  };
  const u16 = (value: number): Buffer => {
    const b = Buffer.alloc(2);
    if (opts.bigEndian) b.writeUInt16BE(value);
    else b.writeUInt16LE(value);
    return b;
  };
  const parts = [u32(opts.nanos ? 0xa1b23c4d : 0xa1b2c3d4), u16(2), u16(4), u32(0), u32(0), u32(262_144), u32(LINKTYPE_ETHERNET)];
  frames.forEach((frame, i) => parts.push(u32(1_700_000_000 + i), u32(250), u32(frame.length), u32(frame.length), frame));
  return Buffer.concat(parts);
}

const SNAT = '198.18.0.5';
const RS = '198.18.0.2';

function tcp(fromSnat: boolean, port: number, flags: Partial<TcpFlags>, seq = 1): Buffer {
  const [srcIp, dstIp, srcPort, dstPort] = fromSnat ? [SNAT, RS, port, 80] : [RS, SNAT, 80, port];
  return buildFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcIp, dstIp, proto: 'tcp', srcPort, dstPort, tcpFlags: flags, seq });
}

const records = (frames: Buffer[]): PcapRecord[] => parsePcap(pcapFile(frames)).records;

describe('pcap files', () => {
  const frames = [tcp(true, 10000, { syn: true }), tcp(false, 10000, { syn: true, ack: true })];

  for (const opts of [{}, { bigEndian: true }, { nanos: true }, { bigEndian: true, nanos: true }]) {
    it(`reads every record with its bytes and time (${JSON.stringify(opts)})`, () => {
      const file = parsePcap(pcapFile(frames, opts));
      assert.equal(file.linkType, LINKTYPE_ETHERNET);
      assert.equal(file.records.length, 2);
      assert.deepEqual(file.records[1]!.data, frames[1]);
      assert.equal(file.records[1]!.originalLength, frames[1]!.length);
      assert.equal(file.records[0]!.timeNs, 1_700_000_000n * 1_000_000_000n + (opts.nanos ? 250n : 250_000n));
    });
  }

  it('ends at the last whole record of a file cut short', () => {
    const whole = pcapFile(frames);
    assert.equal(parsePcap(whole.subarray(0, whole.length - 5)).records.length, 1);
  });

  it('rejects a file that is not pcap, and a record longer than it was on the wire, with the offset', () => {
    assert.throws(() => parsePcap(Buffer.alloc(24, 7)), (err: unknown) => err instanceof PcapFormatError && err.offset === 0);
    assert.throws(() => parsePcap(Buffer.alloc(10)), PcapFormatError);
    const bad = pcapFile(frames);
    bad.writeUInt32LE(1, 24 + 12); // original length 1 < captured length
    assert.throws(() => parsePcap(bad), (err: unknown) => err instanceof PcapFormatError && err.offset === 24);
  });
});

describe('SYN outcomes at a server', () => {
  it('counts a fresh handshake, a SYN refused from TIME_WAIT with the reset and the resent SYN, and a reuse accepted at once', () => {
    const out = synOutcomes(
      records([
        tcp(true, 10000, { syn: true }, 100),
        tcp(false, 10000, { syn: true, ack: true }),
        tcp(true, 10000, { ack: true }, 101),
        // The tuple again: refused (the old connection's ACK), reset, the same SYN resent and accepted.
        tcp(true, 10000, { syn: true }, 500),
        tcp(false, 10000, { ack: true }),
        tcp(true, 10000, { rst: true }, 101),
        tcp(true, 10000, { syn: true }, 500),
        tcp(false, 10000, { syn: true, ack: true }),
        // Another tuple, used twice, accepted both times.
        tcp(true, 10001, { syn: true }, 7),
        tcp(false, 10001, { syn: true, ack: true }),
        tcp(true, 10001, { syn: true }, 9),
        tcp(false, 10001, { syn: true, ack: true }),
      ]),
      SNAT,
    );
    assert.deepEqual(out, { syns: 4, reusedTuples: 2, refusedByTimeWait: 1, resets: 1, retransmittedSyns: 1 });
  });
});
