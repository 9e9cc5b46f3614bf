import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { verifyChecksums } from '../support/checksum.js';
import {
  buildFrame,
  describeFrame,
  diffFrames,
  ipToBe32Buffer,
  ipv4ToNumber,
  numberToIpv4,
  parseFrame,
  withRewrite,
  type FrameSpec,
} from '../support/packet.js';

const CLIENT_MAC = 'aa:bb:cc:00:00:01';
const LB_MAC = 'aa:bb:cc:00:00:05';
const RS_MAC = 'aa:bb:cc:00:00:02';

const base: FrameSpec = {
  srcMac: CLIENT_MAC,
  dstMac: LB_MAC,
  srcIp: '198.18.0.1',
  dstIp: '198.18.0.10',
  proto: 'tcp',
  srcPort: 40000,
  dstPort: 80,
};

function assertChecksumsOk(frame: Buffer): void {
  const r = verifyChecksums(frame);
  assert.ok(r.ipOk && r.l4Ok, `${r.details} in ${describeFrame(frame)}`);
}

describe('address helpers', () => {
  it('converts IPv4 strings both ways', () => {
    assert.equal(ipv4ToNumber('198.18.0.10'), 0xc612000a);
    assert.equal(numberToIpv4(0xc612000a), '198.18.0.10');
    assert.equal(ipv4ToNumber('255.255.255.255'), 0xffffffff);
    assert.deepEqual([...ipToBe32Buffer('198.18.0.10')], [0xc6, 0x12, 0x00, 0x0a]);
    assert.throws(() => ipv4ToNumber('198.18.0.256'), RangeError);
    assert.throws(() => ipv4ToNumber('198.18.0'), RangeError);
  });
});

