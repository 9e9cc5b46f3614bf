/*
 * The datapath's packet tables (DESIGN.md §4) through BPF_PROG_TEST_RUN on
 * the built object. Needs root.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLIENT,
  CLIENT2,
  LB_MAC,
  RS1,
  RS2,
  RS3,
  SNAT_IP,
  VIP,
  type LoadedDatapath,
  type TestBackend,
  type TestClient,
} from '../support/datapath-fixture.js';
import { runPacketCase, type PacketCase } from '../support/packet-case.js';
import { buildFrame, parseFrame, withRewrite, type FrameSpec, type TcpFlags } from '../support/packet.js';
import { IPPROTO_TCP, LbConnState, type LbConn, type LbFlowKey } from '../../src/datapath/codecs.js';
import { connTimeoutClass } from '../../src/datapath/conn-state.js';

const CPORT = 40000;
const UDP_PORT = 53;

type Flags = Partial<TcpFlags>;
const SYN: Flags = { syn: true };
const SYNACK: Flags = { syn: true, ack: true };
const ACK: Flags = { ack: true };
const FINACK: Flags = { fin: true, ack: true };
const RST: Flags = { rst: true };

function fromClient(opts: { client?: TestClient; port?: number; flags?: Flags; extra?: Partial<FrameSpec> } = {}): Buffer {
  const client = opts.client ?? CLIENT;
  return buildFrame({
    srcMac: client.mac,
    dstMac: LB_MAC,
    srcIp: client.ip,
    dstIp: VIP,
    proto: 'tcp',
    srcPort: opts.port ?? CPORT,
    dstPort: 80,
    tcpFlags: opts.flags ?? ACK,
    payload: 0,
    ...opts.extra,
  });
}

function udpFromClient(extra: Partial<FrameSpec> = {}): Buffer {
  return buildFrame({
    srcMac: CLIENT.mac,
    dstMac: LB_MAC,
    srcIp: CLIENT.ip,
    dstIp: VIP,
    proto: 'udp',
    srcPort: CPORT,
    dstPort: UDP_PORT,
    payload: 32,
    ...extra,
  });
}

function clientKey(frame: Buffer): LbFlowKey {
  const p = parseFrame(frame);
  return { srcIp: p.srcIp, dstIp: p.dstIp, srcPort: p.srcPort, dstPort: p.dstPort, proto: p.protocol };
}

function connOf(dp: LoadedDatapath, clientFrame: Buffer): LbConn {
  const conn = dp.maps.conn(clientKey(clientFrame));
  assert.ok(conn, 'no conntrack entry for the client flow');
  return conn;
}

/** The backend's packet to the SNAT tuple of the flow that @clientFrame belongs to. */
function fromBackend(dp: LoadedDatapath, clientFrame: Buffer, flags: Flags, extra: Partial<FrameSpec> = {}): Buffer {
  const conn = connOf(dp, clientFrame);
  const rs = [RS1, RS2, RS3].find((be) => be.ip === conn.backendIp)!;
  return buildFrame({
    srcMac: rs.mac,
    dstMac: LB_MAC,
    srcIp: conn.backendIp,
    dstIp: conn.snatIp,
    proto: conn.proto === IPPROTO_TCP ? 'tcp' : 'udp',
    srcPort: conn.backendPort,
    dstPort: conn.snatPort,
    tcpFlags: flags,
    payload: 0,
    ...extra,
  });
}

/** What the client's packet must look like on its way to @rs. */
function towardsBackend(rs: TestBackend, clientFrame: Buffer) {
  return (dp: LoadedDatapath, input: Buffer): Buffer => {
    const conn = connOf(dp, clientFrame);
    return withRewrite(input, {
      srcMac: LB_MAC,
      dstMac: rs.mac,
      srcIp: SNAT_IP,
      dstIp: rs.ip,
      srcPort: conn.snatPort,
      dstPort: rs.port,
    });
  };
}

/** What the backend's reply must look like on its way back to the client. */
function towardsClient(clientFrame: Buffer, client: TestClient = CLIENT) {
  return (_dp: LoadedDatapath, input: Buffer): Buffer => {
    const p = parseFrame(clientFrame);
    return withRewrite(input, {
      srcMac: LB_MAC,
      dstMac: client.mac,
      srcIp: VIP,
      dstIp: p.srcIp,
      srcPort: p.dstPort,
      dstPort: p.srcPort,
    });
  };
}

