/**
 * IPv4 addresses of the current network namespace: listing them, and adding
 * or removing the /32s through which the host answers ARP for VIPs and SNAT
 * addresses (`vip_announce: arp`). Add and remove are idempotent and say
 * whether they changed anything, so the agent records only what it added
 * and `down` removes only that, never an address the operator configured.
 */
import { ipv4ToNumber } from '../model/ipv4.js';
import { HostError } from './host-error.js';
import { runIp, runIpJson } from './ip-command.js';

export interface InterfaceAddress {
  readonly ifname: string;
  readonly ifindex: number;
  /** Dotted quad, e.g. "198.18.0.10". */
  readonly address: string;
  readonly prefixLength: number;
}

const LIST_ARGS = ['-4', 'addr', 'show'];

/* Newer kernels explain with an extended ack; older ones leave ip only the errno text. */
const ALREADY_ASSIGNED = /File exists|Address already assigned/; // EEXIST
const NOT_ASSIGNED = /Cannot assign requested address|Address not found/; // EADDRNOTAVAIL

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformed(what: string): HostError {
  return new HostError('EHOST_IP_OUTPUT', ['ip', '-j', ...LIST_ARGS], what);
}

/** Every IPv4 address on every interface, in the order `ip -j -4 addr show` lists them. */
export async function listIpv4Addresses(): Promise<InterfaceAddress[]> {
  const links = await runIpJson(LIST_ARGS);
  if (!Array.isArray(links)) throw malformed('expected a JSON array of interfaces');
  const out: InterfaceAddress[] = [];
  for (const link of links) {
    // Some iproute2 versions print `{}` for an interface the -4 filter leaves empty.
    if (!isRecord(link) || link['addr_info'] === undefined) continue;
    const { ifname, ifindex, addr_info: addrInfo } = link;
    if (typeof ifname !== 'string' || typeof ifindex !== 'number' || !Array.isArray(addrInfo)) {
      throw malformed(`interface entry without ifname, ifindex or addr_info: ${JSON.stringify(link)}`);
    }
    for (const info of addrInfo) {
      if (!isRecord(info) || info['family'] !== 'inet') continue;
      const { local, prefixlen } = info;
      if (typeof local !== 'string' || typeof prefixlen !== 'number') {
        throw malformed(`address entry of ${ifname} without local or prefixlen: ${JSON.stringify(info)}`);
      }
      out.push({ ifname, ifindex, address: local, prefixLength: prefixlen });
    }
  }
  return out;
}

/* `ip` would read "198.18.0.1/24" as a prefix and "-x" as who knows what: only a dotted quad may reach it. */
function hostPrefix(address: string): string {
  if (ipv4ToNumber(address) === undefined) throw new RangeError(`not an IPv4 address: ${JSON.stringify(address)}`);
  return `${address}/32`;
}

/**
 * `ip addr add ADDRESS/32 dev IFNAME`. Resolves to false if that /32 was
 * already there (someone else's: the caller must not record it as added).
 * The same address with another prefix length is a different entry to the
 * kernel, so it does not count as already there.
 */
export async function addHostAddress(ifname: string, address: string): Promise<boolean> {
  try {
    await runIp(['addr', 'add', hostPrefix(address), 'dev', ifname]);
    return true;
  } catch (error) {
    if (error instanceof HostError && ALREADY_ASSIGNED.test(error.stderr)) return false;
    throw error;
  }
}

/** `ip addr del ADDRESS/32 dev IFNAME`. Resolves to false if that /32 was not there. */
export async function removeHostAddress(ifname: string, address: string): Promise<boolean> {
  try {
    await runIp(['addr', 'del', hostPrefix(address), 'dev', ifname]);
    return true;
  } catch (error) {
    if (error instanceof HostError && NOT_ASSIGNED.test(error.stderr)) return false;
    throw error;
  }
}
