/*
 * The kernel side of `xdp4slb-agent conntrack`: lb_ct read in batches,
 * filtered by service, decoded only up to the limit (a full table is a
 * million entries; a listing shows a few), and counted whole.
 */
import { lbConn, type LbConn } from '../datapath/codecs.js';
import { connStateName } from '../datapath/conn-state.js';
import type { DatapathMaps } from '../datapath/datapath-maps.js';
import { PROTOCOLS } from '../datapath/read-live-state.js';
import { monotonicClock } from '../loops/loop-context.js';
import type { Connection, ConnectionListing } from './connections.js';

const CHUNK = 8192;

export class UnknownServiceError extends Error {
  readonly code = 'EUNKNOWN_SERVICE';
  constructor(readonly service: string, known: readonly string[]) {
    super(`no service named "${service}"${known.length > 0 ? ` (services: ${known.join(', ')})` : ' (no services)'}`);
    this.name = 'UnknownServiceError';
  }
}

export interface ConnectionQuery {
  /** Only this service's flows. */
  readonly service?: string;
  /** At most this many rows (default: all). */
  readonly limit?: number;
}

function toConnection(conn: LbConn, names: ReadonlyMap<number, string>): Connection {
  return {
    service: names.get(conn.serviceId),
    protocol: PROTOCOLS.get(conn.proto) ?? 'tcp',
    client: { address: conn.clientIp, port: conn.clientPort },
    vip: { address: conn.vip, port: conn.vport },
    snat: { address: conn.snatIp, port: conn.snatPort },
    backend: { address: conn.backendIp, port: conn.backendPort },
    state: connStateName(conn.state),
    createdNs: conn.createdNs,
    lastSeenNs: conn.lastSeenNs,
  };
}

export function readConnections(maps: DatapathMaps, query: ConnectionQuery = {}): ConnectionListing {
  const names = new Map([...maps.serviceMetas()].map(([id, meta]) => [id, meta.name]));
  let wanted: number | undefined;
  if (query.service !== undefined) {
    wanted = [...names].find(([, name]) => name === query.service)?.[0];
    if (wanted === undefined) throw new UnknownServiceError(query.service, [...names.values()].sort());
  }
  const limit = query.limit ?? Infinity;
  const takenAtNs = monotonicClock();
  const connections: Connection[] = [];
  let matched = 0;
  let total = 0;
  const ct = maps.map('lb_ct');
  for (const { values, count } of ct.lookupBatchPacked({ chunk: CHUNK })) {
    total += count;
    for (let i = 0; i < count; i++) {
      const at = i * ct.valueBufferSize;
      if (wanted !== undefined && lbConn.read.serviceId(values, at) !== wanted) continue;
      matched++;
      if (connections.length < limit) connections.push(toConnection(lbConn.decode(values, at), names));
    }
  }
  return { takenAtNs, connections, matched, total };
}
