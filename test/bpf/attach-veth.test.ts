/*
 * The built datapath object loads under this kernel's verifier (with the map
 * sizes it was built with, as the agent would load it) and lb_xdp attaches to
 * a veth in native and in generic mode, and 'auto' picks native on veth.
 *
 * Everything happens in a throw-away network namespace with one veth pair (no
 * addresses, no routes), from a child process of this same file started with
 * `nsenter --net=/run/netns/NAME` (keeps the host's bpffs, unlike
 * `ip netns exec`). The namespace and the pin directory are removed
 * afterwards, also when something fails. Needs root and the built object.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../../src/kernel/bpf-object.js';
import { ifindexOf } from '../../src/kernel/interfaces.js';
import {
  type XdpQueryResult,
  attachXdp,
  attachXdpAuto,
  closeLink,
  detachLink,
  detachPinnedLink,
  pinLink,
  queryXdp,
} from '../../src/kernel/xdp-attach.js';
import { IPPROTO_TCP, LbConnState } from '../../src/datapath/codecs.js';
import { verifyChecksums } from '../support/checksum.js';
import { CLIENT, LB_MAC, LoadedDatapath, OBJECT_PATH, RS1, SNAT_IP, VIP } from '../support/datapath-fixture.js';
import { buildFrame, ipToBe32Buffer, parseFrame } from '../support/packet.js';
import {
  BPFFS,
  createNetnsWithVeth,
  deleteNetns,
  mountBpffs,
  netnsExists,
  reportToParent,
  runNodeInNetns,
} from '../support/netns.js';

const SELF = fileURLToPath(import.meta.url);
const CHILD_ENV = 'XDP4SLB_ATTACH_VETH_CHILD';
const PIN_ENV = 'XDP4SLB_ATTACH_VETH_PIN';
const LB_IF = 'at0';
const PEER_IF = 'at1';

/* ---- child side: runs inside the namespace ------------------------------- */

interface ChildResult {
  progId: number;
  loadMs: number;
  before: XdpQueryResult;
  native: {
    query: XdpQueryResult;
    pinned: boolean;
    afterCloseQuery: XdpQueryResult;
    detached: boolean;
    pinLeft: boolean;
    after: XdpQueryResult;
  };
  generic: { query: XdpQueryResult; after: XdpQueryResult };
  auto: { mode: string; query: XdpQueryResult; after: XdpQueryResult };
}

/** The kernel's id of a program, from its fd's /proc fdinfo. */
function progIdOfFd(fd: number): number {
  const m = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!m) throw new Error(`fd ${fd} has no prog_id in its fdinfo`);
  return Number(m[1]);
}

function childMain(linkPin: string): ChildResult {
  const lb = ifindexOf(LB_IF);
  const peer = ifindexOf(PEER_IF);
  const t0 = performance.now();
  // No max_entries overrides: the sizes compiled into the object.
  const obj = BpfObject.open(OBJECT_PATH);
  try {
    obj.load();
    const loadMs = performance.now() - t0;
    const prog = obj.program('lb_xdp').fd;
    const progId = progIdOfFd(prog);
    const before = queryXdp(lb);

    // Native, through a pinned link as the agent holds it.
    let link = attachXdp(prog, lb, 'native');
    const nativeQuery = queryXdp(lb);
    pinLink(link, linkPin);
    const pinned = existsSync(linkPin);
    closeLink(link);
    const afterCloseQuery = queryXdp(lb); // the pin keeps it attached
    const detached = detachPinnedLink(linkPin);
    const native = {
      query: nativeQuery,
      pinned,
      afterCloseQuery,
      detached,
      pinLeft: existsSync(linkPin),
      after: queryXdp(lb),
    };

    link = attachXdp(prog, lb, 'generic');
    const genericQuery = queryXdp(lb);
    detachLink(link);
    closeLink(link);
    const generic = { query: genericQuery, after: queryXdp(lb) };

    const a = attachXdpAuto(prog, peer);
    const autoQuery = queryXdp(peer);
    closeLink(a.linkFd); // unpinned: closing its only fd detaches it
    const auto = { mode: a.mode, query: autoQuery, after: queryXdp(peer) };

    return { progId, loadMs, before, native, generic, auto };
  } finally {
    obj.close();
  }
}


/*
 * Sends one frame out of an interface through an AF_PACKET socket and prints
 * (hex) the first frame that comes in on it addressed to the wanted IPv4
 * destination; exit 3 on timeout. Node has no raw sockets.
 */
