/**
 * Which neighbour the frames for an address go to, as the kernel routes
 * them (`ip -j route get`, netlink): policy routing, metrics and multipath
 * stay the kernel's choice instead of a second implementation here. A
 * backend on a connected subnet is its own next hop; one behind a router has
 * the route's gateway as next hop, and the router's MAC is what the datapath
 * must put on frames for it.
 *
 * Lookups go in one `ip -force -batch` for all addresses: one process per
 * refresh instead of one per backend (~3 ms each, measured: 200 addresses
 * take ~550 ms one by one and ~8 ms batched).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ipv4ToNumber } from '../model/ipv4.js';
import { HostError } from './host-error.js';
import { runIp } from './ip-command.js';

export interface NextHop {
  /** The neighbour whose MAC frames for the address carry: the address itself, or the route's gateway. */
  readonly nextHop: string;
  /** The interface the kernel sends them out of. */
  readonly ifname: string;
}

/* iproute2 marks each failed line of a batch this way on stderr ("Command failed FILE:LINE"). */
const FAILED_LINE = /^Command failed /m;

/** The next hop of one address; undefined when the kernel has no unicast route to it. */
export async function nextHopFor(address: string): Promise<NextHop | undefined> {
  return (await nextHopsFor([address])).get(address);
}

/**
 * Next hops of many addresses (duplicates looked up once). An address is
 * missing from the result when the kernel has no unicast route to it: no
 * route at all, or a local, broadcast, multicast, blackhole, unreachable or
 * prohibit route.
 */
export async function nextHopsFor(addresses: readonly string[]): Promise<Map<string, NextHop>> {
  const unique = [...new Set(addresses)];
  for (const address of unique) {
    // Each address becomes a word of a batch line: only a dotted quad may get there.
    if (ipv4ToNumber(address) === undefined) throw new RangeError(`not an IPv4 address: ${JSON.stringify(address)}`);
  }
  if (unique.length === 0) return new Map();
  // runIp has no stdin to feed (runIpBatch has, but discards the answers): the batch goes in a private file.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'xdp4slb-route-'));
  try {
    const file = path.join(dir, 'batch');
    await fs.writeFile(file, unique.map((address) => `route get ${address}\n`).join(''));
    return parseRouteAnswers(await runRouteBatch(file));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * stdout of `ip -j -force -batch FILE`. With -force ip answers every line it
 * can and exits 1 if any line failed, which an address without a route
 * does ("Network is unreachable"): the answers of the other lines are then
 * in the execFile error that HostError keeps as its cause.
 */
async function runRouteBatch(file: string): Promise<string> {
  try {
    return await runIp(['-j', '-force', '-batch', file]);
  } catch (error) {
    const cause = (error as { cause?: { code?: unknown; stdout?: unknown } }).cause;
    const linesFailed = error instanceof HostError && FAILED_LINE.test(error.stderr) && typeof cause?.code === 'number';
    if (linesFailed && typeof cause.stdout === 'string') return cause.stdout;
    throw error;
  }
}

/**
 * The answers of a `route get` batch, keyed by destination: one JSON array
 * per answered line (failed lines print nothing on stdout).
 */
export function parseRouteAnswers(stdout: string): Map<string, NextHop> {
  const out = new Map<string, NextHop>();
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    let routes: unknown;
    try {
      routes = JSON.parse(line);
    } catch (error) {
      throw malformed(`expected one JSON array per line, got ${JSON.stringify(line.slice(0, 80))}`, { cause: error });
    }
    if (!Array.isArray(routes)) throw malformed(`expected a JSON array, got ${JSON.stringify(line.slice(0, 80))}`);
    for (const route of routes) {
      const r = route as { dst?: unknown; dev?: unknown; type?: unknown; gateway?: unknown; via?: unknown } | null;
      if (typeof r?.dst !== 'string' || typeof r.dev !== 'string') throw malformed(`route without dst or dev: ${JSON.stringify(route)}`);
      // Only unicast routes lead to a neighbour (iproute2 omits the type for unicast). A `via` is an
      // IPv6 next hop for an IPv4 route (RFC 5549), resolved by ND, not ARP: out of reach here.
      if ((r.type !== undefined && r.type !== 'unicast') || r.via !== undefined) continue;
      const nextHop = typeof r.gateway === 'string' ? r.gateway : r.dst;
      out.set(r.dst, { nextHop, ifname: r.dev });
    }
  }
  return out;
}

function malformed(what: string, options?: ErrorOptions): HostError {
  return new HostError('EHOST_IP_OUTPUT', ['ip', '-j', '-force', '-batch', '(route get ADDRESS, one per line)'], what, '', options);
}