/** The base scenario: TCP :80 and UDP :53 on the VIP, round robin over RS1 and RS2. */
function base(dp: LoadedDatapath): void {
  dp.setSnatPool();
  dp.addService({ id: 0, backends: [RS1, RS2] });
  dp.addService({ id: 1, port: UDP_PORT, proto: 'udp', backends: [RS1, RS2] });
}

function send(dp: LoadedDatapath, frame: Buffer, verdict = 'TX'): Buffer {
  const res = dp.run(frame);
  assert.equal(res.verdict, verdict, `setup packet not ${verdict}: ${res.verdict}`);
  return res.out;
}

/** SYN, SYN+ACK, ACK: an established flow from CLIENT:CPORT. */
function handshake(dp: LoadedDatapath, port = CPORT): Buffer {
  const syn = fromClient({ port, flags: SYN });
  send(dp, syn);
  send(dp, fromBackend(dp, syn, SYNACK));
  send(dp, fromClient({ port, flags: ACK }));
  return syn;
}

function counter(dp: LoadedDatapath, name: string): bigint {
  const value = dp.maps.counters()[name];
  assert.ok(value !== undefined, `no counter ${name}`);
  return value;
}

function expectCounter(name: string, value: bigint) {
  return (dp: LoadedDatapath): void => assert.equal(counter(dp, name), value, `counter ${name}`);
}

function expectState(clientFrame: Buffer, bits: number) {
  return (dp: LoadedDatapath): void => {
    const state = connOf(dp, clientFrame).state;
    assert.equal(state, bits, `state 0x${state.toString(16)}, expected 0x${bits.toString(16)}`);
  };
}

const S = LbConnState;
const syn = fromClient({ flags: SYN });

