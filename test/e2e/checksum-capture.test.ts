/*
 * Case 2 of the end-to-end suite: checksums of the packets the balancer
 * rewrites, judged from captured bytes. Native XDP, with TX checksum offload
 * off on every endpoint (demo/topology.ts), is the only setting where a
 * wrong incremental checksum shows up (PLATFORM.md): generic mode and
 * offload would both hide it.
 *
 * HTTP and UDP go from the client through the VIP while tcpdump (in the
 * hosts' namespaces, via nsenter) writes pcap files on both servers (what
 * the balancer sent them: source = the SNAT address) and on the client (the
 * rewritten replies: source = the VIP). Every captured frame's IPv4 and
 * TCP/UDP checksums are recomputed from scratch (test/support/checksum.ts)
 * from the pcap bytes (test/support/pcap.ts); tcpdump's own verdict is not
 * used. The verifier is shown to reject a frame corrupted in memory, so a
 * pass means something.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifyChecksums } from '../support/checksum.js';
import { Capture } from '../support/capture.js';
import { parseFrame, type ParsedFrame } from '../support/packet.js';
import type { PcapRecord } from '../support/pcap.js';
import { DNS_PORT, RS1, RS2, Rig, SNAT, VIP, assertAlternating, baseConfig, dnsService, webService } from '../support/traffic-rig.js';

const REQUESTS = 6;
const DATAGRAMS = 4;

interface Seen {
  frame: ParsedFrame;
  bytes: Buffer;
}

/** The captured frames from `source`, each checked: whole (not cut by the snap length), IPv4, both checksums verified. */
function checkedFrames(records: readonly PcapRecord[], source: string, where: string): Seen[] {
  const seen: Seen[] = [];
  for (const record of records) {
    assert.equal(record.data.length, record.originalLength, `${where}: a frame was cut by the snap length`);
    const frame = parseFrame(record.data);
    assert.equal(frame.srcIp, source, `${where}: the capture filter let through a frame from ${frame.srcIp}`);
    const report = verifyChecksums(record.data);
    assert.ok(report.l4Checked, `${where}: ${frame.srcIp}:${frame.srcPort} -> ${frame.dstIp}:${frame.dstPort}: L4 checksum not checkable: ${report.details}`);
    assert.ok(report.ipOk && report.l4Ok, `${where}: ${frame.srcIp}:${frame.srcPort} -> ${frame.dstIp}:${frame.dstPort} proto ${frame.protocol}: ${report.details}`);
    seen.push({ frame, bytes: record.data });
  }
  return seen;
}

/** How many frames of each kind: the test must have seen the packets it vouches for. */
function kinds(frames: readonly Seen[]): { syn: number; data: number; fin: number; udp: number } {
  const tcp = frames.map((s) => s.frame).filter((f) => f.proto === 'tcp');
  return {
    syn: tcp.filter((f) => f.tcpFlags.syn).length,
    data: tcp.filter((f) => f.payloadLength > 0).length,
    fin: tcp.filter((f) => f.tcpFlags.fin).length,
    udp: frames.filter((s) => s.frame.proto === 'udp').length,
  };
}