const PY_SEND_AND_CATCH = `
import select, socket, sys, time
ifname, frame, want, timeout = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((ifname, 0))
s.send(frame)
deadline = time.monotonic() + timeout
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        sys.exit(3)
    if not select.select([s], [], [], left)[0]:
        continue
    data, addr = s.recvfrom(65535)
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    if len(data) >= 34 and data[12:14] == b'\\x08\\x00' and data[30:34] == want:
        print(data.hex())
        sys.exit(0)
`;
const CATCH_TIMEOUT_S = 2;

function sendAndCatch(frame: Buffer, wantDst: string): Buffer {
  const res = spawnSync(
    'python3',
    ['-c', PY_SEND_AND_CATCH, PEER_IF, frame.toString('hex'), ipToBe32Buffer(wantDst).toString('hex'), String(CATCH_TIMEOUT_S)],
    { encoding: 'utf8', timeout: (CATCH_TIMEOUT_S + 5) * 1000 },
  );
  if (res.status === 3) throw new Error(`no frame to ${wantDst} came back on ${PEER_IF} within ${CATCH_TIMEOUT_S} s`);
  if (res.status !== 0) throw new Error(`python3 frame sender failed (${res.status ?? res.signal}): ${res.stderr}`);
  return Buffer.from(res.stdout.trim(), 'hex');
}

interface E2eResult {
  toBackend: string;
  toClient: string;
  state: number;
  snatPort: number;
}

const E2E_CLIENT_PORT = 41000;

/*
 * A client's SYN sent from the peer end goes through lb_xdp (native, on the
 * LB end) and must come back as XDP_TX towards the backend; the backend's
 * SYN+ACK must come back towards the client. The peer end runs lb_xdp too:
 * native XDP_TX on veth only delivers to a peer that has an XDP program
 * (PLATFORM.md), and lb_xdp passes what is not addressed to it.
 */
function childE2e(): E2eResult {
  const lb = ifindexOf(LB_IF);
  const peer = ifindexOf(PEER_IF);
  const dp = LoadedDatapath.load();
  const links: number[] = [];
  try {
    dp.setSnatPool();
    dp.addService({ id: 0, backends: [RS1] });
    links.push(attachXdp(dp.progFd, lb, 'native'));
    links.push(attachXdp(dp.progFd, peer, 'native'));

    const syn = buildFrame({
      srcMac: CLIENT.mac,
      dstMac: LB_MAC,
      srcIp: CLIENT.ip,
      dstIp: VIP,
      proto: 'tcp',
      srcPort: E2E_CLIENT_PORT,
      dstPort: 80,
      tcpFlags: { syn: true },
      seq: 1000,
    });
    const toBackend = sendAndCatch(syn, RS1.ip);
    const conn = dp.maps.conn({ srcIp: CLIENT.ip, dstIp: VIP, srcPort: E2E_CLIENT_PORT, dstPort: 80, proto: IPPROTO_TCP });
    if (!conn) throw new Error('the SYN went through but left no conntrack entry');

    const synAck = buildFrame({
      srcMac: RS1.mac,
      dstMac: LB_MAC,
      srcIp: RS1.ip,
      dstIp: conn.snatIp,
      proto: 'tcp',
      srcPort: RS1.port,
      dstPort: conn.snatPort,
      tcpFlags: { syn: true, ack: true },
      seq: 5000,
      ack: 1001,
    });
    const toClient = sendAndCatch(synAck, CLIENT.ip);
    const after = dp.maps.conn({ srcIp: CLIENT.ip, dstIp: VIP, srcPort: E2E_CLIENT_PORT, dstPort: 80, proto: IPPROTO_TCP });
    return {
      toBackend: toBackend.toString('hex'),
      toClient: toClient.toString('hex'),
      state: after?.state ?? -1,
      snatPort: conn.snatPort,
    };
  } finally {
    for (const link of links) {
      detachLink(link);
      closeLink(link);
    }
    dp.close();
  }
}

