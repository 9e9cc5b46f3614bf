/**
 * IPv4 addresses of the current network namespace: listing them, and adding
 * or removing the /32s through which the host answers ARP for VIPs and SNAT
 * addresses (`vip_announce: arp`). Add and remove are idempotent and say
 * whether they changed anything, so the agent records only what it added
 * and `down` removes only that, never an address the operator configured.
 */
import { ipv4ToNumber } from '../model/ipv4.js';
import { HostError } from './host-error.js';
import { runIpBatch, runIpJson } from './ip-command.js';

export interface InterfaceAddress {
  readonly ifname: string;
  readonly ifindex: number;
  /** Dotted quad, e.g. "198.18.0.10". */
  readonly address: string;
  readonly prefixLength: number;
}

const LIST_ARGS = ['-4', 'addr', 'show'];


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

/** The /32s of `addresses` present on `ifname` right now. */
async function presentOn(ifname: string, addresses: readonly string[]): Promise<Set<string>> {
  const wanted = new Set(addresses);
  const present = (await listIpv4Addresses()).filter((a) => a.ifname === ifname && a.prefixLength === 32 && wanted.has(a.address));
  return new Set(present.map((a) => a.address));
}

/**
 * Many /32s at once (one `ip -batch` process instead of one per address):
 * adds those not there yet and resolves to them. If any cannot be added,
 * the ones this call added are removed again before it rejects, so a
 * failure leaves the interface as it was.
 */
export async function addHostAddresses(ifname: string, addresses: readonly string[]): Promise<string[]> {
  const before = await presentOn(ifname, addresses);
  const missing = addresses.filter((a) => !before.has(a));
  const lines = missing.map((a) => `address add ${hostPrefix(a)} dev ${ifname}`);
  try {
    await runIpBatch(lines);
  } catch (error) {
    const after = await presentOn(ifname, missing);
    await runIpBatch([...after].map((a) => `address del ${hostPrefix(a)} dev ${ifname}`)).catch(() => undefined);
    throw error;
  }
  return missing;
}

/** Many /32s at once; resolves to those that were there and are now removed. */
export async function removeHostAddresses(ifname: string, addresses: readonly string[]): Promise<string[]> {
  const present = [...(await presentOn(ifname, addresses))];
  await runIpBatch(present.map((a) => `address del ${hostPrefix(a)} dev ${ifname}`));
  return present;
}