describe('2. checksums of rewritten packets, from captures (native XDP, TX checksum offload off)', { timeout: 120_000 }, () => {
  let rig: Rig | undefined;
  let http: { answers: string[]; failures: string[] };
  let udp: { answers: string[]; failures: string[] };
  const captured: Record<'rs1' | 'rs2' | 'client', PcapRecord[]> = { rs1: [], rs2: [], client: [] };
  // Filled by the checks below: the frames that passed, for the corruption check.
  const toServers: Seen[] = [];

  before(async () => {
    const r = (rig = new Rig('ck', 'native', [RS1, RS2]));
    await r.serve(baseConfig('native', [webService([RS1, RS2]), dnsService([RS1, RS2])]));
    await r.waitUntil('both dns backends eligible', () => r.eligible('dns').length === 2, 10_000, () => r.eligible('dns').join(', '));

    const captures = {
      rs1: await Capture.start(r.topo, RS1.host, r.dir, `ip src ${SNAT}`),
      rs2: await Capture.start(r.topo, RS2.host, r.dir, `ip src ${SNAT}`),
      client: await Capture.start(r.topo, 'client', r.dir, `ip src ${VIP}`),
    };
    // Outcomes are asserted in the cases below, after the checksums: a checksum bug
    // fails the traffic too, and the checksum case says where.
    http = r.http(REQUESTS);
    udp = r.udp(DATAGRAMS);
    captured.rs1 = await captures.rs1.stop();
    captured.rs2 = await captures.rs2.stop();
    captured.client = await captures.client.stop();
  });
  after(() => rig?.destroy());

  it('every packet the balancer sent to a server (source = SNAT address) has correct IPv4 and TCP/UDP checksums: SYN, data, FIN and UDP seen', () => {
    toServers.push(...checkedFrames(captured.rs1, SNAT, 'rs1'), ...checkedFrames(captured.rs2, SNAT, 'rs2'));
    const seen = kinds(toServers);
    // One SYN, one request and one FIN per connection at least; one datagram per question.
    assert.ok(seen.syn >= REQUESTS, `SYNs seen: ${JSON.stringify(seen)}`);
    assert.ok(seen.data >= REQUESTS, `data segments seen: ${JSON.stringify(seen)}`);
    assert.ok(seen.fin >= REQUESTS, `FINs seen: ${JSON.stringify(seen)}`);
    assert.ok(seen.udp >= DATAGRAMS, `UDP datagrams seen: ${JSON.stringify(seen)}`);
    // The UDP checksum was really computed (not the "none" 0 that is always valid).
    assert.ok(toServers.some((s) => s.frame.proto === 'udp' && s.frame.l4Checksum !== 0), 'every UDP datagram had checksum 0: nothing was verified');
  });

  it('every reply the balancer sent to the client (source = VIP) has correct checksums: SYN-ACK, data, FIN and UDP seen', () => {
    const toClient = checkedFrames(captured.client, VIP, 'client');
    const seen = kinds(toClient);
    assert.ok(seen.syn >= REQUESTS, `SYN-ACKs seen: ${JSON.stringify(seen)}`);
    assert.ok(seen.data >= REQUESTS, `data segments seen: ${JSON.stringify(seen)}`);
    assert.ok(seen.fin >= REQUESTS, `FINs seen: ${JSON.stringify(seen)}`);
    assert.ok(seen.udp >= DATAGRAMS, `UDP datagrams seen: ${JSON.stringify(seen)}`);
    for (const { frame } of toClient) {
      assert.ok(frame.proto === 'udp' ? frame.srcPort === DNS_PORT : frame.srcPort === 80, `reply from VIP port ${frame.srcPort}`);
    }
  });

  it('HTTP and UDP through the VIP are answered by both servers', () => {
    assert.deepEqual(http.failures, [], 'HTTP through the VIP');
    assert.deepEqual(udp.failures, [], 'UDP through the VIP');
    assertAlternating(http.answers, [RS1.name, RS2.name]);
    assertAlternating(udp.answers, [RS1.name, RS2.name]);
  });

  it('the verifier rejects a captured frame with one bit flipped in the TCP payload, the TCP checksum, the IPv4 header or the UDP payload', () => {
    const tcpData = toServers.find((s) => s.frame.proto === 'tcp' && s.frame.payloadLength > 0);
    const udp = toServers.find((s) => s.frame.proto === 'udp' && s.frame.l4Checksum !== 0);
    assert.ok(tcpData && udp, 'no captured frame to corrupt');
    const flipped = (seen: Seen, at: number): Buffer => {
      const copy = Buffer.from(seen.bytes);
      copy[at] = (copy[at] ?? 0) ^ 0x04;
      return copy;
    };
    const l4 = tcpData.frame.l4Offset;
    const payloadAt = tcpData.bytes.length - tcpData.frame.payloadLength;
    assert.equal(verifyChecksums(flipped(tcpData, payloadAt)).l4Ok, false, 'bit flipped in the TCP payload');
    assert.equal(verifyChecksums(flipped(tcpData, l4 + 17)).l4Ok, false, 'bit flipped in the TCP checksum');
    assert.equal(verifyChecksums(flipped(tcpData, 14 + 8)).ipOk, false, 'bit flipped in the IPv4 TTL');
    assert.equal(verifyChecksums(flipped(udp, udp.bytes.length - 1)).l4Ok, false, 'bit flipped in the UDP payload');
  });
});
