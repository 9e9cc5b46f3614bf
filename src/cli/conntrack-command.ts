/*
 * `xdp4slb-agent conntrack [--service NAME] [--limit N]`: the flows in lb_ct
 * (client, VIP, SNAT tuple, backend, state, age, idle time), read from the
 * pins. Exit 0; 3 when nothing is pinned; 1 for an unknown service or when
 * the maps cannot be read.
 */
import { formatConnections } from '../observe/format-connections.js';
import { readConnections } from '../observe/read-connections.js';
import { EXIT_NOTHING_PINNED, nothingPinned, withPinnedMaps } from './pinned-maps.js';

export interface ConntrackOptions {
  readonly pinPath: string;
  readonly service?: string;
  readonly limit?: number;
}

export function conntrackCommand(opts: ConntrackOptions, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): number {
  try {
    const read = withPinnedMaps(opts.pinPath, (maps) => readConnections(maps, opts));
    if (!read.pinned) {
      stderr.write(`xdp4slb-agent conntrack: ${nothingPinned(opts.pinPath)}\n`);
      return EXIT_NOTHING_PINNED;
    }
    stdout.write(formatConnections(read.value));
    return 0;
  } catch (err) {
    stderr.write(`xdp4slb-agent conntrack: ${(err as Error).message}\n`);
    return 1;
  }
}
