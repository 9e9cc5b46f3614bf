/**
 * round_robin: one slot per eligible backend, in key order (compareKeys), so
 * the order of the YAML does not matter. The datapath walks the slots with
 * one shared atomic counter per service. Weights are ignored (only weight 0,
 * "takes no new flows", removes a backend).
 */
import { canonicalBackends, type SchedBackend } from './scheduler-backend.js';

/** Backend slots, without the header. */
export function buildRoundRobinTable(backends: readonly SchedBackend[]): Uint32Array {
  return Uint32Array.from(canonicalBackends(backends), (b) => b.id);
}
