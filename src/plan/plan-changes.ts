/**
 * The planner: (DesiredState, LiveState) -> the ordered operations that make
 * the kernel hold the desired state. Pure and level-based: it looks only at
 * the two states (and the runtime facts in PlanContext), never at what the
 * previous reload did, so a restarted agent, a repeated reload and a repair
 * after an edit behind the agent's back are all the same computation.
 *
 * Identities are content-based (a service is its vip:port/protocol, a
 * backend its address:port within its service), so reordering the YAML
 * changes nothing, and an edit to one backend produces operations for that
 * backend and its service's table only.
 *
 * Make-before-break comes from PHASE_ORDER (operations.ts) plus two rules
 * here: ids freed by this plan are not reused by it (a table still being
 * replaced may point at them), and an address the config dropped stays
 * recognised (and announced) while live flows still use it; the plan then
 * reports it as retained and the agent plans again later.
 */
import { LbAddrRole } from '../datapath/codecs.js';
import {
  endpointKey,
  serviceId,
  type BackendState,
  type DesiredState,
  type ServiceId,
  type ServiceState,
} from '../model/desired-state.js';
import { IdAllocator, IdSet } from './allocate-ids.js';
import type { LiveBackend, LiveService, LiveSnatPool, LiveState } from './live-state.js';
import { PHASE_ORDER, type Operation, type TableBackend, type TableSpec } from './operations.js';
import { tableDigest } from './table-digest.js';

export interface PlanContext {
  /** Capacities of lb_services and lb_backends. */
  readonly limits: { readonly maxServices: number; readonly maxBackends: number };
  /** The interface the datapath is attached to: where addresses are announced. */
  readonly iface: { readonly name: string; readonly index: number };
  /** IPv4 addresses configured on the host's interfaces right now. */
  readonly hostAddresses: ReadonlySet<string>;
  /** Addresses live flows still use; only those in addressesLeaving() matter. */
  readonly addressesInUse: ReadonlySet<string>;
  /** Runtime eligibility (healthy or unchecked, and its MAC resolved); absent means every backend is eligible. */
  readonly isEligible?: (service: ServiceState, backend: BackendState) => boolean;
}

export interface RetainedAddress {
  readonly address: string;
  readonly reason: string;
}

export type PlanResult =
  | {
      readonly ok: true;
      readonly operations: readonly Operation[];
      /** Addresses the config dropped that stay until their flows end. */
      readonly retained: readonly RetainedAddress[];
    }
  | { readonly ok: false; readonly errors: readonly string[] };

/** Roles every address should have, as the config alone says. */
function desiredRoles(desired: DesiredState): Map<string, number> {
  const roles = new Map<string, number>();
  for (const s of desired.services) roles.set(s.vip, (roles.get(s.vip) ?? 0) | LbAddrRole.VIP);
  for (const a of desired.snat.addresses) roles.set(a, (roles.get(a) ?? 0) | LbAddrRole.SNAT);
  return roles;
}

/**
 * Live addresses the config no longer has: the agent checks these (and only
 * these, since it costs a conntrack scan) for flows still using them.
 */
export function addressesLeaving(desired: DesiredState, live: LiveState): string[] {
  const wanted = desiredRoles(desired);
  return [...live.addresses.keys()].filter((a) => !wanted.has(a));
}

/**
 * How a service's desired backends find their live records: by content
 * (address and port). Returns the live record of the `i`th desired backend.
 *
 * A service whose records, in id order, are its desired backends in order
 * (as a plan from scratch numbers them, and as they stay until a backend
 * is added) is paired position by position: that is the same pairing when
 * the desired backends are distinct, which their order (DesiredState sorts
 * them by identity) lets a check of neighbours prove. Any other service is
 * paired through a map by endpointKey. Pairing every backend of a large
 * config through maps was a tenth of a reload.
 */
