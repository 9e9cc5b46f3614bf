/**
 * The live-host inputs of the config checks (check-host-facts.ts): which
 * interfaces and which IPv4 addresses the current network namespace has.
 * Read through `ip -j` (netlink) rather than /sys/class/net, which shows the
 * host's interfaces under `nsenter --net` (PLATFORM.md).
 */
import type { HostFacts } from '../config/check-host-facts.js';
import { listInterfacesAndAddresses } from './interface-addresses.js';

/** Both from one `ip -j addr show`, which lists every interface, with addresses or without. */
export async function gatherHostFacts(): Promise<HostFacts> {
  const { interfaces, addresses } = await listInterfacesAndAddresses();
  return { interfaces: interfaces.map((i) => i.ifname), localAddresses: [...new Set(addresses.map((a) => a.address))] };
}
