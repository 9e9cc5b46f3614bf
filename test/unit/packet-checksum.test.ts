import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ipv4HeaderChecksum, l4Checksum, verifyChecksums } from '../support/checksum.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/*
 * Known answers. The first is the classic IPv4 header example
 * (4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7). The frames below
 * were checked with an independent implementation: written to a pcap and
 * read back with `tcpdump -vv`, which reported "cksum ... (correct)" /
 * "[udp sum ok]" and no bad IP checksum.
 */
const TCP_SYN = hex(
  'aabbcc000002aabbcc000001 0800' +
    '4500 0028 1c46 4000 4006 925a c6120001 c612000a' +
    '9c40 0050 12345678 00000000 5002 ffff 1e76 0000',
);
const UDP_DNS = hex(
  'aabbcc000002aabbcc000001 0800' +
    '4500 002b 0000 4000 4011 ae92 c6120001 c612000a' +
    '14e9 0035 0017 d3b5 68656c6c6f2c2078647034736c6221',
);
const TCP_IPOPT = hex(
  'aabbcc000002aabbcc000001 0800' +
    '4600 0037 0000 4000 3f06 1a91 c6120005 c6120002 94040000' +
    '2710 1f90 000003e8 000007d0 5018 ffff b324 0000 000102030405060708090a',
);
const ICMP_ECHO = hex(
  'aabbcc000002aabbcc000001 0800' + '4500 0024 0000 4000 4001 aea9 c6120001 c612000a' + '0800 ebe7 0007 0001 0001020304050607',
);

describe('ipv4HeaderChecksum', () => {
  it('gives b861 for the classic example header', () => {
    const h = hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
    assert.equal(ipv4HeaderChecksum(h), 0xb861);
  });

  it('ignores whatever the checksum field holds', () => {
    const h = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');
    assert.equal(ipv4HeaderChecksum(h), 0xb861);
    h.writeUInt16BE(0x1234, 10);
    assert.equal(ipv4HeaderChecksum(h), 0xb861);
  });

  it('covers IP options (ihl 6)', () => {
    assert.equal(ipv4HeaderChecksum(TCP_IPOPT.subarray(14, 38)), 0x1a91);
  });

  it('rejects a header that is not a multiple of 4 bytes', () => {
    assert.throws(() => ipv4HeaderChecksum(Buffer.alloc(22)), RangeError);
  });
});