describe('buildFrame / parseFrame', () => {
  it('round-trips a TCP SYN', () => {
    const f = buildFrame({ ...base, tcpFlags: { syn: true }, seq: 77, ipId: 0x1234, ttl: 61, payload: 5 });
    assertChecksumsOk(f);
    const p = parseFrame(f);
    assert.equal(p.srcMac, CLIENT_MAC);
    assert.equal(p.dstMac, LB_MAC);
    assert.equal(p.srcIp, '198.18.0.1');
    assert.equal(p.dstIp, '198.18.0.10');
    assert.equal(p.proto, 'tcp');
    assert.equal(p.protocol, 6);
    assert.equal(p.srcPort, 40000);
    assert.equal(p.dstPort, 80);
    assert.deepEqual(p.tcpFlags, { fin: false, syn: true, rst: false, psh: false, ack: false, urg: false });
    assert.equal(p.seq, 77);
    assert.equal(p.ack, 0);
    assert.equal(p.ttl, 61);
    assert.equal(p.ihl, 5);
    assert.equal(p.ipId, 0x1234);
    assert.equal(p.dontFragment, true);
    assert.equal(p.isFragment, false);
    assert.equal(p.payloadLength, 5);
    assert.deepEqual([...p.payload], [0, 1, 2, 3, 4]);
    assert.equal(p.totalLength, 20 + 20 + 5);
    assert.equal(f.length, 14 + 20 + 20 + 5);
    assert.equal(p.l4Checksum, f.readUInt16BE(14 + 20 + 16));
    assert.equal(p.ipChecksum, f.readUInt16BE(14 + 10));
  });

  it('round-trips every TCP flag', () => {
    const flags = { fin: true, syn: false, rst: true, psh: true, ack: true, urg: false };
    const p = parseFrame(buildFrame({ ...base, tcpFlags: flags, ack: 99 }));
    assert.deepEqual(p.tcpFlags, flags);
    assert.equal(p.ack, 99);
  });

  it('round-trips UDP with a buffer payload', () => {
    const payload = Buffer.from('abcdefg');
    const f = buildFrame({ ...base, proto: 'udp', srcPort: 5353, dstPort: 53, payload });
    assertChecksumsOk(f);
    const p = parseFrame(f);
    assert.equal(p.proto, 'udp');
    assert.equal(p.udpLength, 8 + payload.length);
    assert.deepEqual(p.payload, payload);
    assert.equal(p.udpChecksumZero, false);
    assert.notEqual(p.l4Checksum, 0);
  });

  it('builds a UDP datagram without checksum on request', () => {
    const f = buildFrame({ ...base, proto: 'udp', udpChecksumZero: true, payload: 3 });
    const p = parseFrame(f);
    assert.equal(p.l4Checksum, 0);
    assert.equal(p.udpChecksumZero, true);
    assertChecksumsOk(f);
  });

  it('honours IP options (ihl > 5) and TCP options', () => {
    const ipOptions = Buffer.from([0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00]); // router alert, NOPs, EOL
    const tcpOptions = Buffer.from([0x02, 0x04, 0x05, 0xb4]); // MSS 1460
    const f = buildFrame({ ...base, ipOptions, tcpOptions, tcpFlags: { syn: true }, payload: 3 });
    assertChecksumsOk(f);
    const p = parseFrame(f);
    assert.equal(p.ihl, 7);
    assert.deepEqual(p.ipOptions, ipOptions);
    assert.equal(p.l4Offset, 14 + 28);
    assert.equal(p.tcpDataOffset, 6);
    assert.deepEqual(p.tcpOptions, tcpOptions);
    assert.equal(p.srcPort, 40000);
    assert.equal(p.payloadLength, 3);
  });

  it('rejects options that are not a multiple of 4 bytes', () => {
    assert.throws(() => buildFrame({ ...base, ipOptions: Buffer.alloc(3) }), RangeError);
    assert.throws(() => buildFrame({ ...base, ipOptions: Buffer.alloc(44) }), RangeError);
  });

  it('builds fragments (offset in bytes)', () => {
    const first = parseFrame(buildFrame({ ...base, fragment: { moreFragments: true } }));
    assert.deepEqual(first.fragment, { moreFragments: true, offset: 0 });
    assert.equal(first.isFragment, true);
    assert.equal(first.dontFragment, false);
    const later = parseFrame(buildFrame({ ...base, proto: 'udp', fragment: { offset: 1480 } }));
    assert.deepEqual(later.fragment, { moreFragments: false, offset: 1480 });
    assert.equal(later.isFragment, true);
    assert.throws(() => buildFrame({ ...base, fragment: { offset: 3 } }), RangeError);
  });

  it('builds ICMP echo and raw other protocols', () => {
    const icmp = buildFrame({ ...base, proto: 1, srcPort: 7, dstPort: 1, payload: 8 });
    assertChecksumsOk(icmp);
    const p = parseFrame(icmp);
    assert.equal(p.proto, 1);
    assert.equal(p.srcPort, 7);
    const gre = parseFrame(buildFrame({ ...base, proto: 47, payload: Buffer.from([1, 2, 3, 4]) }));
    assert.equal(gre.proto, 47);
    assert.deepEqual([...gre.payload], [1, 2, 3, 4]);
  });

  it('throws on truncated or non-IPv4 frames', () => {
    const f = buildFrame(base);
    assert.throws(() => parseFrame(f.subarray(0, 30)), { code: 'ERR_PACKET_PARSE' });
    assert.throws(() => parseFrame(f.subarray(0, f.length - 1)), { code: 'ERR_PACKET_PARSE' });
    const arp = Buffer.from(f);
    arp.writeUInt16BE(0x0806, 12);
    assert.throws(() => parseFrame(arp), /not IPv4/);
  });

  it('ignores Ethernet padding after the IP packet', () => {
    const f = buildFrame({ ...base, tcpFlags: { ack: true } });
    const padded = Buffer.concat([f, Buffer.alloc(60 - f.length + 4)]);
    assert.equal(parseFrame(padded).payloadLength, 0);
    assertChecksumsOk(padded);
  });
});

