/*
 * A digest of the live config, recorded in lb_agent_run (status, metrics):
 * balancers fed the same file show the same digest, so drift across a fleet
 * is visible at a glance. Taken over the DesiredState, which is normalized
 * (defaults applied, services and backends sorted by identity): reordering
 * the YAML or spelling a default out does not change it.
 */
import { createHash, type Hash } from 'node:crypto';
import type { DesiredState } from '../model/desired-state.js';

/**
 * The first 64 bits of the SHA-256 of the state's JSON (JSON.stringify).
 * The JSON is hashed a service at a time: whole, a large config's is a
 * string of megabytes made on every reload only to be hashed and dropped.
 */
export function configDigest(state: DesiredState): bigint {
  const hash = createHash('sha256');
  // JSON.stringify of a plain object: its keys in order, those with undefined values left out.
  let separator = '{';
  for (const [key, value] of Object.entries(state)) {
    if (value === undefined) continue;
    hash.update(`${separator}${JSON.stringify(key)}:`);
    separator = ',';
    if (key === 'services') hashList(hash, value as DesiredState['services']);
    else hash.update(JSON.stringify(value));
  }
  hash.update(separator === '{' ? '{}' : '}');
  return hash.digest().readBigUInt64BE(0);
}

/** JSON.stringify of a list of objects, into the hash piece by piece. */
function hashList(hash: Hash, items: readonly object[]): void {
  hash.update('[');
  items.forEach((item, i) => hash.update(i === 0 ? JSON.stringify(item) : `,${JSON.stringify(item)}`));
  hash.update(']');
}
