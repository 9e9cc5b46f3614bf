/*
 * The `conntrack` listing for a terminal: one aligned row per flow (the
 * client, the VIP it asked for, the SNAT tuple the balancer gave it, the
 * backend, its state, its age and how long it has been idle), sorted by
 * service, then client; a last line says how many were shown of how many.
 * Pure.
 */
import { compareIpv4 } from '../model/ipv4.js';
import type { Connection, ConnectionListing, Endpoint } from './connections.js';
import { alignColumns } from './text-table.js';
import { formatDuration } from './units.js';

const HEADER = ['Service', 'Prot', 'Client', 'VIP', 'SNAT', 'Backend', 'State', 'Age', 'Idle'];

function endpoint(e: Endpoint): string {
  return `${e.address}:${e.port}`;
}

function compareConnections(a: Connection, b: Connection): number {
  return (a.service ?? '').localeCompare(b.service ?? '') || compareIpv4(a.client.address, b.client.address) || a.client.port - b.client.port;
}

export function formatConnections(listing: ConnectionListing): string {
  const rows = [...listing.connections].sort(compareConnections).map((c) => [
    c.service ?? '-',
    c.protocol.toUpperCase(),
    endpoint(c.client),
    endpoint(c.vip),
    endpoint(c.snat),
    endpoint(c.backend),
    c.state,
    formatDuration(listing.takenAtNs - c.createdNs),
    formatDuration(listing.takenAtNs - c.lastSeenNs),
  ]);
  const table = rows.length > 0 ? alignColumns([HEADER, ...rows], ['left', 'left', 'left', 'left', 'left', 'left', 'left', 'right', 'right']) : [];
  const shown = listing.connections.length;
  const of = listing.matched === listing.total ? `${listing.total}` : `${listing.matched} matching (${listing.total} in all)`;
  table.push(`${shown} of ${of} connections shown`);
  return `${table.join('\n')}\n`;
}
