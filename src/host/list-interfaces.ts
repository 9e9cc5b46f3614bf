/**
 * The network interfaces of the current namespace, from `ip -j link show`
 * (netlink: under `nsenter --net` /sys/class/net shows the host's instead).
 */
import { HostError } from './host-error.js';
import { runIpJson } from './ip-command.js';

export interface HostInterface {
  readonly ifname: string;
  readonly ifindex: number;
}

const LINK_ARGS = ['link', 'show'];

export async function listInterfaces(): Promise<HostInterface[]> {
  const links = await runIpJson(LINK_ARGS);
  if (Array.isArray(links)) {
    const out = links.map((link) => link as { ifname?: unknown; ifindex?: unknown } | null);
    if (out.every((l) => typeof l?.ifname === 'string' && typeof l.ifindex === 'number')) {
      return out.map((l) => ({ ifname: l!.ifname as string, ifindex: l!.ifindex as number }));
    }
  }
  throw new HostError('EHOST_IP_OUTPUT', ['ip', '-j', ...LINK_ARGS], 'expected a JSON array of interfaces with an ifname and ifindex each');
}