const tcpFlowCases: PacketCase[] = [
  {
    description: 'SYN to the VIP is rewritten to the first backend and sent back out',
    setup: base,
    input: () => syn,
    verdict: 'TX',
    expected: towardsBackend(RS1, syn),
    after: (dp) => {
      const conn = connOf(dp, syn);
      assert.equal(conn.state, S.SYN_SEEN);
      assert.equal(conn.clientMac, CLIENT.mac);
      assert.equal(conn.snatIp, SNAT_IP);
      assert.ok(conn.snatPort >= 10000 && conn.snatPort <= 32767, `SNAT port ${conn.snatPort} outside the pool`);
      assert.equal(conn.backendId, RS1.id);
      const owners = [...dp.maps.snatTuples()];
      assert.deepEqual(owners, [
        {
          reply: { srcIp: RS1.ip, dstIp: SNAT_IP, srcPort: RS1.port, dstPort: conn.snatPort, proto: IPPROTO_TCP },
          owner: clientKey(syn),
        },
      ]);
      assert.equal(dp.maps.serviceTraffic(0).newFlows, 1n);
      assert.equal(dp.maps.backendTraffic(RS1.id).newFlows, 1n);
      assert.equal(dp.maps.backendTraffic(RS1.id).packetsIn, 1n);
    },
  },
  {
    description: "the backend's SYN+ACK is rewritten back to the client",
    setup: (dp) => {
      base(dp);
      send(dp, syn);
    },
    input: (dp) => fromBackend(dp, syn, SYNACK),
    verdict: 'TX',
    expected: towardsClient(syn),
    after: (dp) => {
      assert.equal(connOf(dp, syn).state, S.SYN_SEEN | S.SYNACK_SEEN);
      assert.equal(dp.maps.backendTraffic(RS1.id).packetsOut, 1n);
    },
  },
  {
    description: "the client's ACK establishes the flow",
    setup: (dp) => {
      base(dp);
      send(dp, syn);
      send(dp, fromBackend(dp, syn, SYNACK));
    },
    input: () => fromClient({ flags: ACK }),
    verdict: 'TX',
    expected: towardsBackend(RS1, syn),
    after: expectState(syn, S.SYN_SEEN | S.SYNACK_SEEN | S.ESTABLISHED),
  },
  {
    description: 'established data from the client (1500-byte frame) goes to the same backend',
    setup: (dp) => {
      base(dp);
      handshake(dp);
    },
    input: () => fromClient({ flags: { ack: true, psh: true }, extra: { payload: 1446 } }),
    verdict: 'TX',
    expected: towardsBackend(RS1, syn),
    after: (dp) => assert.equal(dp.maps.backendTraffic(RS1.id).bytesIn, 2n * 54n + 1500n, 'SYN + ACK + this frame'),
  },
  {
    description: 'established data from the backend goes back to the client',
    setup: (dp) => {
      base(dp);
      handshake(dp);
    },
    input: (dp) => fromBackend(dp, syn, { ack: true, psh: true }, { payload: 700 }),
    verdict: 'TX',
    expected: towardsClient(syn),
  },
  {
    description: 'a FIN from the client marks the flow closing',
    setup: (dp) => {
      base(dp);
      handshake(dp);
    },
    input: () => fromClient({ flags: FINACK }),
    verdict: 'TX',
    expected: towardsBackend(RS1, syn),
    after: expectState(syn, S.SYN_SEEN | S.SYNACK_SEEN | S.ESTABLISHED | S.FIN_CLIENT),
  },
  {
    description: 'the FIN from the backend after the client FIN closes the flow',
    setup: (dp) => {
      base(dp);
      handshake(dp);
      send(dp, fromClient({ flags: FINACK }));
    },
    input: (dp) => fromBackend(dp, syn, FINACK),
    verdict: 'TX',
    expected: towardsClient(syn),
    after: expectState(syn, S.SYN_SEEN | S.SYNACK_SEEN | S.ESTABLISHED | S.FIN_CLIENT | S.FIN_BACKEND),
  },
  {
    description: 'a RST from the client is forwarded and closes the flow',
    setup: (dp) => {
      base(dp);
      handshake(dp);
    },
    input: () => fromClient({ flags: RST }),
    verdict: 'TX',
    expected: towardsBackend(RS1, syn),
    after: expectState(syn, S.SYN_SEEN | S.SYNACK_SEEN | S.ESTABLISHED | S.RST),
  },
  {
    description: 'a RST from the backend is forwarded and closes the flow',
    setup: (dp) => {
      base(dp);
      send(dp, syn);
    },
    input: (dp) => fromBackend(dp, syn, { rst: true, ack: true }),
    verdict: 'TX',
    expected: towardsClient(syn),
    after: expectState(syn, S.SYN_SEEN | S.RST),
  },
  {
    description: 'a SYN with IP options is balanced and its options kept',
    setup: base,
    input: () => fromClient({ flags: SYN, extra: { ipOptions: Buffer.from([0x94, 0x04, 0, 0, 1, 1, 1, 0]) } }),
    verdict: 'TX',
    expected: (dp, input) => towardsBackend(RS1, input)(dp, input),
    after: (dp) => assert.equal(parseFrame(fromClient({ flags: SYN, extra: { ipOptions: Buffer.alloc(8, 1) } })).ihl, 7),
  },
  {
    description: 'a reply with IP options is rewritten back',
    setup: (dp) => {
      base(dp);
      send(dp, syn);
    },
    input: (dp) => fromBackend(dp, syn, SYNACK, { ipOptions: Buffer.from([1, 1, 1, 0]) }),
    verdict: 'TX',
    expected: towardsClient(syn),
  },
];

const udp = udpFromClient();
const udpCases: PacketCase[] = [
  {
    description: 'a UDP datagram to the VIP creates a flow and is rewritten',
    setup: base,
    input: () => udp,
    verdict: 'TX',
    expected: towardsBackend(RS1, udp),
    after: expectState(udp, S.UDP),
  },
  {
    description: "the backend's UDP reply is rewritten back",
    setup: (dp) => {
      base(dp);
      send(dp, udp);
    },
    input: (dp) => fromBackend(dp, udp, {}, { payload: 48 }),
    verdict: 'TX',
    expected: towardsClient(udp),
  },
  {
    description: 'a UDP checksum of 0 (none) stays 0 after the rewrite',
    setup: base,
    input: () => udpFromClient({ udpChecksumZero: true }),
    verdict: 'TX',
    expected: (dp, input) => {
      const out = towardsBackend(RS1, input)(dp, input);
      assert.equal(parseFrame(out).l4Checksum, 0, 'the expected frame itself must keep 0');
      return out;
    },
  },
  {
    description: 'a second UDP datagram of the flow reuses its backend and tuple',
    setup: (dp) => {
      base(dp);
      send(dp, udp);
    },
    input: () => udp,
    verdict: 'TX',
    expected: towardsBackend(RS1, udp),
    after: (dp) => assert.equal([...dp.maps.snatTuples()].length, 1),
  },
];