function pairBackends(
  desired: readonly BackendState[],
  live: readonly LiveBackend[],
): (backend: BackendState, i: number) => LiveBackend | undefined {
  let inOrder = desired.length === live.length;
  for (let i = 0; inOrder && i < desired.length; i++) {
    const d = desired[i]!;
    const l = live[i]!;
    const prev = desired[i - 1];
    inOrder = d.port === l.port && d.address === l.address && !(prev !== undefined && prev.port === d.port && prev.address === d.address);
  }
  if (inOrder) return (_, i) => live[i];
  const byKey = new Map<number | string, LiveBackend>();
  for (const b of live) byKey.set(endpointKey(b.address, b.port), b);
  return (backend) => byKey.get(endpointKey(backend.address, backend.port));
}

/** Whether a backend takes new flows, i.e. gets slots in its service's table. */
function isEligible(service: ServiceState, backend: BackendState, ctx: PlanContext): boolean {
  return backend.state === 'active' && backend.weight > 0 && (ctx.isEligible?.(service, backend) ?? true);
}

function samePool(a: LiveSnatPool | null, b: LiveSnatPool): boolean {
  return (
    a !== null &&
    a.portMin === b.portMin &&
    a.portMax === b.portMax &&
    a.reuseAfterMs === b.reuseAfterMs &&
    a.addresses.length === b.addresses.length &&
    a.addresses.every((x, i) => x === b.addresses[i])
  );
}

