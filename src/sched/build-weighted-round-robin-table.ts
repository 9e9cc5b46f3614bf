/**
 * weighted_round_robin: an interleaved sequence in which each backend occurs
 * in proportion to its weight, walked by the datapath like round_robin.
 *
 * 1. Weights are divided by their gcd ([2, 4] is [1, 2]: a 3-slot table).
 * 2. If the reduced weights sum to more than `maxSlots` (default
 *    LB_MAGLEV_TABLE_SIZE = 16381), slots are apportioned to exactly
 *    `maxSlots` by largest remainder (Hamilton): each backend gets
 *    floor(quota), the leftover slots go to the largest fractional parts.
 *    A backend whose share rounds to 0 still gets one slot, taken from the
 *    backend with the largest surplus over its quota (see apportionSlots).
 * 3. The counts are interleaved with the smooth weighted round-robin walk
 *    (as in nginx): each step every backend adds its count to a running
 *    credit, the backend with the largest credit (first in key order on a
 *    tie) is emitted and pays back the total. Each backend's occurrences are
 *    spread evenly; equal weights give a plain rotation.
 */
import { LB_MAGLEV_TABLE_SIZE } from '../datapath/codecs.js';
import { apportionSlots } from './apportion-slots.js';
import { canonicalBackends, type SchedBackend } from './scheduler-backend.js';

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * Slot counts for `weights` (all > 0): the gcd-reduced weights when they sum
 * to at most `maxSlots`, else exactly `maxSlots` slots by largest remainder.
 */
export function weightedSlotCounts(weights: readonly number[], maxSlots: number = LB_MAGLEV_TABLE_SIZE): number[] {
  if (weights.length === 0) return [];
  const g = weights.reduce((acc, w) => gcd(acc, w), 0);
  const reduced = weights.map((w) => w / g);
  const total = reduced.reduce((s, w) => s + w, 0);
  return total <= maxSlots ? reduced : apportionSlots(reduced, maxSlots);
}

/**
 * Smooth weighted round-robin (nginx's walk) over `counts`: a sequence of
 * indexes, sum(counts) long, in which index i occurs counts[i] times. Each
 * step every index adds its count to its credit; the largest credit (lowest
 * index on a tie) is emitted and pays back the total.
 */
export function smoothInterleave(counts: readonly number[]): number[] {
  const total = counts.reduce((s, c) => s + c, 0);
  const credit = counts.map(() => 0);
  const out: number[] = [];
  for (let step = 0; step < total; step++) {
    let pick = -1;
    let best = -Infinity;
    for (let i = 0; i < counts.length; i++) {
      const c = (credit[i] ?? 0) + (counts[i] ?? 0);
      credit[i] = c;
      if (c > best) {
        best = c;
        pick = i;
      }
    }
    credit[pick] = (credit[pick] ?? 0) - total;
    out.push(pick);
  }
  return out;
}

/** Backend slots, without the header. */
export function buildWeightedRoundRobinTable(backends: readonly SchedBackend[], maxSlots: number = LB_MAGLEV_TABLE_SIZE): Uint32Array {
  const sorted = canonicalBackends(backends);
  const counts = weightedSlotCounts(
    sorted.map((b) => b.weight),
    maxSlots,
  );
  return Uint32Array.from(smoothInterleave(counts), (i) => sorted[i]?.id ?? 0);
}
