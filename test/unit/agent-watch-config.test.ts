import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { watchConfigFile, type ConfigWatcher } from '../../src/agent/watch-config.js';
import { countingTimers } from '../support/counting-timers.js';

const DEBOUNCE_MS = 100;
/** Upper bound from a change on disk to onChange (DESIGN: reloads are prompt). */
const DETECT_MS = 1000;
/**
 * How long "nothing happens" is watched for: the debounce plus chokidar's
 * 100 ms wait before it reports an unlink, with margin.
 */
const QUIET_MS = 350;
const BURST_DEBOUNCE_MS = 300;

const root = mkdtempSync(join(tmpdir(), 'xdp4slb-watch-'));
after(() => rmSync(root, { recursive: true, force: true }));


async function waitFor(what: string, condition: () => boolean, timeoutMs = 2 * DETECT_MS): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

interface Case {
  dir: string;
  file: string;
  /** performance.now() of each onChange call. */
  calls: number[];
  timers: ReturnType<typeof countingTimers>;
  watcher: ConfigWatcher;
}

/** A fresh directory holding config.yaml, watched and ready; closed when the test ends. */
async function watchedCase(t: { after(fn: () => Promise<void>): void }, existing = true, debounceMs = DEBOUNCE_MS): Promise<Case> {
  const dir = mkdtempSync(join(root, 'case-'));
  const file = join(dir, 'config.yaml');
  if (existing) writeFileSync(file, 'version: 1\n');
  const calls: number[] = [];
  const timers = countingTimers();
  const watcher = watchConfigFile(file, {
    debounceMs,
    onChange: () => calls.push(performance.now()),
    onError: (error) => assert.fail(`watcher error: ${String(error)}`),
    timers,
  });
  t.after(() => watcher.close());
  await watcher.ready;
  return { dir, file, calls, timers, watcher };
}

/** The first call came within DETECT_MS of `since`. */
async function assertDetected(c: Case, since: number): Promise<void> {
  await waitFor('onChange', () => c.calls.length > 0);
  const latency = c.calls[0]! - since;
  assert.ok(latency < DETECT_MS, `onChange came ${latency.toFixed(0)} ms after the change`);
}

/** No call arrives in the next QUIET_MS; the count is then final. */
async function settle(c: Case): Promise<number> {
  const count = c.calls.length;
  await sleep(QUIET_MS);
  assert.equal(c.calls.length, count, 'onChange was called again after the debounce');
  return count;
}

