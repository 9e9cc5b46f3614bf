/**
 * Operations as an operator reads them (--dry-run, logs): one line each,
 * marked + add, ~ update, ! repair (the kernel differs from what the agent
 * recorded), - remove.
 */
import { LbAddrRole } from '../datapath/codecs.js';
import type { Change, Operation } from './operations.js';

const MARK: Readonly<Record<Change, string>> = { add: '+', update: '~', repair: '!' };

function roleNames(bits: number): string {
  const names = [];
  if (bits & LbAddrRole.VIP) names.push('VIP');
  if (bits & LbAddrRole.SNAT) names.push('SNAT');
  return names.join('+');
}

export function describeOperation(op: Operation): string {
  switch (op.kind) {
    case 'put-address':
      return `${MARK[op.change]} address ${op.address} as ${roleNames(op.roles)}`;
    case 'announce-address':
      return `${MARK[op.change]} announce ${op.address}/32 on ${op.ifname}`;
    case 'put-backend':
      return `${MARK[op.change]} backend #${op.num} ${op.address}:${op.port} of ${op.service}: weight ${op.weight}, ${op.state}`;
    case 'put-service': {
      const table = op.table
        ? `, new ${op.table.scheduler} table over ${op.table.backends.length} eligible backend(s) [${op.table.digest}]`
        : '';
      return `${MARK[op.change]} service #${op.num} ${op.name} ${op.service}${table}`;
    }
    case 'put-snat-pool': {
      const { addresses, portMin, portMax, reuseAfterMs } = op.pool;
      return `${MARK[op.change]} SNAT pool ${addresses.join(', ')} ports ${portMin}-${portMax}, reuse after ${reuseAfterMs} ms`;
    }
    case 'delete-service':
      return op.num === null ? `- stray service entry ${op.service}` : `- service #${op.num} ${op.service}`;
    case 'delete-backend':
      return `- backend #${op.num} ${op.address}:${op.port} of ${op.service}`;
    case 'delete-address':
      return `- address ${op.address}`;
    case 'withdraw-address':
      return `- announced ${op.address}/32 (ifindex ${op.ifindex})`;
  }
}

/** The --dry-run text: one line per operation, then `N operations`. */
export function describePlan(operations: readonly Operation[]): string {
  const lines = operations.map(describeOperation);
  lines.push(`${operations.length} operations`);
  return `${lines.join('\n')}\n`;
}
