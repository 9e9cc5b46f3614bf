/*
 * How datapath and agent vocabulary becomes Prometheus label values. Pure.
 * Label values come from small fixed sets or from the config (service
 * names, backend address:port, SNAT addresses): the cardinality of every
 * family is bounded by the config, never by clients.
 */
import { BACKEND_ADMIN_NAMES, IPPROTO_TCP, IPPROTO_UDP, SCHEDULER_NAMES } from '../datapath/codecs.js';

/** Every metric family of the agent starts with this. */
export const METRIC_PREFIX = 'xdp4slb_';

/** `direction` label: "in" is client -> backend, "out" is backend -> client (struct lb_traffic). */
export const DIRECTIONS = ['in', 'out'] as const;

export interface CounterLabel {
  /** Which family the lb_counters slot belongs to. */
  readonly verdict: 'dropped' | 'passed';
  readonly reason: string;
}

/**
 * A COUNTER_NAMES entry ("drop_no_backend", "pass_malformed") as a family
 * and a `reason` ("no_backend", "malformed"). A name with neither prefix is
 * a datapath counter this agent does not know how to present: an error, so
 * that a new counter cannot silently land in the wrong family.
 */
export function counterLabel(name: string): CounterLabel {
  const match = /^(drop|pass)_([a-z0-9_]+)$/.exec(name);
  if (match === null) throw new Error(`datapath counter ${JSON.stringify(name)} is neither drop_* nor pass_*`);
  return { verdict: match[1] === 'drop' ? 'dropped' : 'passed', reason: match[2]! };
}

/** lb_service_meta.proto as the config writes it. */
export function protocolName(proto: number): string {
  return proto === IPPROTO_TCP ? 'tcp' : proto === IPPROTO_UDP ? 'udp' : String(proto);
}

/** enum lb_scheduler as the config writes it. */
export function schedulerName(id: number): string {
  return SCHEDULER_NAMES[id] ?? String(id);
}

/** enum lb_backend_admin as the config writes it. */
export function adminName(admin: number): string {
  return BACKEND_ADMIN_NAMES[admin] ?? String(admin);
}

/** A bigint counter as a sample value (exact below 2^53, which a u64 packet count reaches after centuries). */
export function sampleValue(value: bigint | number): number {
  return typeof value === 'number' ? value : Number(value);
}