// Each case has its own directory, so they run side by side.
describe('watchConfigFile', { concurrency: true }, () => {
  it('starts quiet: the existing file is not reported', async (t) => {
    const c = await watchedCase(t);
    assert.equal(await settle(c), 0);
  });

  it('a plain write calls onChange once', async (t) => {
    const c = await watchedCase(t);
    const since = performance.now();
    writeFileSync(c.file, 'version: 1\n# edited\n');
    await assertDetected(c, since);
    assert.equal(await settle(c), 1);
  });

  it('an atomic save (write a temporary file, rename it over) calls onChange', async (t) => {
    const c = await watchedCase(t);
    const tmp = join(c.dir, '.config.yaml.tmp');
    const since = performance.now();
    writeFileSync(tmp, 'version: 1\n# saved\n');
    renameSync(tmp, c.file);
    await assertDetected(c, since);
    assert.equal(await settle(c), 1);
  });

  it('mv of another file over it calls onChange', async (t) => {
    const c = await watchedCase(t);
    const other = join(c.dir, 'staged.yaml');
    writeFileSync(other, 'version: 1\n# staged\n');
    await settle(c);
    const since = performance.now();
    renameSync(other, c.file);
    await assertDetected(c, since);
    assert.equal(await settle(c), 1);
  });

  for (const gapMs of [10, 250]) {
    it(`delete, then re-create ${gapMs} ms later, calls onChange after the re-create`, async (t) => {
      const c = await watchedCase(t);
      unlinkSync(c.file);
      await sleep(gapMs);
      const recreated = performance.now();
      writeFileSync(c.file, 'version: 1\n# re-created\n');
      // The delete and the re-create may be one call or two (more under load):
      // what matters is that the last one reads the re-created file.
      await waitFor('a call after the re-create', () => (c.calls.at(-1) ?? 0) > recreated);
      const latency = c.calls.at(-1)! - recreated;
      assert.ok(latency < DETECT_MS, `onChange came ${latency.toFixed(0)} ms after the re-create`);
    });
  }

  it('a delete with no re-create calls onChange once (the reload then reports "cannot read")', async (t) => {
    const c = await watchedCase(t);
    const since = performance.now();
    unlinkSync(c.file);
    await assertDetected(c, since);
    assert.equal(await settle(c), 1);
  });

  it('a file created after the watch started calls onChange', async (t) => {
    const c = await watchedCase(t, false);
    const since = performance.now();
    writeFileSync(c.file, 'version: 1\n');
    await assertDetected(c, since);
    assert.equal(await settle(c), 1);
  });

  it('a burst of 10 writes 5 ms apart calls onChange once, after the last write', async (t) => {
    // On a loaded machine the 5 ms sleeps stretch towards 100 ms, and a gap as
    // long as the debounce minus chokidar's 50 ms change throttle rightly
    // gives two calls; a longer debounce keeps the burst a burst.
    const c = await watchedCase(t, true, BURST_DEBOUNCE_MS);
    const writes: number[] = [];
    for (let i = 0; i < 10; i++) {
      writeFileSync(c.file, `version: 1\n# write ${i}\n`);
      writes.push(performance.now());
      await sleep(5);
    }
    const last = writes.at(-1)!;
    const gap = Math.max(...writes.slice(1).map((w, i) => w - writes[i]!));
    assert.ok(gap < BURST_DEBOUNCE_MS - 50, `not a burst: writes up to ${gap.toFixed(0)} ms apart (machine overloaded?)`);
    await assertDetected(c, last);
    await sleep(QUIET_MS);
    const t0 = writes[0]!;
    assert.equal(c.calls.length, 1, `writes at ${writes.map((w) => (w - t0).toFixed(0))} ms, calls at ${c.calls.map((w) => (w - t0).toFixed(0))} ms`);
    assert.ok(c.calls[0]! > last, 'onChange came before the burst ended');
  });

  it('writes, renames and deletes of other files in the directory are ignored', async (t) => {
    const c = await watchedCase(t);
    const other = join(c.dir, 'other.yaml');
    writeFileSync(other, 'a\n');
    writeFileSync(other, 'b\n');
    writeFileSync(join(c.dir, 'config.yaml.bak'), 'version: 1\n');
    renameSync(other, join(c.dir, 'moved.yaml'));
    unlinkSync(join(c.dir, 'moved.yaml'));
    assert.equal(await settle(c), 0);
  });

  it('close() cancels a pending call, leaves no timer and stops watching', async (t) => {
    const c = await watchedCase(t);
    writeFileSync(c.file, 'version: 1\n# edited\n');
    await waitFor('the debounce timer', () => c.timers.live.size > 0);
    await c.watcher.close();
    assert.equal(c.timers.live.size, 0, 'a timer survived close()');
    writeFileSync(c.file, 'version: 1\n# after close\n');
    assert.equal(await settle(c), 0);
    assert.equal(c.timers.live.size, 0);
  });

  it('ready settles when closed during the initial scan', async () => {
    const watcher = watchConfigFile(join(root, 'config.yaml'), { onChange: () => {}, onError: () => {} });
    const closed = watcher.close();
    await watcher.ready;
    await closed;
  });

  it('rejects a debounce shorter than chokidar\'s 50 ms change throttle', () => {
    assert.throws(
      () => watchConfigFile(join(root, 'config.yaml'), { debounceMs: 10, onChange: () => {}, onError: () => {} }),
      RangeError,
    );
  });
});
