// The fast reader (scan-simple-yaml.ts) against the `yaml` package: for
// every text it accepts, the same data, the same outline (so the same
// positions) and the same line starts; every text outside its subset is
// left to the `yaml` package. Hand-picked texts, then generated ones.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LineCounter, parseDocument } from 'yaml';
import { parseConfig, type ParseEnv } from '../../src/config/index.js';
import { loadDocument } from '../../src/config/load-config.js';
import { parseLoadedConfig } from '../../src/config/parse-config.js';
import { scanSimpleYaml } from '../../src/config/scan-simple-yaml.js';
import { outlineDocument } from '../../src/config/source-outline.js';
import { generateConfig } from '../../bench/support/generate-config.js';

const ROOT = new URL('../../../', import.meta.url);
const ENV: ParseEnv = { localPortRange: [32768, 60999] };

/** Fails unless `text` is read, and read exactly as the `yaml` package reads it. */
function assertSameAsYaml(text: string): void {
  const scanned = scanSimpleYaml(text);
  assert.ok(scanned !== undefined, `not read by the fast reader:\n${text}`);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: '1.2' });
  assert.deepEqual([...doc.errors, ...doc.warnings].map((e) => e.message), [], text);
  assert.deepStrictEqual(scanned.value, doc.toJS(), text);
  const { outline, lineCounter: lines } = scanned.positions();
  assert.deepStrictEqual(outline, outlineDocument(doc), text);
  assert.deepStrictEqual(lines.lineStarts, lineCounter.lineStarts, text);
}

/** The property every text must have: not read, or read exactly as the `yaml` package reads it. */
function readAlikeOrNotAtAll(text: string): boolean {
  if (scanSimpleYaml(text) === undefined) return false;
  assertSameAsYaml(text);
  return true;
}

