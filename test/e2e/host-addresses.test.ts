/*
 * src/host/ against a real kernel: listing addresses, announcing a VIP as a
 * /32 and taking it back, never touching an address the agent did not add,
 * the facts --check uses, and how an `ip` failure reads.
 *
 * Everything happens in a throw-away network namespace with one veth pair
 * (addresses from 198.18.0.0/15 only, no route out). The functions act on
 * the caller's namespace, so they run in host-addresses-child.js, started
 * with `nsenter --net=/run/netns/NAME`; what they did is checked from here
 * with `ip -n NAME`, independently of the code under test. The namespace is
 * removed afterwards, also when something fails. Needs root and iproute2.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createNetnsWithVeth, deleteNetns, netnsExists, runNodeInNetns } from '../support/netns.js';
import { OPS_ENV, type HostOp, type OpError, type OpOutcome } from './host-addresses-child.js';

const CHILD = fileURLToPath(new URL('./host-addresses-child.js', import.meta.url));
const NS = `xlb-host-${process.pid}`;
const IF = 'hv0';
const PEER = 'hv1';
/** Configured by the "operator" before the tests: the agent must leave them alone. */
const OPERATOR_NET = '198.18.1.1/24';
const OPERATOR_HOST = '198.18.1.20/32';
const VIP = '198.18.1.10';
const VIP2 = '198.18.1.11';

/** Run the operations in the namespace, in order; one child process for all of them. */
function inNetns(...ops: HostOp[]): OpOutcome[] {
  return runNodeInNetns<OpOutcome[]>(NS, CHILD, { [OPS_ENV]: JSON.stringify(ops) });
}

function valuesOf(outcomes: OpOutcome[]): unknown[] {
  return outcomes.map((o) => {
    if (o.error !== undefined) assert.fail(`${o.error.name}: ${o.error.message}`);
    return o.value;
  });
}

function errorOf(outcome: OpOutcome | undefined): OpError {
  assert.ok(outcome?.error, `expected a failure, got ${JSON.stringify(outcome)}`);
  return outcome.error;
}

/** ADDRESS/PREFIX of every IPv4 address on the interface, as `ip -n` sees it. */
function addressesOn(ifname: string): string[] {
  const out = execFileSync('ip', ['-n', NS, '-j', '-4', 'addr', 'show', 'dev', ifname], { encoding: 'utf8' });
  const links = JSON.parse(out) as { addr_info?: { local: string; prefixlen: number }[] }[];
  return links.flatMap((link) => link.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

function ifindexOf(ifname: string): number {
  const out = execFileSync('ip', ['-n', NS, '-j', 'link', 'show', 'dev', ifname], { encoding: 'utf8' });
  return (JSON.parse(out) as { ifindex: number }[])[0]!.ifindex;
}

describe('host addresses in a network namespace', () => {
  before(() => {
    createNetnsWithVeth(NS, IF, PEER);
    execFileSync('ip', ['-n', NS, 'addr', 'add', OPERATOR_NET, 'dev', IF]);
    execFileSync('ip', ['-n', NS, 'addr', 'add', OPERATOR_HOST, 'dev', IF]);
  });

  after(() => {
    deleteNetns(NS);
    assert.ok(!netnsExists(NS), `namespace ${NS} is still there`);
  });

  it('lists the addresses of the namespace it runs in, with interface, ifindex and prefix length', () => {
    const [list] = valuesOf(inNetns({ op: 'list' }));
    const ifindex = ifindexOf(IF);
    assert.deepEqual(list, [
      { ifname: IF, ifindex, address: '198.18.1.1', prefixLength: 24 },
      { ifname: IF, ifindex, address: '198.18.1.20', prefixLength: 32 },
    ]);
  });

  it('adds the /32s not there yet, in one batch, and reports those it added', () => {
    const add = { op: 'add', ifname: IF, addresses: [VIP, VIP2] } as const;
    assert.deepEqual(valuesOf(inNetns(add, add)), [[VIP, VIP2], []]);
    assert.deepEqual(addressesOn(IF).filter((a) => a.startsWith(`${VIP}/`) || a.startsWith(`${VIP2}/`)), [`${VIP}/32`, `${VIP2}/32`]);
  });

  it('removes the /32s that are there and reports those it removed', () => {
    const remove = { op: 'remove', ifname: IF, addresses: [VIP, VIP2] } as const;
    assert.deepEqual(valuesOf(inNetns(remove, remove)), [[VIP, VIP2], []]);
    assert.deepEqual(addressesOn(IF), [OPERATOR_NET, OPERATOR_HOST]);
  });

  it('reports no change for a /32 that was already there, and leaves it', () => {
    assert.deepEqual(valuesOf(inNetns({ op: 'add', ifname: IF, addresses: ['198.18.1.20'] })), [[]]);
    assert.deepEqual(addressesOn(IF), [OPERATOR_NET, OPERATOR_HOST]);
  });

  it("adds and removes its own /32 of an address that is on the interface with another prefix, keeping the operator's", () => {
    const ours = { ifname: IF, addresses: ['198.18.1.1'] };
    assert.deepEqual(valuesOf(inNetns({ op: 'add', ...ours })), [['198.18.1.1']]);
    assert.deepEqual(addressesOn(IF), [OPERATOR_NET, OPERATOR_HOST, '198.18.1.1/32']);
    assert.deepEqual(valuesOf(inNetns({ op: 'remove', ...ours })), [['198.18.1.1']]);
    assert.deepEqual(addressesOn(IF), [OPERATOR_NET, OPERATOR_HOST]);
  });

  it("gathers the namespace's interfaces and addresses (the facts --check uses)", () => {
    const [facts] = valuesOf(inNetns({ op: 'facts' })) as [{ interfaces: string[]; localAddresses: string[] }];
    assert.deepEqual([...facts.interfaces].sort(), ['hv0', 'hv1', 'lo']);
    assert.deepEqual([...facts.localAddresses].sort(), ['198.18.1.1', '198.18.1.20']);
  });

  it('turns an ip failure into a HostError with a stable code, the command and its stderr', () => {
    const [add, remove, notAnAddress] = inNetns(
      { op: 'add', ifname: 'nosuch0', addresses: ['198.18.1.30'] },
      // Nothing of ours can be on an interface that is gone: nothing to remove.
      { op: 'remove', ifname: 'nosuch0', addresses: ['198.18.1.30'] },
      { op: 'add', ifname: IF, addresses: ['198.18.1.30/24'] },
    );
    const a = errorOf(add);
    assert.equal(a.name, 'HostError');
    assert.equal(a.code, 'EHOST_IP');
    assert.deepEqual(a.command, ['ip', '-force', '-batch', '-']);
    assert.match(a.stderr ?? '', /Cannot find device "nosuch0"/);
    assert.deepEqual(valuesOf([remove!]), [[]]);
    assert.equal(errorOf(notAnAddress).name, 'RangeError');
    assert.deepEqual(addressesOn(IF), [OPERATOR_NET, OPERATOR_HOST]);
  });
});
