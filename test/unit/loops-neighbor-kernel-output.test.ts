/*
 * The pure parts of the neighbour loop's kernel adapter: reading `ip -j`
 * route and neighbour output (samples captured from iproute2 6.1 on Linux
 * 6.18), which entries give a MAC or may be resolved again, and the batch
 * lines that do it. The kernel behaviour itself: test/e2e/neighbor-resolver.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostError } from '../../src/host/host-error.js';
import {
  hasFailed,
  mayReresolve,
  parseNeighborTable,
  reresolveLines,
  usableMac,
  type NeighborEntry,
} from '../../src/host/neighbor-table.js';
import { nextHopsFor, parseRouteAnswers } from '../../src/host/route-lookup.js';

/* `ip -j -force -batch` of route get 198.18.0.2, 198.18.5.5 (no route), 198.18.2.2, 198.18.0.1, 198.18.0.255. */
const ROUTE_BATCH = [
  '[{"dst":"198.18.0.2","dev":"eth0","prefsrc":"198.18.0.1","flags":[],"uid":0,"cache":[]}]',
  '[{"dst":"198.18.2.2","gateway":"198.18.0.254","dev":"eth0","prefsrc":"198.18.0.1","flags":[],"uid":0,"cache":[]}]',
  '[{"type":"local","dst":"198.18.0.1","dev":"lo","prefsrc":"198.18.0.1","flags":[],"uid":0,"cache":["local"]}]',
  '[{"type":"broadcast","dst":"198.18.0.255","dev":"eth0","prefsrc":"198.18.0.1","flags":[],"uid":0,"cache":["local","brd"]}]',
  '',
].join('\n');

/* `ip -j -4 neigh show nud all`, one entry of each kind (the lladdr of the PERMANENT one was added in upper case). */
const NEIGH_SHOW = JSON.parse(
  '[{"dst":"198.18.0.2","dev":"eth0","state":["FAILED"]},' +
    '{"dst":"198.18.0.50","dev":"eth0","lladdr":"02:AA:bb:cc:dd:ee","state":["PERMANENT"]},' +
    '{"dst":"198.18.0.53","dev":"eth0","lladdr":"02:aa:bb:cc:dd:f1","extern_learn":null,"state":["REACHABLE"]},' +
    '{"dst":"198.18.0.54","dev":"eth0","managed":null,"state":["INCOMPLETE"]},' +
    '{"dst":"198.18.0.51","dev":"eth0","lladdr":"02:aa:bb:cc:dd:ef","state":["NOARP"]},' +
    '{"dst":"198.18.0.52","dev":"eth0","lladdr":"02:aa:bb:cc:dd:f0","router":null,"state":["STALE"]}]',
) as unknown;

function entry(states: string[], extra: Partial<NeighborEntry> = {}): NeighborEntry {
  return { address: '198.18.0.2', dev: 'eth0', mac: '02:00:00:00:00:02', states, managed: false, externLearn: false, ...extra };
}

describe('route answers', () => {
  it('gives the address itself as next hop on a connected subnet and the gateway behind a router; drops non-unicast routes', () => {
    assert.deepEqual(
      [...parseRouteAnswers(ROUTE_BATCH)],
      [
        ['198.18.0.2', { nextHop: '198.18.0.2', ifname: 'eth0' }],
        ['198.18.2.2', { nextHop: '198.18.0.254', ifname: 'eth0' }],
      ],
    );
  });

  it('drops an IPv4 route with an IPv6 next hop (ND, not ARP)', () => {
    const line = '[{"dst":"198.18.3.3","via":{"family":"inet6","host":"fe80::1"},"dev":"eth0","flags":[],"uid":0,"cache":[]}]';
    assert.equal(parseRouteAnswers(line).size, 0);
  });

  it('rejects output that is not one JSON array of routes per line', () => {
    for (const bad of ['RTNETLINK answers: Network is unreachable', '{"dst":"198.18.0.2"}', '[{"dst":"198.18.0.2"}]']) {
      assert.throws(() => parseRouteAnswers(bad), (e: unknown) => e instanceof HostError && e.code === 'EHOST_IP_OUTPUT', bad);
    }
  });

  it('refuses anything but a dotted quad before running ip', async () => {
    for (const bad of ['198.18.0.2/24', '-h', '198.18.0.2 dev lo', '']) {
      await assert.rejects(nextHopsFor(['198.18.0.3', bad]), RangeError, bad);
    }
  });
});

