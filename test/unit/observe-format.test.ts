// The status view's pure parts: units, column alignment, the table, the
// JSON document, rates between two snapshots, the conntrack listing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LbConnState } from '../../src/datapath/codecs.js';
import { connStateName } from '../../src/datapath/conn-state.js';
import type { ConnectionListing } from '../../src/observe/connections.js';
import { formatConnections } from '../../src/observe/format-connections.js';
import { formatStatusTable } from '../../src/observe/format-status-table.js';
import { ratesBetween } from '../../src/observe/rates.js';
import type { BackendStatus, ServiceStatus, Snapshot, Traffic } from '../../src/observe/snapshot.js';
import { statusJson } from '../../src/observe/status-json.js';
import { alignColumns } from '../../src/observe/text-table.js';
import { formatBitRate, formatBytes, formatCount, formatDuration, formatRate } from '../../src/observe/units.js';

const S = 1_000_000_000n;

function traffic(packetsIn: number, bytesIn: number, packetsOut = packetsIn, bytesOut = bytesIn, newFlows = 0): Traffic {
  return { packetsIn: BigInt(packetsIn), bytesIn: BigInt(bytesIn), packetsOut: BigInt(packetsOut), bytesOut: BigInt(bytesOut), newFlows: BigInt(newFlows) };
}

function backend(id: number, address: string, extra: Partial<BackendStatus> = {}): BackendStatus {
  return {
    id,
    address,
    port: 80,
    weight: 1,
    admin: 'active',
    health: 'healthy',
    resolution: 'resolved',
    mac: '02:00:00:00:00:0' + String(id),
    activeConns: 2,
    changedNs: 90n * S,
    traffic: traffic(10, 1000, 8, 4000, 2),
    ...extra,
  };
}

function service(backends: BackendStatus[], extra: Partial<ServiceStatus> = {}): ServiceStatus {
  return { id: 0, name: 'web', vip: '198.18.0.10', port: 80, protocol: 'tcp', scheduler: 'round_robin', traffic: traffic(20, 2000, 16, 8000, 4), backends, ...extra };
}

const COUNTERS = {
  drop_no_conntrack: 3n,
  drop_fragment: 0n,
  drop_no_backend: 0n,
  drop_no_mac: 0n,
  drop_snat_exhausted: 0n,
  drop_conntrack_full: 0n,
  pass_malformed: 1n,
};

function snapshot(extra: Partial<Snapshot> = {}): Snapshot {
  return {
    takenAtNs: 100n * S,
    datapath: { interface: 'eth0', ifindex: 2, xdpMode: 'native', attachedMode: 'native' },
    agent: {
      pid: 42,
      running: true,
      startedNs: 40n * S,
      lastReload: { result: 'applied', atNs: 95n * S, operations: 1 },
      appliedNs: 95n * S,
      configDigest: '0123456789abcdef',
      reloads: { applied: 2, rejected: 1, failed: 0 },
      gc: { passes: 50n, atNs: 99n * S, durationNs: 2_000_000n, scanned: 4, expired: 1, removed: 0, entries: 3 },
    },
    services: [service([backend(0, '198.18.0.2'), backend(1, '198.18.0.3', { health: 'unhealthy', resolution: 'no_answer', mac: undefined, activeConns: 0 })])],
    counters: COUNTERS,
    conntrack: { entries: 4, capacity: 1000, snatInUse: new Map([['198.18.0.5', 4]]), snatAddresses: ['198.18.0.5'], snatPorts: { min: 10000, max: 32767 }, counted: 'scan' },
    ...extra,
  };
}

describe('units', () => {
  it('counts exact below 100,000, then scaled', () => {
    assert.deepEqual([0, 99_999, 100_000, 1_234_567, 5n * 10n ** 9n].map(formatCount), ['0', '99999', '100K', '1.23M', '5.00G']);
  });
  it('bytes in binary units', () => {
    assert.deepEqual([0, 1023, 1024, 1536, 10 * 1024 * 1024, 3 * 1024 ** 3].map(formatBytes), ['0 B', '1023 B', '1.00 KiB', '1.50 KiB', '10.0 MiB', '3.00 GiB']);
  });
  it('rates and bit rates', () => {
    assert.deepEqual([0, 2.5, 99.94, 1500].map(formatRate), ['0', '2.5', '99.9', '1.50K']);
    assert.deepEqual([0, 812, 1_200_000, 10e9].map(formatBitRate), ['0 bps', '812 bps', '1.20 Mbps', '10.0 Gbps']);
  });
  it('durations', () => {
    assert.deepEqual(
      [0n, 850_000_000n, 12_300_000_000n, 303n * S, 7500n * S, 3n * 86_400n * S + 4n * 3600n * S, -5n].map(formatDuration),
      ['0ms', '850ms', '12.3s', '5m03s', '2h05m', '3d04h', '0s'],
    );
  });
});