const notOurs = (description: string, input: () => Buffer, extra: Partial<PacketCase> = {}): PacketCase => ({
  description,
  setup: base,
  input,
  verdict: 'PASS',
  expected: 'unchanged',
  after: expectCounter('pass_malformed', 0n),
  ...extra,
});

const passCases: PacketCase[] = [
  notOurs('a packet to another address passes untouched', () =>
    buildFrame({ ...clientSpec(), dstIp: '198.18.0.200' }),
  ),
  notOurs('a port of the VIP without a service passes to the host', () => fromClient({ flags: SYN, extra: { dstPort: 22 } })),
  notOurs('TCP to the UDP service port passes to the host', () => fromClient({ flags: SYN, extra: { dstPort: UDP_PORT } })),
  notOurs('ICMP to the VIP passes to the host', () => buildFrame({ ...clientSpec(), proto: 1 })),
  notOurs('an ARP frame passes', () => {
    const f = fromClient();
    f.writeUInt16BE(0x0806, 12);
    return f;
  }),
  notOurs('an IPv6 frame passes', () => {
    const f = fromClient();
    f.writeUInt16BE(0x86dd, 12);
    return f;
  }),
  notOurs('traffic from a SNAT address port outside any flow (the host\'s own) passes', () =>
    buildFrame({ ...clientSpec(), srcIp: RS1.ip, dstIp: SNAT_IP, srcPort: 80, dstPort: 45000, tcpFlags: SYNACK }),
  ),
];

function clientSpec(): FrameSpec {
  return {
    srcMac: CLIENT.mac,
    dstMac: LB_MAC,
    srcIp: CLIENT.ip,
    dstIp: VIP,
    proto: 'tcp',
    srcPort: CPORT,
    dstPort: 80,
    tcpFlags: SYN,
  };
}

const truncated = (description: string, bytes: (f: Buffer) => Buffer, malformed: bigint): PacketCase => ({
  description,
  setup: base,
  input: () => bytes(fromClient({ flags: SYN })),
  verdict: 'PASS',
  expected: 'unchanged',
  after: (dp) => {
    expectCounter('pass_malformed', malformed)(dp);
    assert.equal([...dp.maps.conns()].length, 0, 'no flow may be created');
  },
});

const malformedCases: PacketCase[] = [
  // Shorter frames never reach XDP (the kernel refuses them in test runs too).
  truncated('an IPv4 frame that ends with its Ethernet header passes', (f) => f.subarray(0, 14), 0n),
  truncated('a frame cut inside the IPv4 header passes', (f) => f.subarray(0, 14 + 16), 0n),
  truncated(
    'an IPv4 header whose ihl reaches past the frame passes and is counted',
    (f) => {
      const g = Buffer.from(f.subarray(0, 14 + 24));
      g[14] = 0x4f; // ihl 15: 60 bytes of header
      return g;
    },
    1n,
  ),
  truncated(
    'an ihl below 5 passes and is counted',
    (f) => {
      const g = Buffer.from(f);
      g[14] = 0x44;
      return g;
    },
    1n,
  ),
  truncated(
    'an IP total length beyond the frame passes and is counted',
    (f) => {
      const g = Buffer.from(f);
      g.writeUInt16BE(1400, 14 + 2);
      return g;
    },
    1n,
  ),
  truncated('a frame cut inside the TCP header passes and is counted', (f) => fixIpLength(f.subarray(0, 14 + 20 + 12)), 1n),
  truncated(
    'an IP total length that ends inside the TCP header passes and is counted',
    (f) => {
      const g = Buffer.from(f);
      g.writeUInt16BE(20 + 10, 14 + 2);
      return g;
    },
    1n,
  ),
  {
    description: 'a frame cut inside the UDP header passes and is counted',
    setup: base,
    input: () => fixIpLength(udpFromClient().subarray(0, 14 + 20 + 6)),
    verdict: 'PASS',
    expected: 'unchanged',
    after: expectCounter('pass_malformed', 1n),
  },
  {
    description: 'a TCP data offset below 5 passes and is counted',
    setup: base,
    input: () => {
      const f = fromClient({ flags: SYN });
      f[14 + 20 + 12] = 0x40;
      return f;
    },
    verdict: 'PASS',
    expected: 'unchanged',
    after: expectCounter('pass_malformed', 1n),
  },
];