describe('neighbour table', () => {
  it('reads address, dev, lower-case MAC, states and the managed and extern_learn flags', () => {
    const entries = parseNeighborTable(NEIGH_SHOW);
    assert.deepEqual(entries[0], { address: '198.18.0.2', dev: 'eth0', states: ['FAILED'], managed: false, externLearn: false });
    assert.equal(entries[1]?.mac, '02:aa:bb:cc:dd:ee');
    assert.deepEqual(
      entries.map((e) => [e.address, e.managed, e.externLearn]),
      [
        ['198.18.0.2', false, false],
        ['198.18.0.50', false, false],
        ['198.18.0.53', false, true],
        ['198.18.0.54', true, false],
        ['198.18.0.51', false, false],
        ['198.18.0.52', false, false],
      ],
    );
  });

  it('rejects entries without dst, dev or a state list', () => {
    for (const bad of [{}, [{ dst: '198.18.0.2', state: ['STALE'] }], [{ dst: '198.18.0.2', dev: 'eth0', state: 'STALE' }], [null]]) {
      assert.throws(() => parseNeighborTable(bad), (e: unknown) => e instanceof HostError && e.code === 'EHOST_IP_OUTPUT', JSON.stringify(bad));
    }
  });

  it('has a usable MAC only in a valid state with a 6-byte address', () => {
    for (const state of ['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']) {
      assert.equal(usableMac(entry([state])), '02:00:00:00:00:02', state);
    }
    for (const state of ['FAILED', 'INCOMPLETE', 'NONE']) assert.equal(usableMac(entry([state])), undefined, state);
    assert.equal(usableMac(entry(['REACHABLE'], { mac: '0a:00:00:01' })), undefined, 'a tunnel address is no MAC');
    const { mac: _, ...noMac } = entry(['NOARP']);
    assert.equal(usableMac(noMac), undefined);
    assert.equal(usableMac(undefined), undefined);
  });

  it('has failed only in FAILED', () => {
    assert.equal(hasFailed(entry(['FAILED'])), true);
    assert.equal(hasFailed(entry(['INCOMPLETE'])), false);
    assert.equal(hasFailed(undefined), false);
  });

  it('resolves again anything but static entries, extern_learn ones and those the kernel is resolving', () => {
    assert.equal(mayReresolve(undefined), true, 'no entry yet');
    for (const state of ['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'FAILED', 'NONE']) assert.equal(mayReresolve(entry([state])), true, state);
    for (const state of ['INCOMPLETE', 'PERMANENT', 'NOARP']) assert.equal(mayReresolve(entry([state])), false, state);
    assert.equal(mayReresolve(entry(['REACHABLE'], { externLearn: true })), false, 'extern_learn');
    assert.equal(mayReresolve(entry(['REACHABLE'], { managed: true })), true, 'managed');
  });
});

describe('re-resolution lines', () => {
  it('drops the MAC, then resolves by broadcast: `use`, or `managed` to keep that flag', () => {
    const { lines, skipped } = reresolveLines([
      { address: '198.18.0.2', dev: 'eth0', managed: false },
      { address: '198.18.0.254', dev: 'bond0.100', managed: true },
    ]);
    assert.deepEqual(lines, [
      'neigh replace 198.18.0.2 dev eth0 nud none',
      'neigh replace 198.18.0.2 dev eth0 use',
      'neigh replace 198.18.0.254 dev bond0.100 nud none',
      'neigh replace 198.18.0.254 dev bond0.100 managed',
    ]);
    assert.deepEqual(skipped, []);
  });

  it('leaves out targets whose address or interface name could become other words of a line', () => {
    const bad = [
      { address: '198.18.0.2 lladdr 02:00:00:00:00:01', dev: 'eth0', managed: false },
      { address: '198.18.0.2', dev: 'eth0 nud permanent', managed: false },
      { address: '198.18.0.2', dev: '"eth0"', managed: false },
      { address: '198.18.0.2', dev: '#eth0', managed: false },
      { address: '198.18.0.2', dev: 'a-name-too-long-0', managed: false },
    ];
    const good = { address: '198.18.0.3', dev: 'eth0', managed: false };
    const { lines, skipped } = reresolveLines([...bad, good]);
    assert.deepEqual(lines, ['neigh replace 198.18.0.3 dev eth0 nud none', 'neigh replace 198.18.0.3 dev eth0 use']);
    assert.deepEqual(skipped, bad);
  });
});
