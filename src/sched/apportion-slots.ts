/**
 * Largest-remainder (Hamilton) apportionment of table slots to weights.
 */
import { SchedError } from './scheduler-backend.js';

/**
 * Splits exactly `total` slots among `weights` (all > 0) in proportion:
 * each gets floor(quota) with quota = w * total / sum(w), the leftover slots
 * go to the largest fractional parts (earlier index first on a tie). A
 * weight whose share rounds to 0 still gets one slot, taken from the entry
 * with the largest surplus over its quota. Every count is within one slot of
 * its exact quota, except that each such forced slot costs the entry with
 * the largest surplus one more (so a few heavy entries may end a few slots
 * under quota when many light ones are forced up). Integer arithmetic only
 * (no float rounding).
 */
export function apportionSlots(weights: readonly number[], total: number): number[] {
  const n = weights.length;
  if (n === 0) return [];
  if (n > total) throw new SchedError('ERR_SCHED_TOO_MANY', `${n} backends do not fit in ${total} slots`);
  const sum = weights.reduce((s, w) => s + w, 0);
  if (!Number.isSafeInteger(sum * total)) throw new SchedError('ERR_SCHED_BACKEND', `weights too large to apportion`);

  // quota_i = w_i * total / sum as the exact fraction (w_i * total) / sum.
  const counts = weights.map((w) => Math.floor((w * total) / sum));
  const rem = weights.map((w) => (w * total) % sum);
  let left = total - counts.reduce((s, c) => s + c, 0);
  const byRemainder = weights.map((_, i) => i).sort((a, b) => (rem[b] ?? 0) - (rem[a] ?? 0) || a - b);
  for (const i of byRemainder) {
    if (left === 0) break;
    counts[i] = (counts[i] ?? 0) + 1;
    left--;
  }
  for (let i = 0; i < n; i++) {
    if (counts[i] !== 0) continue;
    // Donor: largest surplus count - quota, i.e. count * sum - w * total.
    let donor = -1;
    let best = -Infinity;
    for (let j = 0; j < n; j++) {
      const c = counts[j] ?? 0;
      if (c < 2) continue;
      const surplus = c * sum - (weights[j] ?? 0) * total;
      if (surplus > best) {
        best = surplus;
        donor = j;
      }
    }
    // A donor exists: the counts sum to total >= n, and this entry has 0.
    counts[donor] = (counts[donor] ?? 0) - 1;
    counts[i] = 1;
  }
  return counts;
}