/* A cut frame whose IP total length says so (only the L4 header is short). */
function fixIpLength(frame: Buffer): Buffer {
  const g = Buffer.from(frame);
  g.writeUInt16BE(g.length - 14, 14 + 2);
  return g;
}

const dropCases: PacketCase[] = [
  {
    description: 'a first fragment (MF) to the VIP is dropped and counted',
    setup: base,
    input: () => fromClient({ flags: SYN, extra: { fragment: { moreFragments: true, offset: 0 } } }),
    verdict: 'DROP',
    after: expectCounter('drop_fragment', 1n),
  },
  {
    description: 'a later fragment to the VIP is dropped, never sent to a backend',
    setup: (dp) => {
      base(dp);
      send(dp, udp);
    },
    input: () => udpFromClient({ fragment: { moreFragments: false, offset: 1480 } }),
    verdict: 'DROP',
    after: expectCounter('drop_fragment', 1n),
  },
  {
    description: 'a fragment of a reply to the SNAT address is dropped',
    setup: (dp) => {
      base(dp);
      send(dp, udp);
    },
    input: (dp) => fromBackend(dp, udp, {}, { fragment: { moreFragments: true, offset: 0 } }),
    verdict: 'DROP',
    after: expectCounter('drop_fragment', 1n),
  },
  {
    description: 'a non-SYN TCP packet without a flow is dropped, not balanced',
    setup: base,
    input: () => fromClient({ flags: ACK }),
    verdict: 'DROP',
    after: (dp) => {
      expectCounter('drop_no_conntrack', 1n)(dp);
      assert.equal([...dp.maps.conns()].length, 0);
    },
  },
  {
    description: 'a SYN+ACK from a client without a flow is dropped',
    setup: base,
    input: () => fromClient({ flags: SYNACK }),
    verdict: 'DROP',
    after: expectCounter('drop_no_conntrack', 1n),
  },
  {
    description: 'a service whose table is empty (no healthy backend) drops new flows and counts them',
    setup: (dp) => {
      base(dp);
      dp.setBackends(0, 'round_robin', []);
    },
    input: () => syn,
    verdict: 'DROP',
    after: (dp) => {
      expectCounter('drop_no_backend', 1n)(dp);
      assert.equal([...dp.maps.snatTuples()].length, 0, 'no SNAT tuple may leak');
    },
  },
  {
    description: 'a service without any table drops new flows',
    setup: (dp) => {
      base(dp);
      dp.maps.deleteSchedulerTable(0);
    },
    input: () => syn,
    verdict: 'DROP',
    after: expectCounter('drop_no_backend', 1n),
  },
  {
    description: 'a service whose only backend has no MAC drops and counts',
    setup: (dp) => {
      dp.setSnatPool();
      dp.addService({ id: 0, backends: [RS3], resolveMacs: false });
    },
    input: () => syn,
    verdict: 'DROP',
    after: (dp) => {
      expectCounter('drop_no_mac', 1n)(dp);
      assert.equal([...dp.maps.snatTuples()].length, 0, 'no SNAT tuple may leak');
    },
  },
  {
    description: "a conntrack element holding another flow's data (reused under us) is not used",
    setup: (dp) => {
      base(dp);
      handshake(dp, 1001);
      const other = lbConn.encode(connOf(dp, fromClient({ port: 1001 })));
      dp.maps.map('lb_ct').update(lbFlowKey.encode(clientKey(fromClient({ port: 1002 }))), other);
    },
    input: () => fromClient({ port: 1002 }),
    verdict: 'DROP',
    after: expectCounter('drop_no_conntrack', 1n),
  },
  {
    description: 'an established flow whose backend MAC disappeared is dropped, not misdelivered',
    setup: (dp) => {
      base(dp);
      handshake(dp);
      dp.maps.deleteNeighbor(RS1.ip);
    },
    input: () => fromClient(),
    verdict: 'DROP',
    after: expectCounter('drop_no_mac', 1n),
  },
];

