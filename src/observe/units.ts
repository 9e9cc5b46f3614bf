/*
 * Numbers for people: counts, bytes, bit rates and durations in short,
 * fixed forms, so a column of them lines up (status table, conntrack list).
 * Pure.
 */

const SI = ['', 'K', 'M', 'G', 'T', 'P', 'E'];
const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** `value` scaled by `base` until under it, with 3 significant digits from the first step on. */
function scaled(value: number, base: number, units: readonly string[], sep: string): string {
  let v = value;
  let i = 0;
  while (Math.abs(v) >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  if (i === 0) return `${Math.round(v)}${sep}${units[0]}`.trimEnd();
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toFixed(digits)}${sep}${units[i]}`;
}

/** A count: exact below 100,000, then 123K, 1.23M, ... (1000-based). */
export function formatCount(n: bigint | number): string {
  const v = Number(n);
  return Math.abs(v) < 100_000 ? String(Math.round(v)) : scaled(v, 1000, SI, '');
}

/** Bytes: 512 B, 1.50 KiB, 12.3 MiB, ... (1024-based). */
export function formatBytes(n: bigint | number): string {
  return scaled(Number(n), 1024, BINARY, ' ');
}

/** A per-second rate of a count: 0, 12.5, 1.23K, ... */
export function formatRate(perSec: number): string {
  if (perSec === 0) return '0';
  if (Math.abs(perSec) < 100) return perSec.toFixed(1);
  return scaled(perSec, 1000, SI, '');
}

/** Bits per second: 0 bps, 812 bps, 1.20 Mbps, ... (1000-based, as links are rated). */
export function formatBitRate(bitsPerSec: number): string {
  const text = scaled(bitsPerSec, 1000, SI, ' ');
  return text.includes(' ') ? `${text}bps` : `${text} bps`;
}

/** Nanoseconds as a short duration: 850ms, 12.3s, 5m03s, 2h05m, 3d04h. */
export function formatDuration(ns: bigint): string {
  const ms = Number(ns) / 1e6;
  if (ms < 0) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const whole = Math.floor(s);
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (whole < 3600) return `${Math.floor(whole / 60)}m${pad(whole % 60)}s`;
  if (whole < 86_400) return `${Math.floor(whole / 3600)}h${pad(Math.floor((whole % 3600) / 60))}m`;
  return `${Math.floor(whole / 86_400)}d${pad(Math.floor((whole % 86_400) / 3600))}h`;
}
