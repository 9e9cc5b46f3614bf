/*
 * `xdp4slb-agent down`: stop balancing, from the pins alone (no config, no
 * running agent needed). Removes the addresses the agent announced (only
 * those: lb_announced is its record of them), detaches the XDP program,
 * and removes every pin, so nothing is left that nobody manages.
 * Idempotent: with nothing pinned it does nothing and says so.
 */
import fs from 'node:fs';
import { detachPinnedLink } from '../kernel/xdp-attach.js';
import { DatapathMaps } from '../datapath/datapath-maps.js';
import type { AddressAnnouncer } from './apply-plan.js';
import { groupBy } from './group-by.js';
import { linkPinPath } from './pin-layout.js';

export interface TakeDownReport {
  readonly detached: boolean;
  readonly withdrawn: readonly string[];
  readonly unpinned: number;
}

export async function takeDown(pinPath: string, announcer: AddressAnnouncer): Promise<TakeDownReport> {
  const withdrawn: string[] = [];
  const maps = DatapathMaps.fromPins(pinPath);
  if (maps !== undefined) {
    try {
      const announced = maps.announced();
      for (const [ifindex, addresses] of groupBy(announced.keys(), (address) => announced.get(address)!)) {
        withdrawn.push(...(await announcer.remove(addresses, ifindex)));
        for (const address of addresses) maps.deleteAnnounced(address);
      }
    } finally {
      maps.close();
    }
  }
  const detached = detachPinnedLink(linkPinPath(pinPath));
  let unpinned = 0;
  if (fs.existsSync(pinPath)) {
    for (const name of fs.readdirSync(pinPath)) {
      fs.unlinkSync(`${pinPath}/${name}`);
      unpinned++;
    }
    fs.rmdirSync(pinPath);
  }
  return { detached, withdrawn, unpinned };
}
