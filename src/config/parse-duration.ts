/**
 * Durations as the config writes them: a number and a unit, `ms`, `s`, `m`
 * or `h`, decimals allowed ("1.5s"); a bare number is not a duration. Pure.
 */

const DURATION = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Longest duration accepted anywhere (30 days): beyond it a value is a typo, and sums stay exact. */
export const MAX_DURATION_MS = 30 * 24 * 3_600_000;

/**
 * Milliseconds, rounded to a whole millisecond ("1.5s" -> 1500,
 * "0.4ms" -> 0), or undefined if `text` is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (match === null) return undefined;
  const [, amount = '', unit = ''] = match;
  const factor = UNIT_MS[unit];
  if (factor === undefined) return undefined;
  // Split at the point so "1.1s" is 1100, not 1100.0000000000002.
  const [whole = '0', fraction = ''] = amount.split('.');
  const digits = fraction.slice(0, 9);
  const fractionMs = digits === '' ? 0 : (Number(digits) * factor) / 10 ** digits.length;
  return Math.round(Number(whole) * factor + fractionMs);
}