describe('alignColumns', () => {
  it('pads each column to its widest cell, numbers right, no trailing blanks', () => {
    assert.deepEqual(
      alignColumns(
        [
          ['name', 'n', 'x'],
          ['a', '1000', ''],
          ['longer', '7', ''],
        ],
        ['left', 'right', 'left'],
      ),
      ['name       n  x', 'a       1000', 'longer     7'],
    );
  });
});

describe('formatStatusTable', () => {
  it('a header per concern, a row per service and backend in aligned columns, then the counters', () => {
    const text = formatStatusTable(snapshot());
    const lines = text.split('\n');
    assert.equal(lines[0], 'datapath   eth0 (ifindex 2), native XDP');
    assert.equal(lines[1], 'agent      running, pid 42, up 1m00s; last reload applied 5.0s ago (1 operation); config 0123456789abcdef');
    assert.equal(lines[2], 'conntrack  4 of 1000 entries (0.4%); last GC 1.0s ago: 4 scanned, 1 expired, 0 removed otherwise, in 2ms');
    assert.equal(lines[3], 'snat       198.18.0.5 4 in use; ports 10000-32767 per address and backend');
    const table = lines.slice(5, 9);
    assert.match(table[0]!, /^Service \/ Backend\s+Prot\s+Sched \/ State\s+Health\s+MAC\s+Weight\s+Conns\s+InPkts\s+OutPkts\s+InBytes\s+OutBytes\s+NewFlows$/);
    assert.match(table[1]!, /^web 198\.18\.0\.10:80\s+TCP\s+round_robin\s+2\s+20\s+16\s+1\.95 KiB\s+7\.81 KiB\s+4$/);
    assert.match(table[2]!, /^ {2}-> 198\.18\.0\.2:80\s+active\s+healthy\s+02:00:00:00:00:00\s+1\s+2\s+10\s+8\s+1000 B\s+3\.91 KiB\s+2$/);
    assert.match(table[3]!, /^ {2}-> 198\.18\.0\.3:80\s+active\s+unhealthy\s+unresolved: no ARP answer\s+1\s+0\s/);
    // Aligned: every row's last column ends at the same place.
    assert.equal(new Set(table.map((l) => l.length)).size, 1, table.join('\n'));
    assert.match(text, /\ndrops\s+no_conntrack 3, fragment 0, no_backend 0, no_mac 0, snat_exhausted 0, conntrack_full 0\npassed\s+malformed 1\n$/);
  });

  it('says when the agent is not running, and since when its records are', () => {
    const s = snapshot();
    const text = formatStatusTable({ ...s, agent: { ...s.agent!, running: false } });
    assert.match(text, /agent {6}NOT RUNNING \(pid 42 is gone; its records are from 1\.0s ago\); the datapath keeps forwarding; last reload applied/);
    assert.match(formatStatusTable({ ...s, agent: undefined, services: [] }), /agent {6}no agent record[^\n]*\n[\s\S]*\nno services\n/);
  });

  it('with rates, per-second columns replace the totals', () => {
    const before = snapshot();
    const after = snapshot({
      takenAtNs: 102n * S,
      services: [service([backend(0, '198.18.0.2', { traffic: traffic(210, 251000, 8, 4000, 2) })], { traffic: traffic(220, 252000, 16, 8000, 4) })],
      counters: { ...COUNTERS, drop_no_conntrack: 7n },
    });
    const text = formatStatusTable(after, ratesBetween(before, after));
    assert.match(text, /InPPS\s+OutPPS\s+InBPS\s+OutBPS\s+Flows\/s/);
    assert.match(text, /-> 198\.18\.0\.2:80 .* 100\s+0\s+1\.00 Mbps\s+0 bps\s+0$/m);
    assert.match(text, /no_conntrack 7 \(2\.0\/s\)/);
    assert.match(text, /rates over the last 2\.0s\n$/);
  });
});

