/*
 * The demo (the README's main job without a config) runs from start to end:
 * round robin over two servers, a third one added live, everything removed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const DEMO = fileURLToPath(new URL('../../demo/run-demo.js', import.meta.url));

function netnsList(): string {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
}

describe('the demo', { timeout: 90_000 }, () => {
  it('shows rs-1, rs-2 alternating, then rs-3 taking traffic without a restart, and cleans up', () => {
    const res = spawnSync(process.execPath, [DEMO], { encoding: 'utf8', timeout: 80_000 });
    assert.equal(res.status, 0, `${res.stdout}\n${res.stderr}`);
    const answers = [...res.stdout.matchAll(/^ {3}client \| (rs-\d)$/gm)].map((m) => m[1]);
    const first = answers.slice(0, 4);
    assert.deepEqual(new Set(first), new Set(['rs-1', 'rs-2']));
    assert.ok(first.every((a, i) => i === 0 || a !== first[i - 1]), `round robin alternates: ${first.join(', ')}`);
    const after = answers.slice(4);
    assert.equal(after.length, 6);
    assert.deepEqual(new Set(after), new Set(['rs-1', 'rs-2', 'rs-3']));
    assert.doesNotMatch(netnsList(), /xdp4slb-demo/);
    assert.ok(!fs.existsSync('/sys/fs/bpf/xdp4slb-demo'));
  });
});