describe('scanSimpleYaml: the texts config files are made of', () => {
  it('reads examples/config.yaml and generated configs as the yaml package does', () => {
    assertSameAsYaml(readFileSync(new URL('examples/config.yaml', ROOT), 'utf8'));
    assertSameAsYaml(generateConfig({ services: 40, backendsPerService: 3 }));
    assertSameAsYaml(generateConfig({ services: 0, backendsPerService: 1 }));
  });

  it('reads block and flow styles, quoting, comments, empty values and core-schema scalars alike', () => {
    const texts = [
      'a: 1',
      'a:\n  b: 1\n  c:\n  d: [x, {e: f}]\nl:\n- 1\n- k: v\n  m: "q"\n# c\nz:  \n',
      '- a:\n  - x\n',
      '- a:\n    - x\n',
      '-\n  a: 1\n',
      '- a: 1\n  b: 2\n- c: 3\n',
      'a:\n- x\n- y\nb: 2\n',
      'a:  \n  \n  b: 1\n',
      'a: # c\n  b: 1\n',
      'a:\n# c\n  b: 1\n',
      'a:\n  b: 1\n # c\n  c: 2\n',
      '\n\na: 1\n\n',
      'a: x #c\nb: x#c\nc: x  #  y  \nd: 1 # c\n# d\n',
      "a: \"x\" #c\nb: 'x # y'\nc: \"x: y\"\nd: \"\"\ne: {x: \"\", y: ''}\n",
      'a: b:c\nb: http://x\nc: /healthz\nd: a b  c  \ne: x,y\nf: x]y\ng: x{y\n',
      'a: -1\nb: +5\nc: 0\nd: -0\ne: 00\nf: 017\ng: 99999999999999999999\nh: 1_000\ni: 0b101\n',
      'a: ~\nb: null\nc: Null\nd: nULL\ne: TRUE\nf: tRUE\ng: false\nh: False\n',
      'a: -x\nb: ---\nc: ...\nd: ..\ne: .\nf: .5s\ng: 1.5s\nh: 198.18.0.5\ni: 127.0.0.1:9740\n',
      'a: {listen: 127.0.0.1:9740}\nb: [1.2.3:80]\nc: [a:b]\nd: [ ]\ne: { }\nf: [[1, 2], {b: [c]}]\n',
      'a: ["x" ,y]\nb: ["x", \'y\']\nc: [a b , c ]\nd: {b: 1 , c: [2 ]}\ne: [x] # c\n',
      'a: héllo wörld ≈\nb: x # ≈\nc: "é"\n',
      '- ---\n- a\n',
      'true_: 1\nnulls: 2\na-b: 3\n_a: 4\n',
    ];
    for (const text of texts) assertSameAsYaml(text);
  });

  it('leaves everything else to the yaml package', () => {
    const texts = [
      '', '# only\n', ' a: 1\n', '---\na: 1\n', 'a: 1\n---\nb: 2\n', 'a: 1\n...\n', '%YAML 1.2\n---\na: 1\n',
      'a: 1\r\n', '\ufeffa: 1\n', 'a:\tb\n', 'a: 1\n\tb: 2\n', 'a: \u2028\n', 'a: \u0085\n', 'a: 😀\n',
      'a: &x 1\n', 'a: *x\n', 'a: !!str 1\n', 'a: |\n  x\n', 'a: >\n  x\n', '? a\n: b\n',
      'a: "a\\tb"\n', "a: 'it''s'\n", 'a: "x"#c\n', 'a: "x\n  y"\n',
      'a: x\n  y\n', '- a\n  b\n', '- a: x\n    y\n', 'a: [x\n  ]\n', 'a: [\n]\n',
      'a: 1\na: 2\n', 'a: {a: 1, a: 2}\n', 'true: 1\n', 'True: 1\n', 'null: 1\n', '__proto__: 1\n', 'constructor: 1\n',
      `k${'x'.repeat(1100)}: 1\n`, '"a": 1\n', 'a b: 1\n', 'a.b: 1\n', '1: 1\n',
      'a: 0x1f\n', 'a: 0o17\n', 'a: 1.5\n', 'a: 1e3\n', 'a: -.5\n', 'a: .inf\n', 'a: +.inf\n', 'a: .NaN\n',
      'a: -\n', 'a: - x\n', 'a: b: c\n', 'a: x: \n', 'a: :x\n', 'a: ?x\n', 'a: ,x\n', 'a: @x\n', 'a: `x\n', 'a: %x\n',
      'a: [a, b,]\n', 'a: [a, , b]\n', 'a: [a: b]\n', 'a: {a:1}\n', 'a: {a: }\n', 'a: { b : 1 }\n', 'a: [x] y\n', 'a: [x]#c\n',
      '- - a\n', '- \n- a\n', '-a\n', 'a :1\n', 'a : 1\n',
      'a: 1\n b: 2\n', 'a:\n    b: 1\n  c: 2\n', 'a:\n  - x\n  b: 1\n', 'a:\n  b: 1\n c: 2\n', '- a: 1\n   b: 2\n',
      // An empty value followed by a comment: the yaml package attaches the comment to it, and places it there.
      'b: # c\n', 'a:\n  b:\n  # c\n', 'b:  \n# c\n',
      // Nested deeper than any config.
      `a: ${'['.repeat(100)}${']'.repeat(100)}\n`,
      Array.from({ length: 100 }, (_, i) => `${' '.repeat(i)}k:`).join('\n'),
    ];
    for (const text of texts) assert.equal(scanSimpleYaml(text), undefined, JSON.stringify(text));
  });

  it('leaves a file nested too deep for the stack to the yaml package, which reports it', () => {
    const result = parseConfig(`a: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, 'deep.yaml', ENV);
    assert.equal(result.ok, false);
  });
});

/* ---------------------------------------------------------------- generated texts */

type Gen = fc.GeneratorValue;

const KEYS = ['name', 'vip', 'port', 'backends', 'address', 'weight', 'state', 'health_check', 'b_c', 'x-y', 'n', 'nul'];
/** Scalars as written. */
const SCALARS = [
  'web', '198.18.0.10', '80', '-1', '0', '007', '+3', '1.5s', '500ms', '"10000-32767"', "'q'", '""', '~', 'null', 'true', 'False',
  '127.0.0.1:9740', '/healthz', 'a b', 'x#y', 'é', '-x', 'a:b', '.5s',
];
/** Now and then a key or scalar the reader leaves to the yaml package, so both outcomes are exercised. */
const RARE_KEYS = ['True', 'a b'];
const RARE_SCALARS = ['1.5', '&a x', '0x1f', "'it''s'", '|'];

function pick<T>(g: Gen, items: readonly T[]): T {
  return items[g(fc.nat, { max: items.length - 1 })] as T;
}

function pickRarely<T>(g: Gen, usual: readonly T[], rare: readonly T[]): T {
  return pick(g, g(fc.nat, { max: 40 }) === 0 ? rare : usual);
}

function spaces(g: Gen, min: number, max: number): string {
  return ' '.repeat(g(fc.integer, { min, max }));
}

/** Now and then a blank line, a line of spaces or a comment line, at any indentation. */
function noise(g: Gen, out: string[]): void {
  if (g(fc.nat, { max: 5 }) === 0) out.push(pick(g, ['', '   ', '# c', `${spaces(g, 0, 8)}# comment`]));
}

function comment(g: Gen): string {
  return pick(g, ['', '', '', ' ', ' # c', '   # c:d']);
}

function flow(g: Gen, depth: number): string {
  const kind = depth <= 0 ? 0 : g(fc.nat, { max: 3 });
  if (kind === 0) return pickRarely(g, SCALARS, RARE_SCALARS);
  if (kind === 1) {
    const items = g(fc.array, fc.constant(null), { maxLength: 3 }).map(() => flow(g, depth - 1));
    const separator = `${spaces(g, 0, 1)},${spaces(g, 0, 2)}`;
    return `[${spaces(g, 0, 1)}${items.join(separator)}${spaces(g, 0, 1)}]`;
  }
  const keys = g(fc.uniqueArray, fc.constantFrom(...KEYS), { maxLength: 3 });
  if (keys.length > 0) keys[0] = pickRarely(g, [keys[0] ?? 'k'], RARE_KEYS);
  const pairs = keys.map((k) => `${k}:${spaces(g, 1, 2)}${flow(g, depth - 1)}`);
  return `{${spaces(g, 0, 1)}${pairs.join(`,${spaces(g, 0, 2)}`)}${spaces(g, 0, 1)}}`;
}

/**
 * The value after `head` (a key and its colon, or a list item's dash) at
 * column `col`: on the same line, or as a block on the following lines.
 */
function entry(g: Gen, head: string, col: number, depth: number, underKey: boolean, out: string[]): void {
  const kind = depth <= 0 ? 0 : g(fc.nat, { max: underKey ? 4 : 5 });
  switch (kind) {
    case 2:
      out.push(head + comment(g));
      noise(g, out);
      blockMap(g, col + g(fc.integer, { min: 1, max: 4 }), depth - 1, undefined, out);
      return;
    case 3:
      out.push(head + comment(g));
      noise(g, out);
      blockSeq(g, underKey && g(fc.boolean) ? col : col + g(fc.integer, { min: 1, max: 4 }), depth - 1, out);
      return;
    case 4:
      if (underKey) {
        out.push(head + pick(g, ['', ' ', '  ']));
        return;
      }
      out.push(head + pick(g, [' ', '  ']) + flow(g, depth));
      return;
    case 5: {
      const gap = spaces(g, 1, 3);
      blockMap(g, col + 1 + gap.length, depth - 1, head + gap, out);
      return;
    }
    default:
      out.push(head + spaces(g, 1, 2) + flow(g, depth) + comment(g));
  }
}

/** A block mapping at column `col`; its first key after `first` (a list item's dash) when given. */
function blockMap(g: Gen, col: number, depth: number, first: string | undefined, out: string[]): void {
  const keys = g(fc.uniqueArray, fc.constantFrom(...KEYS), { minLength: 1, maxLength: 4 });
  keys[0] = pickRarely(g, [keys[0] ?? 'k'], RARE_KEYS);
  keys.forEach((key, i) => {
    const lead = i === 0 && first !== undefined ? first : ' '.repeat(col);
    entry(g, `${lead}${key}:`, col, depth, true, out);
    noise(g, out);
  });
}

function blockSeq(g: Gen, col: number, depth: number, out: string[]): void {
  const items = g(fc.integer, { min: 1, max: 3 });
  for (let i = 0; i < items; i++) {
    entry(g, `${' '.repeat(col)}-`, col, depth, false, out);
    noise(g, out);
  }
}

const configLikeText = fc.gen().map((g) => {
  const out: string[] = [];
  noise(g, out);
  if (g(fc.nat, { max: 4 }) === 0) blockSeq(g, 0, 3, out);
  else blockMap(g, 0, 3, undefined, out);
  return out.join('\n') + pick(g, ['\n', '', '\n\n']);
});

/** Lines of config words and YAML punctuation at random indentation: mostly not YAML at all. */
const LINE_PIECES = [
  ...['a: 1', 'a:', '- x', '- a: 1', '-', 'b: [x, y]', 'b: {c: d}', 'c: "q"'],
  ...['# c', '', 'x', 'a: b: c', 'd: [', 'e: &x 1', 'a: 2'],
];
const jumbledText = fc
  .array(fc.tuple(fc.constantFrom(0, 0, 1, 2, 4), fc.constantFrom(...LINE_PIECES)), { minLength: 1, maxLength: 8 })
  .map((lines) => lines.map(([indent, piece]) => ' '.repeat(indent) + piece).join('\n'));

describe('scanSimpleYaml: generated texts', () => {
  it('reads config-like texts in any mix of styles exactly as the yaml package does, or not at all', () => {
    let read = 0;
    const runs = 1500;
    fc.assert(
      fc.property(configLikeText, (text) => {
        if (readAlikeOrNotAtAll(text)) read++;
      }),
      { numRuns: runs, seed: 4242 },
    );
    // Otherwise the property above would hold by reading nothing.
    assert.ok(read > runs / 3, `only ${read} of ${runs} texts read`);
  });

  it('reads jumbled lines exactly as the yaml package does, or not at all', () => {
    fc.assert(
      fc.property(jumbledText, (text) => {
        readAlikeOrNotAtAll(text);
      }),
      { numRuns: 3000, seed: 99 },
    );
  });
});

/* ------------------------------------------------- whole configs, through either reader */

/** Values, keys and indentation that break a config in the ways operators do. */
const REPLACEMENTS = [
  ...['70000', '-1', 'heavy', '"80"', '198.18.1.1', '198.19.0.1', '198.18.0.5', '224.0.0.1'],
  ...['1 s', '2', '0s', '5s', 'maglev', 'UDP', '[]', '{}', '', '~'],
];
const KEYS_TYPED = ['wieght', 'adress', 'port', 'name', 'vip', 'path', 'colour'];

/** Edits: which line, what to do (0 new value, 1 new key, 2 repeat the line, 3 drop it), the value, the key. */
const edit = fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.constantFrom(...REPLACEMENTS), fc.constantFrom(...KEYS_TYPED));
const mutatedConfig = fc
  .array(edit, { minLength: 1, maxLength: 3 })
  .map((edits) => {
    const lines = generateConfig({ services: 6, backendsPerService: 3 }).split('\n');
    for (const [at, kind, value, key] of edits) {
      const index = 9 + (at % (lines.length - 10)); // below the header, above the last line
      const line = lines[index] ?? '';
      const colon = line.indexOf(': ');
      if (kind === 0 && colon >= 0) lines[index] = `${line.slice(0, colon + 2)}${value}`;
      else if (kind === 1 && colon >= 0) lines[index] = `${line.slice(0, line.length - line.trimStart().length)}${key}${line.slice(colon)}`;
      else if (kind === 2) lines.splice(index, 0, line);
      else lines.splice(index, 1);
    }
    return lines.join('\n');
  });

describe('parseConfig through either reader', () => {
  it('gives the same state or the same issues at the same places, for configs broken at random', () => {
    let placed = 0;
    fc.assert(
      fc.property(mutatedConfig, (text) => {
        const result = parseConfig(text, 'm.yaml', ENV);
        assert.deepEqual(result, parseLoadedConfig(loadDocument(text, 'm.yaml'), 'm.yaml', ENV), text);
        if (scanSimpleYaml(text) !== undefined && (!result.ok || result.warnings.length > 0)) placed++;
      }),
      { numRuns: 400, seed: 7 },
    );
    // Otherwise the fast reader's positions would not have been compared at all.
    assert.ok(placed > 100, `only ${placed} texts with issues were read by the fast reader`);
  });
});
