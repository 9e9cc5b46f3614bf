/*
 * Watches the agent's config file for hot reload. Owns only the signal
 * "something happened to the file": reading, validating and applying are the
 * caller's. Reloads are level-based (DESIGN.md §5), so an extra call costs an
 * empty plan while a missed one leaves a stale config live; every choice here
 * leans towards calling.
 *
 * The file's directory is watched (depth 0) and events are filtered by the
 * file's path, rather than watching the file itself (PLATFORM.md): an editor's
 * atomic save (write a temporary file, rename it over), `mv other config.yaml`
 * and delete-then-recreate all put a new inode under the name, and a watch on
 * the old inode would go quiet.
 *
 * Bursts (truncate + write + chmod, a rename pair, a script writing in steps)
 * become one call after `debounceMs` of quiet. chokidar's awaitWriteFinish is
 * not used: it polls for stability and adds ~2 s to every reload.
 */
import { watch } from 'chokidar';
import path from 'node:path';
import { realTimers, type Timers } from './timers.js';

/*
 * chokidar drops a `change` that comes within 50 ms of the previous one for
 * the same path (it keeps the first, not the last). A debounce at least this
 * long ends after any write whose event was dropped, so the reload reads it;
 * the call then comes at least debounceMs - 50 ms after the last write.
 */
const CHOKIDAR_CHANGE_THROTTLE_MS = 50;
const DEFAULT_DEBOUNCE_MS = 100;

export interface WatchConfigOptions {
  /** Quiet time after the last event before onChange; at least 50 ms. Default 100. */
  debounceMs?: number;
  /**
   * Called once per burst when the file was written, replaced, created or
   * deleted. A deletion with no re-create is reported as well, after chokidar's
   * 100 ms wait for a re-create plus the debounce: the caller's read then fails,
   * it logs "cannot read" and keeps the last good config live.
   */
  onChange: () => void;
  /**
   * A watcher error (e.g. out of inotify watches), for the caller to log.
   * Events may have been lost with it, so a reload is scheduled as well.
   */
  onError: (error: unknown) => void;
  timers?: Timers;
}

export interface ConfigWatcher {
  /** Settles once the initial scan is done (changes from then on are seen), or on close(). */
  readonly ready: Promise<void>;
  /** Stops watching and cancels a pending call: onChange is never called afterwards. */
  close(): Promise<void>;
}

export function watchConfigFile(file: string, options: WatchConfigOptions): ConfigWatcher {
  const { debounceMs = DEFAULT_DEBOUNCE_MS, onChange, onError, timers = realTimers } = options;
  if (!(debounceMs >= CHOKIDAR_CHANGE_THROTTLE_MS)) {
    throw new RangeError(`debounceMs must be at least ${CHOKIDAR_CHANGE_THROTTLE_MS} (got ${debounceMs})`);
  }
  // chokidar reports paths joined onto the directory it was given, so an
  // absolute, normalised directory makes the file's events compare equal.
  const target = path.resolve(file);
  const dir = path.dirname(target);

  let pending: unknown;
  const schedule = (): void => {
    if (pending !== undefined) timers.clearTimeout(pending);
    pending = timers.setTimeout(() => {
      pending = undefined;
      onChange();
    }, debounceMs);
  };

  const watcher = watch(dir, {
    depth: 0,
    ignoreInitial: true,
    // Track only the directory and the file: chokidar opens a watch per file
    // it tracks, and the config may share its directory with many (/etc).
    ignored: (p: string) => p !== dir && p !== target,
  });
  // Events on the directory itself (e.g. its removal) pass `ignored` but are not the file's.
  watcher.on('all', (_event, p) => {
    if (p === target) schedule();
  });
  watcher.on('error', (error) => {
    onError(error);
    schedule();
  });

  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  watcher.once('ready', markReady);

  return {
    ready,
    close(): Promise<void> {
      if (pending !== undefined) timers.clearTimeout(pending);
      pending = undefined;
      // Nobody waits forever on a watcher closed during its initial scan.
      markReady();
      // Removes chokidar's listeners at once, so no event schedules after this.
      return watcher.close();
    },
  };
}