const choiceCases: PacketCase[] = [
  {
    description: 'a backend without a MAC is skipped for the next one in the table',
    setup: (dp) => {
      dp.setSnatPool();
      dp.addService({ id: 0, backends: [RS1, RS2], resolveMacs: true });
      dp.maps.putBackend(RS3.id, { ip: '198.18.0.1', port: 8080 }); // sorts first, no MAC
      dp.setBackends(0, 'round_robin', [{ ...RS3, ip: '198.18.0.1' }, RS1, RS2]);
    },
    input: () => syn,
    verdict: 'TX',
    expected: towardsBackend(RS1, syn),
  },
  {
    description: 'a changed backend MAC applies to established flows at once',
    setup: (dp) => {
      base(dp);
      handshake(dp);
      dp.maps.putNeighbor(RS1.ip, '02:00:5e:00:09:09');
    },
    input: () => fromClient(),
    verdict: 'TX',
    expected: (dp, input) => withRewrite(towardsBackend(RS1, syn)(dp, input), { dstMac: '02:00:5e:00:09:09' }),
  },
  {
    description: 'a SYN that meets a closing flow starts a new flow with a fresh backend choice',
    setup: (dp) => {
      base(dp);
      handshake(dp);
      send(dp, fromClient({ flags: FINACK }));
    },
    input: () => syn,
    verdict: 'TX',
    expected: towardsBackend(RS2, syn),
    after: (dp) => {
      const conn = connOf(dp, syn);
      assert.equal(conn.state, S.SYN_SEEN, 'fresh state');
      assert.equal(conn.backendIp, RS2.ip);
      const tuples = [...dp.maps.snatTuples()];
      assert.equal(tuples.length, 1, "the old flow's tuple is given back");
      assert.equal(tuples[0]!.reply.srcIp, RS2.ip);
    },
  },
  {
    description: 'a SYN retransmitted on a flow in SYN state keeps its backend',
    setup: (dp) => {
      base(dp);
      send(dp, syn);
    },
    input: () => syn,
    verdict: 'TX',
    expected: towardsBackend(RS1, syn),
    after: (dp) => assert.equal(dp.maps.serviceTraffic(0).newFlows, 1n),
  },
];

/* One backend: SNAT uniqueness is per backend, so a tiny pool really runs out. */
function tinyPool(dp: LoadedDatapath, ports: number, reuseAfterNs = 1_000_000_000n): void {
  dp.setSnatPool({ portMin: 20000, portMax: 20000 + ports - 1, reuseAfterNs });
  dp.addService({ id: 0, backends: [RS1] });
}

