/*
 * A model of apply on plain data: what each operation does to the LiveState
 * the kernel would read back afterwards. Lets the planner's properties
 * ("a plan applied to live state yields the desired state") be checked
 * without a kernel; test/bpf checks the same against real maps.
 */
import { LbAddrRole } from '../../src/datapath/codecs.js';
import type { DesiredState } from '../../src/model/desired-state.js';
import type { LiveBackend, LiveService, LiveState, Operation } from '../../src/plan/index.js';

export function simulateApply(live: LiveState, operations: readonly Operation[]): LiveState {
  const services = new Map<number, LiveService>(live.services.map((s) => [s.num, s]));
  const backends = new Map<number, LiveBackend>(live.backends.map((b) => [b.num, b]));
  let strays = [...live.strayServices];
  const addresses = new Map(live.addresses);
  const announced = new Map(live.announced);
  let snatPool = live.snatPool;
  const keyOf = (s: { vip: string; port: number; protocol: string }): string => `${s.vip}:${s.port}/${s.protocol}`;

  for (const op of operations) {
    switch (op.kind) {
      case 'put-address':
        addresses.set(op.address, op.roles);
        break;
      case 'delete-address':
        addresses.delete(op.address);
        break;
      case 'announce-address':
        announced.set(op.address, op.ifindex);
        break;
      case 'withdraw-address':
        announced.delete(op.address);
        break;
      case 'put-backend':
        backends.set(op.num, {
          num: op.num,
          serviceNum: op.serviceNum,
          address: op.address,
          port: op.port,
          weight: op.weight,
          state: op.state,
          published: true,
        });
        break;
      case 'delete-backend':
        backends.delete(op.num);
        break;
      case 'put-service': {
        const was = services.get(op.num);
        // The lb_services entry now points here: any other record on the key loses it.
        for (const [num, s] of services) if (num !== op.num && s.id === op.service) services.set(num, { ...s, published: false });
        strays = strays.filter((s) => keyOf(s) !== op.service);
        services.set(op.num, {
          num: op.num,
          id: op.service,
          name: op.name,
          vip: op.vip,
          port: op.port,
          protocol: op.protocol,
          scheduler: op.scheduler,
          tableDigest: op.table?.digest ?? was!.tableDigest,
          published: true,
          tablePublished: op.table !== null || was!.tablePublished,
        });
        break;
      }
      case 'delete-service':
        if (op.num === null) strays = strays.filter((s) => keyOf(s) !== op.service);
        else services.delete(op.num);
        break;
      case 'put-snat-pool':
        snatPool = op.pool;
        break;
    }
  }
  return {
    services: [...services.values()].sort((a, b) => a.num - b.num),
    backends: [...backends.values()].sort((a, b) => a.num - b.num),
    strayServices: strays,
    addresses,
    snatPool,
    announced,
  };
}

/** The parts of a LiveState a DesiredState determines, keyed by identity (ids and nums left out). */
export function liveView(live: LiveState): unknown {
  return {
    services: live.services
      .filter((s) => s.published && s.tablePublished)
      .map((s) => ({
        id: s.id,
        name: s.name,
        scheduler: s.scheduler,
        backends: live.backends
          .filter((b) => b.serviceNum === s.num && b.published)
          .map((b) => ({ id: `${b.address}:${b.port}`, weight: b.weight, state: b.state }))
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
      }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    addresses: [...live.addresses].sort(),
    snatPool: live.snatPool,
  };
}

/** What liveView() should show once `desired` is applied. */
export function desiredView(desired: DesiredState): unknown {
  const roles = new Map<string, number>();
  for (const s of desired.services) roles.set(s.vip, (roles.get(s.vip) ?? 0) | LbAddrRole.VIP);
  for (const a of desired.snat.addresses) roles.set(a, (roles.get(a) ?? 0) | LbAddrRole.SNAT);
  const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return {
    services: desired.services
      .map((s) => ({
        id: s.id,
        name: s.name,
        scheduler: s.scheduler,
        backends: s.backends.map((b) => ({ id: b.id, weight: b.weight, state: b.state })).sort(byId),
      }))
      .sort(byId),
    addresses: [...roles].sort(),
    snatPool: {
      addresses: desired.snat.addresses,
      portMin: desired.snat.portMin,
      portMax: desired.snat.portMax,
      reuseAfterMs: desired.snat.reuseAfterMs,
    },
  };
}