const childPhase = process.env[CHILD_ENV];
if (childPhase !== undefined) {
  reportToParent(() => (childPhase === 'e2e' ? childE2e() : childMain(process.env[PIN_ENV] ?? '')));
} else {
  /* ---- test side --------------------------------------------------------- */
  const netns = `xdp4slb-at-${process.pid}`;
  const pinDir = path.join(BPFFS, `xdp4slb-at-${process.pid}`);

  describe('lb_xdp on a veth', () => {
    let r: ChildResult | undefined;
    let childError: unknown;

    before(() => {
      assert.ok(existsSync(OBJECT_PATH), `${OBJECT_PATH} is missing: run \`make -C bpf\` first`);
      mountBpffs();
      mkdirSync(pinDir);
      createNetnsWithVeth(netns, LB_IF, PEER_IF);
      execFileSync('ip', ['-n', netns, 'link', 'set', LB_IF, 'address', LB_MAC]);
      // A failure in the child is reported by every test below, not by the hook.
      try {
        r = runNodeInNetns<ChildResult>(netns, SELF, {
          [CHILD_ENV]: 'attach',
          [PIN_ENV]: path.join(pinDir, 'xdp_link'),
        });
      } catch (err) {
        childError = err;
      }
    });

    after(() => {
      // Removing the pin releases a link a failed child left behind; deleting
      // the namespace removes the veth pair and whatever is attached to it.
      rmSync(pinDir, { recursive: true, force: true });
      deleteNetns(netns);
      assert.ok(!netnsExists(netns), `namespace ${netns} is still there`);
      assert.ok(!existsSync(pinDir), `${pinDir} is still there`);
    });

    function result(): ChildResult {
      if (childError !== undefined) throw childError;
      assert.ok(r, 'the child in the namespace reported nothing');
      return r;
    }

    it('loads under the verifier with the built-in map sizes', (t) => {
      const { progId, loadMs, before } = result();
      assert.ok(Number.isInteger(progId) && progId > 0, `program id ${progId}`);
      assert.equal(before.mode, 'none', 'the fresh veth already had a program');
      t.diagnostic(`loaded in ${loadMs.toFixed(0)} ms, lb_xdp is program ${progId}`);
    });

    it('attaches in native mode through a pinned link, and detaches', () => {
      const { progId, native } = result();
      assert.equal(native.query.mode, 'native');
      assert.equal(native.query.progId, progId);
      assert.equal(native.query.drvProgId, progId);
      assert.equal(native.query.skbProgId, 0);
      assert.equal(native.pinned, true);
      assert.equal(native.afterCloseQuery.mode, 'native', 'the pinned link did not keep the program attached');
      assert.equal(native.afterCloseQuery.progId, progId);
      assert.equal(native.detached, true);
      assert.equal(native.pinLeft, false);
      assert.equal(native.after.mode, 'none');
      assert.equal(native.after.progId, 0);
    });

    it('attaches in generic mode, and detaches', () => {
      const { progId, generic } = result();
      assert.equal(generic.query.mode, 'generic');
      assert.equal(generic.query.progId, progId);
      assert.equal(generic.query.skbProgId, progId);
      assert.equal(generic.query.drvProgId, 0);
      assert.equal(generic.after.mode, 'none');
      assert.equal(generic.after.progId, 0);
    });

    it("'auto' attaches natively on veth", () => {
      const { progId, auto } = result();
      assert.equal(auto.mode, 'native');
      assert.equal(auto.query.mode, 'native');
      assert.equal(auto.query.drvProgId, progId);
      assert.equal(auto.after.mode, 'none');
    });

    const noPython = spawnSync('python3', ['-c', 'pass']).status !== 0;
    it(
      'forwards a SYN to the backend and its SYN+ACK back to the client over the veth (native, XDP_TX)',
      { skip: noPython ? 'python3 is needed to send and catch raw frames' : false },
      () => {
        result(); // the attach checks ran first
        const e2e = runNodeInNetns<E2eResult>(netns, SELF, { [CHILD_ENV]: 'e2e' });

        const toBackend = Buffer.from(e2e.toBackend, 'hex');
        const b = parseFrame(toBackend);
        assert.equal(b.srcMac, LB_MAC);
        assert.equal(b.dstMac, RS1.mac);
        assert.equal(b.srcIp, SNAT_IP);
        assert.equal(b.dstIp, RS1.ip);
        assert.equal(b.srcPort, e2e.snatPort);
        assert.equal(b.dstPort, RS1.port);
        assert.ok(b.tcpFlags.syn && !b.tcpFlags.ack, 'not a SYN');
        assert.equal(b.seq, 1000);
        const bSums = verifyChecksums(toBackend);
        assert.ok(bSums.ipOk && bSums.l4Checked && bSums.l4Ok, `frame to the backend has bad checksums: ${bSums.details}`);

        const toClient = Buffer.from(e2e.toClient, 'hex');
        const c = parseFrame(toClient);
        assert.equal(c.srcMac, LB_MAC);
        assert.equal(c.dstMac, CLIENT.mac);
        assert.equal(c.srcIp, VIP);
        assert.equal(c.dstIp, CLIENT.ip);
        assert.equal(c.srcPort, 80);
        assert.equal(c.dstPort, E2E_CLIENT_PORT);
        assert.ok(c.tcpFlags.syn && c.tcpFlags.ack, 'not a SYN+ACK');
        assert.equal(c.ack, 1001);
        const cSums = verifyChecksums(toClient);
        assert.ok(cSums.ipOk && cSums.l4Checked && cSums.l4Ok, `frame to the client has bad checksums: ${cSums.details}`);

        assert.equal(e2e.state, LbConnState.SYN_SEEN | LbConnState.SYNACK_SEEN);
      },
    );
  });
}
