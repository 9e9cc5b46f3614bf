// Runs the compiled test files of every layer (or of the layers named on
// the command line) in one node:test run, so one summary closes the output.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const LAYERS = ['unit', 'layout', 'bpf', 'e2e', 'packaging'];
const root = new URL('..', import.meta.url).pathname;
const wanted = process.argv.slice(2);
for (const layer of wanted) {
  if (!LAYERS.includes(layer)) {
    console.error(`unknown test layer "${layer}"; layers: ${LAYERS.join(', ')}`);
    process.exit(2);
  }
}

function testFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return testFiles(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

const layers = wanted.length ? wanted : LAYERS;
const files = layers.flatMap((layer) => testFiles(join(root, 'dist', 'test', layer)));
if (files.length === 0) {
  console.error('no compiled test files found: run `npm run build` first');
  process.exit(1);
}
/*
 * What tests create on the host — network namespaces, bpffs pins (XDP
 * programs live and die with them and with the namespaces) — must be gone
 * when they end, pass or fail: anything new that is left fails the run.
 */
function hostObjects() {
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  const names = netns.split('\n').map((line) => line.split(' ')[0]).filter(Boolean).map((n) => `netns ${n}`);
  const pins = existsSync('/sys/fs/bpf') ? readdirSync('/sys/fs/bpf').map((n) => `pin /sys/fs/bpf/${n}`) : [];
  return new Set([...names, ...pins]);
}

const before = hostObjects();
const result = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit' });
const leftovers = [...hostObjects()].filter((o) => !before.has(o));
if (leftovers.length > 0) {
  console.error(`tests left these behind:\n  ${leftovers.join('\n  ')}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
