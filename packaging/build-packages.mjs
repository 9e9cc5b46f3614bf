// `npm run package`: stage the installed tree once under build/package/root,
// then build the .deb and the .rpm from it into build/packages/. Run after
// `npm run build` (the npm script does both).
import fs from 'node:fs';
import path from 'node:path';
import { buildDeb } from './build-deb.mjs';
import { buildRpm } from './build-rpm.mjs';
import { stageTree } from './stage-tree.mjs';

/* Bump when the same upstream version is packaged again (rpm requires one). */
const RELEASE = '1';
/* The agent's own licence and the XDP program's (bpf/ SPDX headers). */
const OWN_LICENSES = ['Apache-2.0', 'GPL-2.0-only OR BSD-2-Clause'];

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const work = path.join(repo, 'build/package');
const outDir = path.join(repo, 'build/packages');
const stage = path.join(work, 'root');

const { version } = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));
const [summary, ...rest] = fs.readFileSync(path.join(repo, 'packaging/description.txt'), 'utf8').trimEnd().split('\n');
const description = rest.join('\n').trim();

const { modules } = stageTree(repo, stage);
fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(outDir, { recursive: true });
const common = { repo, stage, work, outDir, version, summary, description };
const deb = buildDeb(common);
const licenses = [...new Set([...OWN_LICENSES, ...modules.map((m) => m.license)])];
const rpm = buildRpm({ ...common, release: RELEASE, licenses });
console.log(`${path.relative(process.cwd(), deb)}\n${path.relative(process.cwd(), rpm)}`);
