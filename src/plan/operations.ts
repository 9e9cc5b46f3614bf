/**
 * The operations a plan is made of: each one names the map entries it
 * writes and carries everything needed to write them, so apply needs no
 * other input and --dry-run can print them as they are.
 *
 * A plan lists them in PHASE_ORDER, which is what makes an apply
 * make-before-break:
 *   1. addresses the datapath must recognise before anything points at them
 *      (a new SNAT address before the pool hands it out);
 *   2. addresses announced on the interface, so ARP answers before traffic;
 *   3. backends, before any table refers to their ids;
 *   4. services: a complete new table is swapped in whole, then the record,
 *      then the (vip, port, protocol) -> id entry that makes it reachable;
 *   5. the SNAT pool;
 *   6-9. removals, last, once nothing published refers to them any more.
 */
import type { BackendAdminState, Protocol, SchedulerName, ServiceId } from '../model/desired-state.js';
import type { LiveSnatPool } from './live-state.js';

/** Why an entry is written: new, changed by the config, or differing from what the agent recorded. */
export type Change = 'add' | 'update' | 'repair';

/** One slot input of a scheduler table: what src/sched builds tables from. */
export interface TableBackend {
  /** The backend's num (lb_backends index). */
  readonly id: number;
  /** BackendId: the stable sort and hash key. */
  readonly key: string;
  readonly weight: number;
}

export interface TableSpec {
  readonly scheduler: SchedulerName;
  /** The eligible backends only (active, weight > 0, healthy). */
  readonly backends: readonly TableBackend[];
  readonly digest: string;
}

export interface PutAddress {
  readonly kind: 'put-address';
  readonly address: string;
  /** LbAddrRole bits. */
  readonly roles: number;
  readonly change: Change;
}

export interface AnnounceAddress {
  readonly kind: 'announce-address';
  readonly address: string;
  readonly ifname: string;
  readonly ifindex: number;
  readonly change: Change;
}

export interface PutBackend {
  readonly kind: 'put-backend';
  readonly num: number;
  readonly serviceNum: number;
  readonly service: ServiceId;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly state: BackendAdminState;
  readonly change: Change;
}

export interface PutService {
  readonly kind: 'put-service';
  readonly num: number;
  readonly service: ServiceId;
  readonly name: string;
  readonly vip: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly scheduler: SchedulerName;
  /** A new table to publish first; null keeps the published one. */
  readonly table: TableSpec | null;
  readonly change: Change;
}

export interface PutSnatPool {
  readonly kind: 'put-snat-pool';
  readonly pool: LiveSnatPool;
  readonly change: Change;
}

export interface DeleteService {
  readonly kind: 'delete-service';
  /** null for an lb_services entry with no record (a stray): only that entry goes. */
  readonly num: number | null;
  readonly service: ServiceId;
  readonly vip: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export interface DeleteBackend {
  readonly kind: 'delete-backend';
  readonly num: number;
  readonly service: ServiceId;
  readonly address: string;
  readonly port: number;
}

export interface DeleteAddress {
  readonly kind: 'delete-address';
  readonly address: string;
}

export interface WithdrawAddress {
  readonly kind: 'withdraw-address';
  readonly address: string;
  readonly ifindex: number;
}

export type Operation =
  | PutAddress
  | AnnounceAddress
  | PutBackend
  | PutService
  | PutSnatPool
  | DeleteService
  | DeleteBackend
  | DeleteAddress
  | WithdrawAddress;

export type OperationKind = Operation['kind'];

export const PHASE_ORDER: readonly OperationKind[] = [
  'put-address',
  'announce-address',
  'put-backend',
  'put-service',
  'put-snat-pool',
  'delete-service',
  'delete-backend',
  'delete-address',
  'withdraw-address',
];
