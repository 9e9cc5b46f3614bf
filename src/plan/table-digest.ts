/**
 * The digest of a scheduler table's inputs. The table itself (up to 16,381
 * slots) is a pure function of the scheduler and the eligible backends
 * (src/sched), so the agent stores this 64-bit digest beside the table
 * (lb_svc_meta) and compares digests instead of reading every slot back.
 * TABLE_BUILD_VERSION changes whenever src/sched builds a different table
 * from the same inputs, so that an upgraded agent republishes every table.
 */
import { hash } from 'node:crypto';
import type { SchedulerName } from '../model/desired-state.js';
import type { TableBackend } from './operations.js';

const TABLE_BUILD_VERSION = 1;

const PIPE = 0x7c;
const EQUALS = 0x3d;
const STAR = 0x2a;

/* Room for any number as text: "-1.7976931348623157e+308" is the longest. */
const NUMBER_ROOM = 24;

/** Writes `n` as String(n) does at `at`; returns the offset after it. Digit by digit for the ids and weights here. */
function writeNumber(buf: Buffer, at: number, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) return at + buf.write(String(n), at, 'latin1');
  let end = at + 1;
  for (let rest = Math.floor(n / 10); rest > 0; rest = Math.floor(rest / 10)) end++;
  let rest = n;
  for (let i = end - 1; i >= at; i--) {
    buf[i] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return end;
}

/** Writes `text` as UTF-8 at `at`; returns the offset after it. ASCII (every key here) byte by byte. */
function writeText(buf: Buffer, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return at + buf.write(text, at, 'utf8');
    buf[at + i] = c;
  }
  return at + text.length;
}

/**
 * 16 lowercase hex digits (a __u64 in lb_svc_meta.table_digest): the
 * first 8 bytes of the SHA-256 of the UTF-8 text `VERSION|scheduler`
 * followed by `|id=key*weight` per backend. Every plan digests every
 * service (1,000 in a large config): the text is written into a buffer
 * and hashed in one call, rather than built as strings (some 3 KB of
 * garbage per service) or fed to a streaming hash piece by piece.
 */
export function tableDigest(scheduler: SchedulerName, backends: readonly TableBackend[]): string {
  // Room for the longest text: a key or name takes at most 3 UTF-8 bytes per UTF-16 unit.
  let size = NUMBER_ROOM + 1 + 3 * scheduler.length;
  for (const b of backends) size += 3 + 2 * NUMBER_ROOM + 3 * b.key.length;
  const buf = Buffer.allocUnsafe(size);
  let at = writeNumber(buf, 0, TABLE_BUILD_VERSION);
  buf[at++] = PIPE;
  at = writeText(buf, at, scheduler);
  for (const b of backends) {
    buf[at++] = PIPE;
    at = writeNumber(buf, at, b.id);
    buf[at++] = EQUALS;
    at = writeText(buf, at, b.key);
    buf[at++] = STAR;
    at = writeNumber(buf, at, b.weight);
  }
  return hash('sha256', buf.subarray(0, at), 'hex').slice(0, 16);
}
