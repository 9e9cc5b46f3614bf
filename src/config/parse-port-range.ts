/** "LOW-HIGH" port ranges (snat.ports). Pure. */

export interface PortRange {
  readonly low: number;
  readonly high: number;
}

/** The two numbers of "LOW-HIGH", or undefined if the text has another shape. Bounds are not checked. */
export function parsePortRange(text: string): PortRange | undefined {
  const match = /^([0-9]{1,5})-([0-9]{1,5})$/.exec(text);
  if (match === null) return undefined;
  return { low: Number(match[1]), high: Number(match[2]) };
}

/** Whether two inclusive ranges share at least one port. */
export function rangesOverlap(a: PortRange, b: PortRange): boolean {
  return a.low <= b.high && b.low <= a.high;
}
