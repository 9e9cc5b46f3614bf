/*
 * Child of host-addresses.test.ts: runs src/host/ operations in the network
 * namespace it was started in (`nsenter --net=/run/netns/NAME`, through
 * runNodeInNetns) and reports each outcome, failures included, as data, so
 * the parent can assert on a HostError's code and stderr. The operations are
 * read from the environment; imported without it, this module does nothing.
 */
import { gatherHostFacts } from '../../src/host/gather-host-facts.js';
import type { HostError } from '../../src/host/host-error.js';
import { addHostAddresses, listIpv4Addresses, removeHostAddresses } from '../../src/host/interface-addresses.js';
import { reportToParent } from '../support/netns.js';

export const OPS_ENV = 'XDP4SLB_HOST_OPS';

export type HostOp =
  | { readonly op: 'list' }
  | { readonly op: 'facts' }
  | { readonly op: 'add' | 'remove'; readonly ifname: string; readonly addresses: readonly string[] };

export interface OpError {
  name: string;
  message: string;
  code?: string;
  stderr?: string;
  command?: readonly string[];
}

export type OpOutcome = { value: unknown; error?: undefined } | { value?: undefined; error: OpError };

function run(op: HostOp): Promise<unknown> {
  switch (op.op) {
    case 'list':
      return listIpv4Addresses();
    case 'facts':
      return gatherHostFacts();
    case 'add':
      return addHostAddresses(op.ifname, op.addresses);
    case 'remove':
      return removeHostAddresses(op.ifname, op.addresses);
  }
}

/* A HostError's fields, or just name and message for anything else (undefined fields drop out of the JSON). */
function asData(error: unknown): OpError {
  const { name, message, code, stderr, command } = error as Partial<HostError> & Error;
  return { name, message, code, stderr, command };
}

const raw = process.env[OPS_ENV];
if (raw !== undefined) {
  const outcomes: OpOutcome[] = [];
  for (const op of JSON.parse(raw) as HostOp[]) {
    try {
      outcomes.push({ value: await run(op) });
    } catch (error) {
      outcomes.push({ error: asData(error) });
    }
  }
  // reportToParent takes a synchronous function: the awaiting is done above.
  reportToParent(() => outcomes);
}
