/**
 * IPv4 addresses of the current network namespace: listing them (with the
 * interfaces, for the config's host checks, from the same listing), and adding
 * or removing the /32s through which the host answers ARP for VIPs and SNAT
 * addresses (`vip_announce: arp`). Add and remove are idempotent and say
 * whether they changed anything, so the agent records only what it added
 * and `down` removes only that, never an address the operator configured.
 */
import { ipv4ToNumber } from '../model/ipv4.js';
import { HostError } from './host-error.js';
import { runIpBatch, runIpJson } from './ip-command.js';
import type { HostInterface } from './list-interfaces.js';

export interface InterfaceAddress {
  readonly ifname: string;
  readonly ifindex: number;
  /** Dotted quad, e.g. "198.18.0.10". */
  readonly address: string;
  readonly prefixLength: number;
}

const LIST_ARGS = ['-4', 'addr', 'show'];

/* Every interface, whatever its addresses: what gatherHostFacts needs from one process. */
const ALL_ARGS = ['addr', 'show'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface InterfaceListing {
  readonly interfaces: readonly HostInterface[];
  /** IPv4 only, in listing order. */
  readonly addresses: readonly InterfaceAddress[];
}

/** The interfaces and IPv4 addresses in the JSON of `ip -j [-4] addr show` (`args`, for errors). */
function parseListing(links: unknown, args: readonly string[]): InterfaceListing {
  const malformed = (what: string): HostError => new HostError('EHOST_IP_OUTPUT', ['ip', '-j', ...args], what);
  if (!Array.isArray(links)) throw malformed('expected a JSON array of interfaces');
  const interfaces: HostInterface[] = [];
  const addresses: InterfaceAddress[] = [];
  for (const link of links) {
    if (!isRecord(link)) continue;
    const { ifname, ifindex, addr_info: addrInfo } = link;
    // Some iproute2 versions print `{}` for an interface the -4 filter leaves empty.
    if (ifname === undefined && addrInfo === undefined) continue;
    if (typeof ifname !== 'string' || typeof ifindex !== 'number' || !(addrInfo === undefined || Array.isArray(addrInfo))) {
      throw malformed(`interface entry without ifname, ifindex or addr_info: ${JSON.stringify(link)}`);
    }
    interfaces.push({ ifname, ifindex });
    for (const info of addrInfo ?? []) {
      if (!isRecord(info) || info['family'] !== 'inet') continue;
      const { local, prefixlen } = info;
      if (typeof local !== 'string' || typeof prefixlen !== 'number') {
        throw malformed(`address entry of ${ifname} without local or prefixlen: ${JSON.stringify(info)}`);
      }
      addresses.push({ ifname, ifindex, address: local, prefixLength: prefixlen });
    }
  }
  return { interfaces, addresses };
}

/** Every IPv4 address on every interface, in the order `ip -j -4 addr show` lists them. */
export async function listIpv4Addresses(): Promise<InterfaceAddress[]> {
  return [...parseListing(await runIpJson(LIST_ARGS), LIST_ARGS).addresses];
}

/**
 * Every interface and every IPv4 address, from one `ip -j addr show`: one
 * child process per reload rather than one for links and one for addresses,
 * since starting a process costs the agent milliseconds of its main thread.
 */
export async function listInterfacesAndAddresses(): Promise<InterfaceListing> {
  return parseListing(await runIpJson(ALL_ARGS), ALL_ARGS);
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