const snatCases: PacketCase[] = [
  {
    description: 'with a two-port pool and one backend, a third flow is refused and counted',
    setup: (dp) => {
      tinyPool(dp, 2);
      send(dp, fromClient({ port: 1001, flags: SYN }));
      send(dp, fromClient({ port: 1002, flags: SYN }));
    },
    input: () => fromClient({ port: 1003, flags: SYN }),
    verdict: 'DROP',
    after: (dp) => {
      expectCounter('drop_snat_exhausted', 1n)(dp);
      const ports = [...dp.maps.conns()].map((c) => c.conn.snatPort).sort();
      assert.deepEqual(ports, [20000, 20001]);
    },
  },
  {
    description: 'two clients with the same source port (a naive port choice collides) get different SNAT ports',
    setup: (dp) => {
      tinyPool(dp, 2);
      send(dp, fromClient({ client: CLIENT, port: 20000, flags: SYN }));
    },
    input: () => fromClient({ client: CLIENT2, port: 20000, flags: SYN }),
    verdict: 'TX',
    expected: (dp, input) => towardsBackend(RS1, input)(dp, input),
    after: (dp) => {
      const ports = [...dp.maps.conns()].map((c) => c.conn.snatPort).sort();
      assert.deepEqual(ports, [20000, 20001]);
    },
  },
  {
    description: "a closed flow's tuple is taken over by a new flow once idle past reuse_after",
    setup: (dp) => {
      tinyPool(dp, 1, 0n);
      handshake(dp, 1001);
      send(dp, fromClient({ port: 1001, flags: RST }));
    },
    input: () => fromClient({ port: 1002, flags: SYN }),
    verdict: 'TX',
    expected: (dp, input) => towardsBackend(RS1, input)(dp, input),
    after: (dp) => {
      const old = connOf(dp, fromClient({ port: 1001 }));
      assert.ok(old.state & S.RELEASED, 'the closed flow lost its tuple');
      const tuples = [...dp.maps.snatTuples()];
      assert.equal(tuples.length, 1);
      assert.equal(tuples[0]!.owner.srcPort, 1002);
      // A straggler of the old flow must not reach the new flow's connection, nor start a flow.
      assert.equal(dp.run(fromClient({ port: 1001, flags: ACK })).verdict, 'DROP');
      expectCounter('drop_no_conntrack', 1n)(dp);
    },
  },
  {
    description: "a closed flow's tuple is not reused before reuse_after",
    setup: (dp) => {
      tinyPool(dp, 1, 60_000_000_000n);
      handshake(dp, 1001);
      send(dp, fromClient({ port: 1001, flags: RST }));
    },
    input: () => fromClient({ port: 1002, flags: SYN }),
    verdict: 'DROP',
    after: expectCounter('drop_snat_exhausted', 1n),
  },
  {
    description: "an open flow's tuple is never taken over",
    setup: (dp) => {
      tinyPool(dp, 1, 0n);
      handshake(dp, 1001);
    },
    input: () => fromClient({ port: 1002, flags: SYN }),
    verdict: 'DROP',
    after: expectCounter('drop_snat_exhausted', 1n),
  },
  {
    description: 'a reply on a tuple whose flow released it is dropped as stale',
    setup: (dp) => {
      tinyPool(dp, 1, 0n);
      handshake(dp, 1001);
      send(dp, fromClient({ port: 1001, flags: RST }));
      send(dp, fromClient({ port: 1002, flags: SYN }));
      // Point the tuple back at the released flow, as a reply racing the take-over would see it.
      const [t] = [...dp.maps.snatTuples()];
      dp.maps.map('lb_snat').update(encodeKey(t!.reply), encodeKey(clientKey(fromClient({ port: 1001 }))));
    },
    input: (dp) =>
      buildFrame({
        srcMac: RS1.mac,
        dstMac: LB_MAC,
        srcIp: RS1.ip,
        dstIp: SNAT_IP,
        proto: 'tcp',
        srcPort: RS1.port,
        dstPort: connOf(dp, fromClient({ port: 1002 })).snatPort,
        tcpFlags: ACK,
      }),
    verdict: 'DROP',
    after: expectCounter('drop_no_conntrack', 1n),
  },
];

import { lbConn, lbFlowKey } from '../../src/datapath/codecs.js';
/*
 * A backend holding a reused SNAT tuple in TIME_WAIT may refuse the SYN: it
 * answers with the old connection's ACK, the client resets (ending the
 * TIME_WAIT) and resends the SYN at once. That SYN must go to the same
 * backend on the same tuple (round robin would pick the other one).
 */
let refusedPort = 0;
function refusedHandshake(dp: LoadedDatapath): void {
  base(dp);
  send(dp, syn);
  refusedPort = connOf(dp, syn).snatPort;
  send(dp, fromBackend(dp, syn, ACK, { seq: 7777, ack: 4242 }));
  send(dp, fromClient({ flags: RST, extra: { seq: 4242 } }));
}

/** Moves a flow's last-seen stamp `ns` into the past, as if that much time had passed. */
function ageFlow(dp: LoadedDatapath, clientFrame: Buffer, ns: bigint): void {
  const conn = connOf(dp, clientFrame);
  dp.maps.map('lb_ct').update(encodeKey(clientKey(clientFrame)), lbConn.encode({ ...conn, lastSeenNs: conn.lastSeenNs - ns }));
}

