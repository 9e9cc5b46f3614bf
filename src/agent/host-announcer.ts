/*
 * The AddressAnnouncer apply uses, over src/host: operations name the
 * interface by ifindex (what lb_announced records), `ip` wants its name.
 */
import { HostError } from '../host/host-error.js';
import { addHostAddresses, removeHostAddresses } from '../host/interface-addresses.js';
import { listInterfaces } from '../host/list-interfaces.js';
import type { AddressAnnouncer } from './apply-plan.js';

async function ifnameOf(ifindex: number): Promise<string | undefined> {
  return (await listInterfaces()).find((i) => i.ifindex === ifindex)?.ifname;
}

export const hostAnnouncer: AddressAnnouncer = {
  async add(addresses, ifindex) {
    const ifname = await ifnameOf(ifindex);
    if (ifname === undefined) throw new HostError('EHOST_IP', ['ip', 'link', 'show'], `no interface with ifindex ${ifindex} to announce ${addresses.join(', ')} on`);
    return addHostAddresses(ifname, addresses);
  },
  async remove(addresses, ifindex) {
    const ifname = await ifnameOf(ifindex);
    // The interface is gone, and its addresses with it.
    if (ifname === undefined) return [];
    return removeHostAddresses(ifname, addresses);
  },
};
