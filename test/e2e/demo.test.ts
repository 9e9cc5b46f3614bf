/*
 * The demo (the README's main job without a config) runs from start to end:
 * round robin over two servers, a third one added live, the metrics it shows
 * counting the flows each server answered, everything removed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const DEMO = fileURLToPath(new URL('../../demo/run-demo.js', import.meta.url));

/** Address of each demo server by name. */
const ADDRESSES: Record<string, string> = { 'rs-1': '198.18.0.2', 'rs-2': '198.18.0.3', 'rs-3': '198.18.0.4' };

/** Each shown round of metrics: backend address -> new flows. */
function metricRounds(stdout: string): Map<string, number>[] {
  return stdout.split(/^== metrics.*$/m).slice(1).map((round) => {
    const flows = new Map<string, number>();
    for (const m of round.matchAll(/^ {3}metrics \| xdp4slb_backend_new_flows_total\{service="web",backend="([\d.]+):80"\} (\d+)$/gm)) flows.set(m[1]!, Number(m[2]));
    return flows;
  });
}

/** Answers per server address, as the metrics count them. */
function flowsOf(answers: readonly (string | undefined)[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of answers) out.set(ADDRESSES[a!]!, (out.get(ADDRESSES[a!]!) ?? 0) + 1);
  return out;
}

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
    const rounds = metricRounds(res.stdout);
    assert.equal(rounds.length, 2, res.stdout);
    assert.deepEqual(rounds[0], flowsOf(first), 'metrics after the first requests');
    assert.deepEqual(rounds[1], flowsOf(answers), 'metrics after all requests');
    assert.doesNotMatch(netnsList(), /xdp4slb-demo/);
    assert.ok(!fs.existsSync('/sys/fs/bpf/xdp4slb-demo'));
  });
});
