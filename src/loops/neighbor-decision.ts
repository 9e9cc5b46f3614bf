/*
 * What one refresh concludes about one backend address, from what the
 * kernel showed: its route and its next hop's neighbour entry before and
 * after the refresh's broadcast resolution. Pure, so every rule is tested on
 * plain data; the loop (neighbor-resolver.ts) does the I/O and writes
 * lb_neigh from the result (resolved: the MAC; unresolved: no entry).
 *
 * lb_neigh serves existing flows and new ones alike (the datapath looks the
 * MAC up per packet), so dropping an entry cuts the backend's live
 * connections. The rules therefore tell a definitive failure from the
 * kernel's own re-resolution in progress:
 * 1. A valid entry after the probe: resolved with its MAC (a changed MAC
 *    included, so a replaced RS is picked up at this refresh).
 * 2. Else a valid entry before it: the neighbour answered since the last
 *    refresh, later than the loop waited then (or is a static entry).
 * 3. Else FAILED before the probe: the kernel sent all its solicitations
 *    since the last refresh (3 broadcasts, 3 s by default) and none was
 *    answered: unresolved. New flows skip the backend, existing ones are
 *    dropped and counted by the datapath instead of sent to a dead MAC.
 * 4. Else (INCOMPLETE or no entry: the kernel is still resolving, or the
 *    table was flushed) the last MAC stays: the neighbour has not been found
 *    absent yet, and its flows keep going.
 * 5. Else unresolved: it never answered.
 * No route, or a route out of an interface the datapath does not send on,
 * is unresolved at once: no MAC could reach it.
 */
import { hasFailed, usableMac, type NeighborEntry } from '../host/neighbor-table.js';

export type UnresolvedReason =
  /** The kernel has no unicast route to the address. */
  | 'no-route'
  /** Routed out of another interface than the one XDP_TX sends on. */
  | 'other-interface'
  /** Its next hop does not answer ARP. */
  | 'no-answer';

interface ResolutionBase {
  /** The neighbour the MAC is (or would be) that of: the address itself or its gateway. */
  readonly nextHop?: string;
  /** Monotonic clock (ns) of the refresh that last saw this outcome confirmed by the kernel. */
  readonly updatedAt?: bigint;
}

export type NeighborResolution =
  | (ResolutionBase & {
      readonly state: 'resolved';
      /** The MAC lb_neigh holds for the address. */
      readonly mac: string;
      readonly reason?: undefined;
    })
  | (ResolutionBase & {
      readonly state: 'unresolved';
      readonly mac?: undefined;
      /** Why, once a refresh has looked. */
      readonly reason?: UnresolvedReason;
    });

export type NeighborObservation =
  | { readonly route: 'none' }
  | { readonly route: 'other-interface'; readonly nextHop: string }
  | {
      readonly route: 'ok';
      readonly nextHop: string;
      /** The next hop's entry before this refresh's resolution (undefined: none). */
      readonly before?: NeighborEntry;
      /** Its entry after the answer wait. */
      readonly after?: NeighborEntry;
    };

export function decideResolution(previous: NeighborResolution | undefined, observed: NeighborObservation, now: bigint): NeighborResolution {
  if (observed.route === 'none') return { state: 'unresolved', reason: 'no-route', updatedAt: now };
  const { nextHop } = observed;
  if (observed.route === 'other-interface') return { state: 'unresolved', nextHop, reason: 'other-interface', updatedAt: now };
  const mac = usableMac(observed.after) ?? usableMac(observed.before);
  if (mac !== undefined) return { state: 'resolved', mac, nextHop, updatedAt: now };
  if (!hasFailed(observed.before) && previous?.state === 'resolved') return previous;
  return { state: 'unresolved', nextHop, reason: 'no-answer', updatedAt: now };
}

/** Whether the datapath sees a difference: resolved or not, and which MAC. */
export function resolutionChanged(before: NeighborResolution | undefined, after: NeighborResolution): boolean {
  return (before?.state ?? 'unresolved') !== after.state || before?.mac !== after.mac;
}