describe('withRewrite', () => {
  it('returns a new Full-NAT-rewritten frame with all checksums recomputed', () => {
    const input = buildFrame({ ...base, tcpFlags: { ack: true, psh: true }, seq: 5, ack: 6, payload: 100 });
    const before = Buffer.from(input);
    const out = withRewrite(input, {
      srcMac: LB_MAC,
      dstMac: RS_MAC,
      srcIp: '198.18.0.5',
      srcPort: 10000,
      dstIp: '198.18.0.2',
      dstPort: 8080,
    });
    assert.deepEqual(input, before, 'input untouched');
    assertChecksumsOk(out);
    const p = parseFrame(out);
    assert.equal(p.srcMac, LB_MAC);
    assert.equal(p.dstMac, RS_MAC);
    assert.equal(p.srcIp, '198.18.0.5');
    assert.equal(p.dstIp, '198.18.0.2');
    assert.equal(p.srcPort, 10000);
    assert.equal(p.dstPort, 8080);
    assert.equal(p.seq, 5);
    assert.equal(p.ack, 6);
    assert.deepEqual(p.payload, parseFrame(input).payload);
    // The same frame built from scratch is byte-identical.
    const direct = buildFrame({
      ...base,
      srcMac: LB_MAC,
      dstMac: RS_MAC,
      srcIp: '198.18.0.5',
      srcPort: 10000,
      dstIp: '198.18.0.2',
      dstPort: 8080,
      tcpFlags: { ack: true, psh: true },
      seq: 5,
      ack: 6,
      payload: 100,
    });
    assert.deepEqual(out, direct);
  });

  it('keeps a UDP checksum of 0 as 0', () => {
    const input = buildFrame({ ...base, proto: 'udp', udpChecksumZero: true, payload: 20 });
    const out = withRewrite(input, { dstIp: '198.18.0.2', dstPort: 53 });
    const p = parseFrame(out);
    assert.equal(p.l4Checksum, 0);
    assert.equal(p.dstPort, 53);
    assertChecksumsOk(out);
  });

  it('recomputes a UDP checksum that was set', () => {
    const input = buildFrame({ ...base, proto: 'udp', payload: 20 });
    const out = withRewrite(input, { srcIp: '198.18.0.11' });
    assert.notEqual(parseFrame(out).l4Checksum, parseFrame(input).l4Checksum);
    assertChecksumsOk(out);
  });

  it('keeps IP options and recomputes over them', () => {
    const input = buildFrame({ ...base, ipOptions: Buffer.from([1, 1, 1, 0]), tcpFlags: { syn: true } });
    const out = withRewrite(input, { dstIp: '198.18.0.3', ttl: 63 });
    assertChecksumsOk(out);
    const p = parseFrame(out);
    assert.equal(p.ihl, 6);
    assert.equal(p.ttl, 63);
    assert.deepEqual([...p.ipOptions], [1, 1, 1, 0]);
  });

  it('fixes checksums even when the input had bad ones (it recomputes, never patches)', () => {
    const input = buildFrame(base);
    input.writeUInt16BE(0xdead, 14 + 20 + 16);
    assertChecksumsOk(withRewrite(input, {}));
  });
});

describe('describeFrame / diffFrames', () => {
  it('describes a frame on one line', () => {
    const d = describeFrame(buildFrame({ ...base, tcpFlags: { syn: true }, seq: 1 }));
    assert.match(d, /^aa:bb:cc:00:00:01 > aa:bb:cc:00:00:05 198\.18\.0\.1:40000 > 198\.18\.0\.10:80 tcp \[S\] seq=1 ack=0 ttl=64 ihl=5 len=0 csum ip=0x[0-9a-f]{4} ok l4=0x[0-9a-f]{4} ok \(54 bytes\)$/);
    assert.doesNotMatch(d, /\n/);
  });

  it('flags a bad checksum and never throws', () => {
    const f = buildFrame({ ...base, proto: 'udp' });
    f.writeUInt16BE(0x1111, 14 + 20 + 6);
    assert.match(describeFrame(f), /l4=0x1111 BAD/);
    assert.match(describeFrame(Buffer.alloc(5)), /^\(unparsed: /);
    assert.equal(describeFrame(undefined), '(no frame)');
  });

  it('lists differing fields', () => {
    const a = buildFrame(base);
    const b = withRewrite(a, { dstIp: '198.18.0.3' });
    assert.deepEqual(diffFrames(a, a), []);
    const d = diffFrames(a, b);
    assert.ok(d.includes('dstIp: expected "198.18.0.10", got "198.18.0.3"'), d.join('\n'));
    assert.ok(d.some((x) => x.startsWith('ipChecksum:')));
    assert.ok(d.some((x) => x.startsWith('l4Checksum:')));
  });
});