const refusedSynCases: PacketCase[] = [
  {
    description: 'a SYN resent right after the client reset a handshake the backend refused (no SYN+ACK) keeps its backend and SNAT tuple',
    setup: refusedHandshake,
    input: () => syn,
    verdict: 'TX',
    expected: (dp, input) => withRewrite(towardsBackend(RS1, syn)(dp, input), { srcPort: refusedPort }),
    after: (dp) => {
      const conn = connOf(dp, syn);
      assert.equal(conn.state, S.SYN_SEEN, 'the flow starts afresh');
      assert.equal(conn.backendIp, RS1.ip);
      assert.equal(conn.snatPort, refusedPort);
      assert.deepEqual([...dp.maps.snatTuples()].map((t) => [t.reply.srcIp, t.reply.dstPort, t.owner.srcPort]), [[RS1.ip, refusedPort, CPORT]]);
      // The handshake's replies reach the client on the kept tuple.
      assert.equal(dp.run(fromBackend(dp, syn, SYNACK)).verdict, 'TX');
      assert.equal(connOf(dp, syn).state, S.SYN_SEEN | S.SYNACK_SEEN);
    },
  },
  {
    description: 'a SYN long after such a reset (a retransmission timeout later) gets a fresh backend choice',
    setup: (dp) => {
      refusedHandshake(dp);
      ageFlow(dp, syn, 1_000_000_000n);
    },
    input: () => syn,
    verdict: 'TX',
    expected: towardsBackend(RS2, syn),
    after: (dp) => assert.equal(connOf(dp, syn).backendIp, RS2.ip),
  },
  {
    description: 'a SYN right after the client reset an answered handshake (SYN+ACK seen) gets a fresh backend choice',
    setup: (dp) => {
      base(dp);
      send(dp, syn);
      send(dp, fromBackend(dp, syn, SYNACK));
      send(dp, fromClient({ flags: RST }));
    },
    input: () => syn,
    verdict: 'TX',
    expected: towardsBackend(RS2, syn),
  },
];


const encodeKey = (k: LbFlowKey): Buffer => lbFlowKey.encode(k);

describe('packet tables (BPF_PROG_TEST_RUN on the built object)', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  const tables: Record<string, PacketCase[]> = {
    'TCP flow': tcpFlowCases,
    UDP: udpCases,
    'not ours': passCases,
    malformed: malformedCases,
    drops: dropCases,
    'backend choice': choiceCases,
    'SNAT allocation': snatCases,
    'refused handshake': refusedSynCases,
  };
  for (const [table, cases] of Object.entries(tables)) {
    describe(table, () => {
      for (const c of cases) it(c.description, () => runPacketCase(c));
    });
  }

  it('stamps each state so distinct per-state timeouts apply', () => {
    const classes: string[] = [];
    runPacketCase({
      description: 'SYN, established, closing and UDP flows',
      setup: (dp) => {
        base(dp);
        send(dp, fromClient({ port: 1001, flags: SYN }));
        handshake(dp, 1002);
        handshake(dp, 1003);
        send(dp, fromClient({ port: 1003, flags: FINACK }));
        send(dp, udp);
      },
      input: () => fromClient({ port: 1004, flags: SYN }),
      verdict: 'TX',
      after: (dp) => {
        const stamp = (f: Buffer): LbConn => connOf(dp, f);
        for (const f of [fromClient({ port: 1001 }), fromClient({ port: 1002 }), fromClient({ port: 1003 }), udp]) {
          const conn = stamp(f);
          assert.ok(conn.lastSeenNs >= conn.createdNs && conn.createdNs > 0n, 'last seen stamped');
          classes.push(connTimeoutClass(conn.state));
        }
      },
    });
    assert.deepEqual(classes, ['tcp_syn', 'tcp_established', 'tcp_closing', 'udp']);
  });

  it('stamps last_seen from the monotonic clock on every packet, both ways', () => {
    // The datapath's clock is CLOCK_MONOTONIC_COARSE: at most one tick behind Node's.
    const TICK_SLACK_NS = 20_000_000n;
    runPacketCase({
      description: 'last_seen',
      setup: (dp) => {
        base(dp);
        handshake(dp);
      },
      input: () => fromClient(),
      verdict: 'TX',
      after: (dp) => {
        const key = lbFlowKey.encode(clientKey(syn));
        for (const packet of [() => fromClient(), () => fromBackend(dp, syn, ACK)]) {
          dp.maps.map('lb_ct').update(key, lbConn.encode({ ...connOf(dp, syn), lastSeenNs: 1n }));
          const t0 = process.hrtime.bigint();
          send(dp, packet());
          const t1 = process.hrtime.bigint();
          const seen = connOf(dp, syn).lastSeenNs;
          assert.ok(seen >= t0 - TICK_SLACK_NS && seen <= t1, `last_seen ${seen} outside [${t0 - TICK_SLACK_NS}, ${t1}]`);
        }
      },
    });
  });
});

