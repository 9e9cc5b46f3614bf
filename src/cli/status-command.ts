/*
 * `xdp4slb-agent status [--json] [--watch [--interval D]]`: the status view
 * read from the pins (src/observe), whether an agent runs or not. --watch
 * reads again every interval and shows rates since the previous reading,
 * like `top`, until interrupted (with --json: one JSON document per line).
 * Exit 0; 3 when nothing is pinned (also when the datapath goes away during
 * --watch); 1 when the maps cannot be read.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { formatStatusTable } from '../observe/format-status-table.js';
import { ratesBetween, type Rates } from '../observe/rates.js';
import { readSnapshot } from '../observe/read-snapshot.js';
import type { Snapshot } from '../observe/snapshot.js';
import { statusJson } from '../observe/status-json.js';
import { EXIT_NOTHING_PINNED, nothingPinned, withPinnedMaps } from './pinned-maps.js';

export interface StatusOptions {
  readonly pinPath: string;
  readonly json: boolean;
  readonly watch: boolean;
  readonly intervalMs?: number;
}

export interface StatusIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
  /** Aborted on SIGINT/SIGTERM: --watch ends with exit 0. */
  readonly signal?: AbortSignal;
}

const CLEAR_SCREEN = '\x1b[H\x1b[2J';

function render(snapshot: Snapshot, json: boolean, watching: boolean, rates: Rates | undefined): string {
  if (!json) return formatStatusTable(snapshot, rates);
  const value = statusJson(snapshot, rates);
  return watching ? `${JSON.stringify(value)}\n` : `${JSON.stringify(value, null, 2)}\n`;
}

export async function statusCommand(opts: StatusOptions, io: StatusIo): Promise<number> {
  let previous: Snapshot | undefined;
  for (;;) {
    let read;
    try {
      read = withPinnedMaps(opts.pinPath, (maps) => readSnapshot(maps));
    } catch (err) {
      io.stderr.write(`xdp4slb-agent status: ${(err as Error).message}\n`);
      return 1;
    }
    if (!read.pinned) {
      io.stderr.write(`xdp4slb-agent status: ${nothingPinned(opts.pinPath)}\n`);
      return EXIT_NOTHING_PINNED;
    }
    const snapshot = read.value;
    const rates = previous && ratesBetween(previous, snapshot);
    const text = render(snapshot, opts.json, opts.watch, rates);
    if (!opts.watch) {
      io.stdout.write(text);
      return 0;
    }
    io.stdout.write(!opts.json && io.stdout.isTTY ? `${CLEAR_SCREEN}${text}` : `${text}${opts.json ? '' : '\n'}`);
    previous = snapshot;
    try {
      await sleep(opts.intervalMs ?? 2_000, undefined, io.signal ? { signal: io.signal } : {});
    } catch {
      return 0;
    }
  }
}
