// The readers of bench/connection-rate-wrk-bench.ts: wrk's text summary,
// the kernel's /proc/net counter tables, and the SNAT occupancy as the
// allocator sees it (which tuples a new flow could take over).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { snatOccupancy } from '../../bench/support/snat-occupancy.js';
import { counterDelta, parseProcNetCounters } from '../../bench/support/tcp-counters.js';
import { parseWrk } from '../../bench/support/wrk.js';
import { LbConnState, type LbConn, type LbFlowKey } from '../../src/datapath/codecs.js';

describe('parseWrk', () => {
  it('reads requests, duration, socket errors and bad answers', () => {
    const text = `Running 10s test @ http://198.18.0.10/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.81ms    4.20ms  78.84ms   91.00%
    Req/Sec     6.30k   500.00     7.00k    70.00%
  126135 requests in 10.06s, 19.13MB read
  Socket errors: connect 3, read 4, write 5, timeout 6
  Non-2xx or 3xx responses: 7
Requests/sec:  12538.27
`;
    assert.deepEqual(parseWrk(text), {
      requests: 126135,
      seconds: 10.06,
      errors: { connect: 3, read: 4, write: 5, timeout: 6, status: 7 },
      latency: { avg: '3.81ms', max: '78.84ms' },
    });
  });

  it('counts no errors when wrk prints none, and converts minutes', () => {
    const w = parseWrk('    Latency   1.00ms  1.00ms  2.00ms  50%\n  1200000 requests in 1.00m, 1MB read\n');
    assert.equal(w.seconds, 60);
    assert.deepEqual(w.errors, { connect: 0, read: 0, write: 0, timeout: 0, status: 0 });
  });

  it('refuses a text without a request count', () => {
    assert.throws(() => parseWrk('unable to connect to 198.18.0.10:80 Connection refused\n'), /no request count/);
  });
});

describe('parseProcNetCounters', () => {
  const text = 'Tcp: ActiveOpens PassiveOpens\nTcp: 10 20\nTcpExt: PAWSTimewait TCPSynRetrans\nTcpExt: 3 4\n';

  it('names every counter by group', () => {
    assert.deepEqual(parseProcNetCounters(text), { 'Tcp.ActiveOpens': 10, 'Tcp.PassiveOpens': 20, 'TcpExt.PAWSTimewait': 3, 'TcpExt.TCPSynRetrans': 4 });
  });

  it('refuses values under another group than their names', () => {
    assert.throws(() => parseProcNetCounters('Tcp: A\nUdp: 1\n'), /"Tcp" names followed by "Udp" values/);
  });

  it('gives differences, 0 for a counter the kernel lacks', () => {
    assert.deepEqual(counterDelta({ 'Tcp.ActiveOpens': 4 }, parseProcNetCounters(text), ['Tcp.ActiveOpens', 'TcpExt.Missing']), { 'Tcp.ActiveOpens': 6, 'TcpExt.Missing': 0 });
  });
});

describe('snatOccupancy', () => {
  const SEC = 1_000_000_000n;
  const owner = (port: number): LbFlowKey => ({ srcIp: '198.18.0.100', dstIp: '198.18.0.10', srcPort: port, dstPort: 80, proto: 6 });
  const reply = (port: number, backend: string): LbFlowKey => ({ srcIp: backend, dstIp: '198.18.0.5', srcPort: 80, dstPort: port, proto: 6 });
  const conn = (state: number, lastSeenNs: bigint): LbConn => ({ state, lastSeenNs } as LbConn);
  const FINS = LbConnState.SYN_SEEN | LbConnState.ESTABLISHED | LbConnState.FIN_CLIENT | LbConnState.FIN_BACKEND;

  it('counts a tuple available only when its flow is closed and idle for reuse_after', () => {
    const now = 100n * SEC;
    const tuples = [1, 2, 3, 4, 5, 6].map((p) => ({ reply: reply(10_000 + p, p < 6 ? '198.18.0.2' : '198.18.0.3'), owner: owner(p) }));
    const conns = [
      { key: owner(1), conn: conn(LbConnState.SYN_SEEN | LbConnState.ESTABLISHED, now - 5n * SEC) }, // open: unavailable however idle
      { key: owner(2), conn: conn(FINS, now - 2n * SEC) }, // closed, idle 2 s: takeable
      { key: owner(3), conn: conn(FINS, now - SEC / 2n) }, // closed half a second ago: not yet
      { key: owner(4), conn: conn(LbConnState.SYN_SEEN | LbConnState.RST, now - SEC) }, // reset, idle exactly reuse_after: takeable
      { key: owner(6), conn: conn(LbConnState.SYN_SEEN | LbConnState.FIN_CLIENT, now - 9n * SEC) }, // one FIN only: unavailable
    ];
    // owner 5 has no flow: an orphan only the GC frees.
    assert.deepEqual(snatOccupancy(tuples, conns, now, SEC), {
      '198.18.0.2': { held: 5, unavailable: 3 },
      '198.18.0.3': { held: 1, unavailable: 1 },
    });
  });
});