describe('statusJson', () => {
  it('plain numbers, ages in seconds, names as in the config, stable key order', () => {
    const doc = statusJson(snapshot()) as Record<string, any>;
    assert.deepEqual(Object.keys(doc), ['datapath', 'agent', 'services', 'counters', 'conntrack']);
    assert.deepEqual(doc['agent'], {
      pid: 42,
      running: true,
      uptimeSeconds: 60,
      lastReload: { result: 'applied', secondsAgo: 5, operations: 1 },
      lastAppliedSecondsAgo: 5,
      configDigest: '0123456789abcdef',
      reloads: { applied: 2, rejected: 1, failed: 0 },
      gc: { passes: 50, lastSecondsAgo: 1, durationSeconds: 0.002, scanned: 4, expired: 1, removed: 0, entries: 3 },
    });
    assert.deepEqual(doc['services'][0].backends[1], {
      id: 1,
      address: '198.18.0.3',
      port: 80,
      weight: 1,
      state: 'active',
      health: 'unhealthy',
      resolution: 'no_answer',
      resolved: false,
      mac: null,
      activeConnections: 0,
      changedSecondsAgo: 10,
      traffic: { packetsIn: 10, packetsOut: 8, bytesIn: 1000, bytesOut: 4000, newFlows: 2 },
    });
    assert.equal(doc['counters'].drop_no_conntrack, 3);
    assert.deepEqual(doc['conntrack'], {
      entries: 4,
      capacity: 1000,
      counted: 'scan',
      snat: { ports: { min: 10000, max: 32767 }, addresses: [{ address: '198.18.0.5', inPool: true, inUse: 4 }] },
    });
    // Round-trips through JSON unchanged (no bigint, no undefined).
    assert.deepEqual(JSON.parse(JSON.stringify(doc)), doc);
  });
});

describe('ratesBetween', () => {
  it('per second, bits from bytes; nothing for a reused id, a counter that went down, or no time', () => {
    const before = snapshot();
    const after = snapshot({
      takenAtNs: 104n * S,
      services: [
        service([
          backend(0, '198.18.0.2', { traffic: traffic(50, 3000, 28, 4000, 6) }),
          // Id 1 is now another backend: no rate.
          backend(1, '198.18.0.9'),
        ]),
      ],
      counters: { ...COUNTERS, drop_no_conntrack: 1n },
    });
    const rates = ratesBetween(before, after)!;
    assert.equal(rates.intervalSec, 4);
    assert.deepEqual(rates.backends.get(0), { packetsInPerSec: 10, packetsOutPerSec: 5, bitsInPerSec: 4000, bitsOutPerSec: 0, newFlowsPerSec: 1 });
    assert.equal(rates.backends.has(1), false);
    assert.equal(rates.counters['drop_no_conntrack'], undefined);
    assert.equal(rates.counters['pass_malformed'], 0);
    assert.equal(ratesBetween(before, before), undefined);
  });
});

describe('conntrack listing', () => {
  it('state names from the bits', () => {
    const { SYN_SEEN, SYNACK_SEEN, ESTABLISHED, FIN_CLIENT, FIN_BACKEND, RST, RELEASED, UDP } = LbConnState;
    assert.deepEqual(
      [SYN_SEEN, SYN_SEEN | SYNACK_SEEN, SYN_SEEN | SYNACK_SEEN | ESTABLISHED, ESTABLISHED | FIN_CLIENT, ESTABLISHED | FIN_CLIENT | FIN_BACKEND, ESTABLISHED | RST, UDP, UDP | RELEASED].map(connStateName),
      ['syn_sent', 'syn_recv', 'established', 'closing', 'closed', 'reset', 'udp', 'released'],
    );
  });

  it('aligned rows sorted by service and client, and how many of how many', () => {
    const conn = (service: string | undefined, clientPort: number, createdS: bigint) => ({
      service,
      protocol: 'tcp' as const,
      client: { address: '198.18.0.100', port: clientPort },
      vip: { address: '198.18.0.10', port: 80 },
      snat: { address: '198.18.0.5', port: 10000 + clientPort },
      backend: { address: '198.18.0.2', port: 80 },
      state: 'established' as const,
      createdNs: createdS * S,
      lastSeenNs: 99n * S,
    });
    const listing: ConnectionListing = { takenAtNs: 100n * S, connections: [conn('web', 2, 40n), conn('api', 1, 95n)], matched: 2, total: 9 };
    assert.equal(
      formatConnections(listing),
      [
        'Service  Prot  Client          VIP             SNAT              Backend        State          Age  Idle',
        'api      TCP   198.18.0.100:1  198.18.0.10:80  198.18.0.5:10001  198.18.0.2:80  established   5.0s  1.0s',
        'web      TCP   198.18.0.100:2  198.18.0.10:80  198.18.0.5:10002  198.18.0.2:80  established  1m00s  1.0s',
        '2 of 2 matching (9 in all) connections shown',
        '',
      ].join('\n'),
    );
    assert.equal(formatConnections({ takenAtNs: 0n, connections: [], matched: 0, total: 0 }), '0 of 0 connections shown\n');
  });
});