export function planChanges(desired: DesiredState, live: LiveState, ctx: PlanContext): PlanResult {
  const ops: Operation[] = [];
  const errors: string[] = [];

  // ---- services and their backends
  const liveById = new Map<ServiceId, LiveService>();
  const duplicates: LiveService[] = [];
  for (const s of live.services) {
    if (liveById.has(s.id)) duplicates.push(s);
    else liveById.set(s.id, s);
  }
  const backendsOf = new Map<number, LiveBackend[]>();
  for (const b of live.backends) {
    const list = backendsOf.get(b.serviceNum);
    if (list) list.push(b);
    else backendsOf.set(b.serviceNum, [b]);
  }
  const serviceIds = new IdAllocator(IdSet.of(live.services, (s) => s.num), ctx.limits.maxServices);
  const backendIds = new IdAllocator(IdSet.of(live.backends, (b) => b.num, ctx.limits.maxBackends), ctx.limits.maxBackends);
  const keptServiceNums = new IdSet();
  const keptBackendNums = new IdSet(ctx.limits.maxBackends);

  for (const service of desired.services) {
    const was = liveById.get(service.id);
    const num = was?.num ?? serviceIds.take();
    if (num === undefined) {
      errors.push(`service ${service.name} (${service.id}): no free service id, lb_services holds at most ${ctx.limits.maxServices}`);
      continue;
    }
    keptServiceNums.add(num);
    const liveOf = pairBackends(service.backends, (was && backendsOf.get(was.num)) ?? []);
    const eligible: TableBackend[] = [];
    let numbered = true;
    for (let i = 0; i < service.backends.length; i++) {
      const backend = service.backends[i]!;
      const old = liveOf(backend, i);
      const bnum = old?.num ?? backendIds.take();
      if (bnum === undefined) {
        errors.push(`service ${service.name}: backend ${backend.id}: no free backend id, lb_backends holds at most ${ctx.limits.maxBackends}`);
        numbered = false;
        continue;
      }
      keptBackendNums.add(bnum);
      const change =
        old === undefined ? 'add' : old.weight !== backend.weight || old.state !== backend.state ? 'update' : old.published ? null : 'repair';
      if (change !== null) {
        ops.push({
          kind: 'put-backend',
          num: bnum,
          serviceNum: num,
          service: service.id,
          address: backend.address,
          port: backend.port,
          weight: backend.weight,
          state: backend.state,
          change,
        });
      }
      if (isEligible(service, backend, ctx)) eligible.push({ id: bnum, key: backend.id, weight: backend.weight });
    }
    if (!numbered) continue;

    const digest = tableDigest(service.scheduler, eligible);
    const table: TableSpec | null =
      was === undefined || !was.tablePublished || was.tableDigest !== digest ? { scheduler: service.scheduler, backends: eligible, digest } : null;
    const recordChanged = was !== undefined && (was.name !== service.name || was.scheduler !== service.scheduler);
    const configChanged = recordChanged || (was !== undefined && was.tablePublished && was.tableDigest !== digest);
    const change = was === undefined ? 'add' : configChanged ? 'update' : 'repair';
    if (was === undefined || table !== null || recordChanged || !was.published) {
      ops.push({
        kind: 'put-service',
        num,
        service: service.id,
        name: service.name,
        vip: service.vip,
        port: service.port,
        protocol: service.protocol,
        scheduler: service.scheduler,
        table,
        change,
      });
    }
  }
  if (errors.length > 0) return { ok: false, errors };

  // A duplicate record (two ids claiming one service) goes like a removed
  // service; apply removes an lb_services entry only if it points at the id.
  for (const s of [...liveById.values(), ...duplicates]) {
    if (keptServiceNums.has(s.num)) continue;
    ops.push({ kind: 'delete-service', num: s.num, service: s.id, vip: s.vip, port: s.port, protocol: s.protocol });
  }
  const desiredIds = new Set(desired.services.map((s) => s.id));
  for (const s of live.strayServices) {
    const id = serviceId(s.vip, s.port, s.protocol);
    // A stray on a desired service's key is overwritten by that put-service.
    if (!desiredIds.has(id)) ops.push({ kind: 'delete-service', num: null, service: id, ...s });
  }
  const serviceIdOf = new Map(live.services.map((s) => [s.num, s.id]));
  for (const b of live.backends) {
    if (keptBackendNums.has(b.num)) continue;
    const service = serviceIdOf.get(b.serviceNum) ?? `service #${b.serviceNum}`;
    ops.push({ kind: 'delete-backend', num: b.num, service, address: b.address, port: b.port });
  }

  // ---- addresses the datapath recognises, and what the host announces
  const roles = desiredRoles(desired);
  const retained: RetainedAddress[] = [];
  for (const address of addressesLeaving(desired, live)) {
    if (ctx.addressesInUse.has(address)) {
      retained.push({ address, reason: 'removed from the config; kept until the flows using it end' });
      roles.set(address, live.addresses.get(address)!);
    } else {
      ops.push({ kind: 'delete-address', address });
    }
  }
  for (const [address, bits] of roles) {
    const was = live.addresses.get(address);
    if (was !== bits) ops.push({ kind: 'put-address', address, roles: bits, change: was === undefined ? 'add' : 'update' });
  }

  const pool: LiveSnatPool = {
    addresses: desired.snat.addresses,
    portMin: desired.snat.portMin,
    portMax: desired.snat.portMax,
    reuseAfterMs: desired.snat.reuseAfterMs,
  };
  if (!samePool(live.snatPool, pool)) ops.push({ kind: 'put-snat-pool', pool, change: live.snatPool === null ? 'add' : 'update' });

  const announce = desired.vipAnnounce === 'arp' ? [...roles.keys()] : [];
  const announced = new Set<string>();
  for (const address of announce) {
    const ours = live.announced.has(address);
    const present = ctx.hostAddresses.has(address);
    if (!ours && present) continue; // the operator's own address: not ours to manage
    announced.add(address);
    if (!present) {
      ops.push({
        kind: 'announce-address',
        address,
        ifname: ctx.iface.name,
        ifindex: ctx.iface.index,
        change: ours ? 'repair' : 'add',
      });
    }
  }
  for (const [address, ifindex] of live.announced) {
    if (!announced.has(address)) ops.push({ kind: 'withdraw-address', address, ifindex });
  }

  const phase = new Map(PHASE_ORDER.map((kind, i) => [kind, i]));
  // Stable: within a phase, operations stay in service/backend identity order.
  ops.sort((a, b) => phase.get(a.kind)! - phase.get(b.kind)!);
  return { ok: true, operations: ops, retained };
}
