/*
 * Opening the pinned maps for a read-only command (status, conntrack): with
 * nothing pinned, a clear message and exit status 3 (as an LSB init
 * script's `status` says "not running"), so scripts can tell "no datapath
 * here" from a failure (1) and a usage error (2).
 */
import { DatapathMaps } from '../datapath/datapath-maps.js';

export const EXIT_NOTHING_PINNED = 3;

export function nothingPinned(pinPath: string): string {
  return `nothing pinned under ${pinPath}: no datapath to read (not started, or taken down; give the agent's --pin-path if it uses another)`;
}

/** `read` on the maps pinned under `pinPath`, closed afterwards; undefined when nothing is pinned there. */
export function withPinnedMaps<T>(pinPath: string, read: (maps: DatapathMaps) => T): { pinned: true; value: T } | { pinned: false } {
  const maps = DatapathMaps.fromPins(pinPath);
  if (maps === undefined) return { pinned: false };
  try {
    return { pinned: true, value: read(maps) };
  } finally {
    maps.close();
  }
}
