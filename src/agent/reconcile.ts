/*
 * One reconcile pass, level-based: read what the kernel holds, plan against
 * the desired state, apply. Used by the running agent (start, reload, the
 * re-check of retained addresses) and, without the apply, by --dry-run.
 */
import { addressesInUse } from '../datapath/addresses-in-use.js';
import type { DatapathMaps } from '../datapath/datapath-maps.js';
import { readLiveState } from '../datapath/read-live-state.js';
import type { DesiredState } from '../model/desired-state.js';
import { EMPTY_LIVE_STATE, addressesLeaving, planChanges, type PlanContext, type PlanResult } from '../plan/index.js';
import { LB_DEFAULT_MAX_BACKENDS, LB_DEFAULT_MAX_SERVICES } from '../datapath/codecs.js';

/**
 * Plan against the maps (or, with none pinned yet, against an empty
 * datapath). `hostAddresses`: the IPv4 addresses on the host's interfaces,
 * as loadDesiredState gathered them. `isEligible`: runtime eligibility
 * (health, resolved MAC) from the agent's loops; absent, all are eligible.
 */
export async function planAgainstKernel(
  desired: DesiredState,
  maps: DatapathMaps | undefined,
  ifindex: number,
  hostAddresses: readonly string[],
  isEligible?: PlanContext['isEligible'],
): Promise<PlanResult> {
  const live = maps ? readLiveState(maps) : EMPTY_LIVE_STATE;
  const leaving = addressesLeaving(desired, live);
  const inUse = maps && leaving.length > 0 ? await addressesInUse(maps, leaving) : new Set<string>();
  return planChanges(desired, live, {
    limits: maps?.limits() ?? { maxServices: LB_DEFAULT_MAX_SERVICES, maxBackends: LB_DEFAULT_MAX_BACKENDS },
    iface: { name: desired.interface, index: ifindex },
    hostAddresses: new Set(hostAddresses),
    addressesInUse: inUse,
    ...(isEligible ? { isEligible } : {}),
  });
}
