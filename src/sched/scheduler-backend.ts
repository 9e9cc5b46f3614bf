/**
 * Shared input type, validation and ordering for the scheduler-table builders.
 * Pure: no I/O.
 */

/** One eligible backend of a service, as the table builders see it. */
export interface SchedBackend {
  /** Backend id: the index into lb_backends the table slots hold (__u32). */
  id: number;
  /** Stable identity, e.g. "198.18.0.2:80": the sort key and the Maglev hash input. */
  key: string;
  /** 0..65535; a backend with weight 0 takes no slot. */
  weight: number;
}

export type SchedErrorCode = 'ERR_SCHED_BACKEND' | 'ERR_SCHED_DUPLICATE' | 'ERR_SCHED_TOO_MANY' | 'ERR_SCHED_TABLE_SIZE' | 'ERR_SCHED_HEADER';

export class SchedError extends Error {
  readonly code: SchedErrorCode;
  constructor(code: SchedErrorCode, message: string) {
    super(message);
    this.name = 'SchedError';
    this.code = code;
  }
}

/**
 * Total order on backend keys, the same on every machine and in every locale:
 * runs of decimal digits compare by numeric value (so "198.18.0.2:80" sorts
 * before "198.18.0.10:80"), everything else by UTF-16 code unit; keys that
 * tie that way (e.g. "01" vs "1") fall back to a plain code-unit comparison.
 */
export function compareKeys(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    if (isDigit(ca) && isDigit(cb)) {
      let ei = i;
      while (ei < a.length && isDigit(a.charCodeAt(ei))) ei++;
      let ej = j;
      while (ej < b.length && isDigit(b.charCodeAt(ej))) ej++;
      const na = stripZeros(a.slice(i, ei));
      const nb = stripZeros(b.slice(j, ej));
      if (na.length !== nb.length) return na.length - nb.length;
      if (na !== nb) return na < nb ? -1 : 1;
      i = ei;
      j = ej;
    } else {
      if (ca !== cb) return ca - cb;
      i++;
      j++;
    }
  }
  if (a.length - i !== b.length - j) return a.length - i - (b.length - j);
  return a < b ? -1 : a > b ? 1 : 0;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function stripZeros(s: string): string {
  const t = s.replace(/^0+/, '');
  return t === '' ? '0' : t;
}

/**
 * Validates the backends and returns those with weight > 0, sorted by key
 * (compareKeys): the canonical input of every builder, so the order of the
 * YAML never matters. Throws SchedError on a bad id/key/weight or a
 * duplicate key or id.
 */
export function canonicalBackends(backends: readonly SchedBackend[]): SchedBackend[] {
  const keys = new Set<string>();
  const ids = new Set<number>();
  for (const b of backends) {
    if (!Number.isInteger(b.id) || b.id < 0 || b.id > 0xffffffff) {
      throw new SchedError('ERR_SCHED_BACKEND', `backend ${JSON.stringify(b.key)}: id must be a __u32, got ${b.id}`);
    }
    if (typeof b.key !== 'string' || b.key === '') {
      throw new SchedError('ERR_SCHED_BACKEND', `backend id ${b.id}: key must be a non-empty string`);
    }
    if (!Number.isInteger(b.weight) || b.weight < 0 || b.weight > 65535) {
      throw new SchedError('ERR_SCHED_BACKEND', `backend ${JSON.stringify(b.key)}: weight must be an integer 0..65535, got ${b.weight}`);
    }
    if (keys.has(b.key)) throw new SchedError('ERR_SCHED_DUPLICATE', `duplicate backend key ${JSON.stringify(b.key)}`);
    if (ids.has(b.id)) throw new SchedError('ERR_SCHED_DUPLICATE', `duplicate backend id ${b.id}`);
    keys.add(b.key);
    ids.add(b.id);
  }
  return backends.filter((b) => b.weight > 0).sort((x, y) => compareKeys(x.key, y.key));
}
