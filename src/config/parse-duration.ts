/**
 * Durations as the config writes them: a number and a unit, `ms`, `s`, `m`
 * or `h`, decimals allowed ("1.5s"); a bare number is not a duration. Pure.
 */

/** Longest duration accepted anywhere (30 days): beyond it a value is a typo, and sums stay exact. */
export const MAX_DURATION_MS = 30 * 24 * 3_600_000;

const DOT = 0x2e;

function unitMs(unit: string): number | undefined {
  switch (unit) {
    case 'ms':
      return 1;
    case 's':
      return 1000;
    case 'm':
      return 60_000;
    case 'h':
      return 3_600_000;
    default:
      return undefined;
  }
}

/** The end of the run of ASCII digits in `text` from `start`. */
function digitsEnd(text: string, start: number): number {
  let i = start;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    i++;
  }
  return i;
}

/**
 * Milliseconds, rounded to a whole millisecond ("1.5s" -> 1500,
 * "0.4ms" -> 0), or undefined if `text` is not a duration: digits,
 * optionally a point and more digits, then the unit. A scan, not a
 * regular expression: a reload reads each service's durations several
 * times, thousands in a large file, and a match allocates.
 */
export function parseDuration(text: string): number | undefined {
  const wholeEnd = digitsEnd(text, 0);
  if (wholeEnd === 0) return undefined;
  let end = wholeEnd;
  if (text.charCodeAt(end) === DOT) {
    end = digitsEnd(text, wholeEnd + 1);
    if (end === wholeEnd + 1) return undefined;
  }
  const factor = unitMs(text.slice(end));
  if (factor === undefined) return undefined;
  // Whole and fraction apart, so "1.1s" is 1100, not 1100.0000000000002.
  const digits = end === wholeEnd ? '' : text.slice(wholeEnd + 1, Math.min(end, wholeEnd + 10));
  const fractionMs = digits === '' ? 0 : (Number(digits) * factor) / 10 ** digits.length;
  return Math.round(Number(text.slice(0, wholeEnd)) * factor + fractionMs);
}
