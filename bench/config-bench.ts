/*
 * Cost of the config front half, parseConfig (text -> positioned issues or
 * a DesiredState), warm, in one process:
 *
 *   npx tsc -p tsconfig.json && node dist/bench/config-bench.js
 *
 * The target it watches (DESIGN.md §1, the reload path): a one-backend edit
 * of a 1 MB config (1,000 services x 16 backends) is applied within 200 ms
 * p95 of the save, so parsing such a file must take well under 100 ms.
 * Cases: the example config; the large file; the same file with one weight
 * edited (what a reload parses); the large file with one warning or one
 * error, which also pay for placing it in the source; and the large file
 * behind a %YAML directive, which the fast reader (scan-simple-yaml.ts)
 * leaves to the `yaml` document API: the cost of anything outside its
 * subset. Every run's result is checked, so a case that stops being valid
 * (or invalid) fails loudly instead of timing an early exit.
 *
 * Options: --runs N (timed runs per case, default 20), --warmup N (untimed
 * runs before them, default 5).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { formatIssue, parseConfig, type ParseEnv } from '../src/config/index.js';
import { generateConfig } from './support/generate-config.js';
import { quantile } from './support/quantile.js';

/** The kernel's default net.ipv4.ip_local_port_range. */
const ENV: ParseEnv = { localPortRange: [32768, 60999] };
const LARGE = { services: 1000, backendsPerService: 16 };

/** What parseConfig must say about a case: valid without issues, valid with a warning, invalid. */
type Outcome = 'valid' | 'warning' | 'error';

interface Case {
  readonly name: string;
  readonly text: string;
  readonly expect: Outcome;
}

function cases(): Case[] {
  const large = generateConfig(LARGE);
  const edited = (service: number, backend: number, weight: number): string =>
    generateConfig({ ...LARGE, editWeight: { service, backend, weight } });
  const example = readFileSync(new URL('../../examples/config.yaml', import.meta.url), 'utf8');
  return [
    { name: 'examples/config.yaml', text: example, expect: 'valid' },
    { name: '1000 x 16', text: large, expect: 'valid' },
    // Service 501 is weighted_round_robin: the edit is valid and quiet.
    { name: '1000 x 16, one weight edited', text: edited(501, 7, 9), expect: 'valid' },
    // Service 500 is round_robin, which warns about a weight above 1: a valid file that still needs positions.
    { name: '1000 x 16, one warning', text: edited(500, 7, 9), expect: 'warning' },
    { name: '1000 x 16, one error', text: edited(999, 15, 70000), expect: 'error' },
    // A directive is valid YAML that the fast reader leaves to the yaml document API.
    { name: '1000 x 16, %YAML directive', text: `%YAML 1.2\n---\n${large}`, expect: 'valid' },
  ];
}

function runOnce(c: Case): number {
  const started = performance.now();
  const result = parseConfig(c.text, 'bench.yaml', ENV);
  const elapsed = performance.now() - started;
  const issues = result.ok ? result.warnings : result.issues;
  const outcome: Outcome = !result.ok ? 'error' : issues.length > 0 ? 'warning' : 'valid';
  if (outcome !== c.expect) {
    throw new Error(`${c.name}: expected ${c.expect}, got ${outcome}:\n${issues.slice(0, 5).map(formatIssue).join('\n')}`);
  }
  return elapsed;
}

function main(): void {
  const options = { runs: { type: 'string', default: '20' }, warmup: { type: 'string', default: '5' } } as const;
  const { values } = parseArgs({ options });
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(warmup) || warmup < 0) {
    throw new Error('--runs and --warmup take whole numbers');
  }

  const rows = [['case', 'size', 'median ms', 'p95 ms', 'min ms']];
  for (const c of cases()) {
    for (let i = 0; i < warmup; i++) runOnce(c);
    const samples = Array.from({ length: runs }, () => runOnce(c)).sort((a, b) => a - b);
    rows.push([
      c.name,
      `${(Buffer.byteLength(c.text) / 1024).toFixed(0)} KiB`,
      quantile(samples, 0.5).toFixed(2),
      quantile(samples, 0.95).toFixed(2),
      (samples[0] ?? Number.NaN).toFixed(2),
    ]);
  }
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length))) ?? [];
  const pad = (cell: string, col: number): string => (col === 0 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0));
  for (const row of rows) console.log(row.map(pad).join('  '));
  console.log(`node ${process.version}, ${runs} timed runs per case after ${warmup} warm-up runs`);
}

main();
