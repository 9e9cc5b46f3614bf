/*
 * A digest of the live config, recorded in lb_agent_run (status, metrics):
 * balancers fed the same file show the same digest, so drift across a fleet
 * is visible at a glance. Taken over the DesiredState, which is normalized
 * (defaults applied, services and backends sorted by identity): reordering
 * the YAML or spelling a default out does not change it.
 */
import { createHash } from 'node:crypto';
import type { DesiredState } from '../model/desired-state.js';

/** The first 64 bits of the SHA-256 of the state's JSON. */
export function configDigest(state: DesiredState): bigint {
  return createHash('sha256').update(JSON.stringify(state)).digest().readBigUInt64BE(0);
}

