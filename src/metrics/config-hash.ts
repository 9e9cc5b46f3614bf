/*
 * A digest of the live config for xdp4slb_config_info{hash}: balancers
 * running the same config show the same hash, so fleet drift is one
 * `count by (hash)` away. Taken over the normalized DesiredState, not the
 * file's bytes: comments, key order, service order and defaults written
 * out or left implicit do not change it. Pure.
 */
import { createHash } from 'node:crypto';
import type { DesiredState } from '../model/desired-state.js';

/** 16 hex digits of SHA-256 over the state's JSON (its key order is fixed by the code that builds it). */
export function configHash(state: DesiredState): string {
  return createHash('sha256').update(JSON.stringify(state)).digest('hex').slice(0, 16);
}