describe('l4Checksum', () => {
  it('matches the tcpdump-verified TCP SYN', () => {
    assert.equal(l4Checksum('198.18.0.1', '198.18.0.10', 6, TCP_SYN.subarray(34)), 0x1e76);
  });

  it('matches the tcpdump-verified UDP datagram (odd length)', () => {
    const seg = UDP_DNS.subarray(34);
    assert.equal(seg.length % 2, 1);
    assert.equal(l4Checksum('198.18.0.1', '198.18.0.10', 17, seg), 0xd3b5);
  });

  it('takes addresses as 4-byte buffers too', () => {
    assert.equal(l4Checksum(hex('c6120001'), hex('c612000a'), 6, TCP_SYN.subarray(34)), 0x1e76);
  });

  it('puts the pseudo-header length in network byte order', () => {
    // A receiver's check: the sum over pseudo-header + segment (checksum
    // included) must be 0xffff. Done here by hand, without l4Checksum.
    const seg = TCP_IPOPT.subarray(38);
    const words: number[] = [0xc612, 0x0005, 0xc612, 0x0002, 0x0006, seg.length];
    for (let i = 0; i < seg.length; i += 2) words.push(((seg[i] ?? 0) << 8) | (seg[i + 1] ?? 0));
    let sum = words.reduce((a, b) => a + b, 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    assert.equal(sum, 0xffff);
    assert.equal(l4Checksum('198.18.0.5', '198.18.0.2', 6, seg), 0xb324);
  });

  it('sends a computed UDP checksum of 0 as 0xffff', () => {
    // Find a payload whose true sum makes the checksum 0: choose the last
    // two payload bytes so the complement comes out as 0x0000.
    const seg = Buffer.alloc(10);
    seg.writeUInt16BE(1000, 0);
    seg.writeUInt16BE(2000, 2);
    seg.writeUInt16BE(10, 4);
    const withZeroData = l4Checksum('198.18.0.1', '198.18.0.2', 17, seg);
    // Adding X to the sum lowers the checksum by X (one's complement); make it 0.
    seg.writeUInt16BE(withZeroData, 8);
    assert.equal(l4Checksum('198.18.0.1', '198.18.0.2', 17, seg), 0xffff);
  });
});

describe('verifyChecksums', () => {
  for (const [name, frame] of [
    ['tcp syn', TCP_SYN],
    ['udp', UDP_DNS],
    ['tcp with IP options', TCP_IPOPT],
    ['icmp echo', ICMP_ECHO],
  ] as const) {
    it(`accepts the known-good ${name} frame`, () => {
      const r = verifyChecksums(frame);
      assert.equal(r.ipOk, true, r.details);
      assert.equal(r.l4Ok, true, r.details);
      assert.equal(r.l4Checked, true, r.details);
    });
  }

  it('reports a corrupted IP checksum', () => {
    const f = Buffer.from(TCP_SYN);
    f.writeUInt16BE(0x925b, 24);
    const r = verifyChecksums(f);
    assert.equal(r.ipOk, false);
    assert.equal(r.l4Ok, true);
    assert.equal(r.ipStored, 0x925b);
    assert.equal(r.ipComputed, 0x925a);
    assert.match(r.details, /ip 0x925b!=0x925a BAD/);
  });

  it('reports a corrupted TCP checksum', () => {
    const f = Buffer.from(TCP_SYN);
    f.writeUInt16BE(0x1e77, 50);
    const r = verifyChecksums(f);
    assert.equal(r.ipOk, true);
    assert.equal(r.l4Ok, false);
    assert.match(r.details, /tcp 0x1e77!=0x1e76 BAD/);
  });

  it('reports a payload change not reflected in the checksum', () => {
    const f = Buffer.from(UDP_DNS);
    f[f.length - 1] = 0x3f;
    assert.equal(verifyChecksums(f).l4Ok, false);
  });

  it('reports the bug of the original design: old checksum summed without zeroing', () => {
    // Recompute "incorrectly": include the stored field in the sum.
    const f = Buffer.from(TCP_SYN);
    const seg = f.subarray(34);
    let sum = 0xc612 + 0x0001 + 0xc612 + 0x000a + 6 + seg.length;
    for (let i = 0; i < seg.length; i += 2) sum += ((seg[i] ?? 0) << 8) | (seg[i + 1] ?? 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    seg.writeUInt16BE(~sum & 0xffff, 16);
    assert.equal(verifyChecksums(f).l4Ok, false);
  });

  it('accepts a UDP checksum of 0 (none)', () => {
    const f = Buffer.from(UDP_DNS);
    f.writeUInt16BE(0, 40);
    const r = verifyChecksums(f);
    assert.equal(r.l4Ok, true);
    assert.equal(r.l4Stored, 0);
    assert.match(r.details, /udp checksum 0 \(none\) ok/);
  });

  it('ignores Ethernet padding past the IP total length', () => {
    const f = Buffer.concat([TCP_SYN, Buffer.alloc(6, 0xee)]);
    const r = verifyChecksums(f);
    assert.equal(r.ipOk && r.l4Ok, true, r.details);
  });

  it('reports truncated and non-IPv4 frames instead of throwing', () => {
    const r1 = verifyChecksums(TCP_SYN.subarray(0, 40));
    assert.equal(r1.l4Ok, false);
    assert.match(r1.details, /truncated/);
    const arp = Buffer.from(TCP_SYN);
    arp.writeUInt16BE(0x0806, 12);
    const r2 = verifyChecksums(arp);
    assert.equal(r2.ipOk, false);
    assert.match(r2.details, /not IPv4: ethertype 0x0806/);
    assert.equal(verifyChecksums(Buffer.alloc(3)).ipOk, false);
  });

  it('does not claim to check the L4 checksum of a fragment', () => {
    const f = Buffer.from(TCP_SYN);
    f.writeUInt16BE(0x2000, 20); // MF
    f.writeUInt16BE(0, 24);
    f.writeUInt16BE(ipv4HeaderChecksum(f.subarray(14, 34)), 24);
    const r = verifyChecksums(f);
    assert.equal(r.ipOk, true);
    assert.equal(r.l4Checked, false);
    assert.match(r.details, /fragment/);
  });

  it('looks through a VLAN tag', () => {
    const f = Buffer.concat([TCP_SYN.subarray(0, 12), hex('8100 0064'), TCP_SYN.subarray(12)]);
    const r = verifyChecksums(f);
    assert.equal(r.ipOk && r.l4Ok && r.l4Checked, true, r.details);
  });
});
