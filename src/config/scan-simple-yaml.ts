/**
 * A fast reader for the plain subset of YAML that config files are written
 * in: block mappings and lists, one-line flow lists and mappings, plain and
 * simply quoted one-line scalars, comments. It returns the same data as the
 * `yaml` package (YAML 1.2 core schema, unique keys), and on demand the same
 * positions (source-outline.ts), or undefined for ANY text it does not fully
 * understand: anchors, aliases, tags, block or multi-line scalars, escapes,
 * directives, several documents, tabs, unusual keys or characters, and
 * every syntax error. The caller then reads the text with the `yaml`
 * document API, which reports every error with its position, so this
 * reader never decides what is wrong with a file, only reads files that are
 * plainly right.
 *
 * Why it exists: the `yaml` package's parser alone (before it composes
 * nodes) takes about half a second for a 1 MB config of 1,000 services,
 * and a one-backend edit of such a file must be applied within 200 ms.
 * This reader takes about 15 ms (bench/config-bench.ts).
 * test/unit/config-scan.test.ts holds it to the `yaml` package's data and
 * positions. Pure.
 */
import { LineCounter } from 'yaml';
import type { SourceNode, SourcePair, SourcePositions } from './source-outline.js';

export interface ScannedYaml {
  readonly value: unknown;
  /**
   * Reads the text again, this time for its outline and line starts: only
   * placing an issue needs them, and most files have none.
   */
  readonly positions: () => SourcePositions;
}

/** Thrown (and caught below) when the text leaves the subset. */
class NotSimple {}
const NOT_SIMPLE = new NotSimple();

/**
 * Characters the subset allows: newline, printable ASCII, and printable
 * non-ASCII text (no C1 controls, no U+2028/2029 line separators, no byte
 * order mark, no lone or paired surrogates). Tabs and CR are left to the
 * `yaml` package, which knows where YAML allows them.
 */
const OUTSIDE_SUBSET = /[^\n\x20-\x7e\u00a0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]/;

// YAML 1.2 core schema (spec §10.3.2): what a plain scalar resolves to.
const NULL = /^(?:~|[Nn]ull|NULL)$/;
const TRUE = /^(?:[Tt]rue|TRUE)$/;
const FALSE = /^(?:[Ff]alse|FALSE)$/;
/** Octal, hexadecimal and floating-point numbers, infinity, not-a-number: left to the `yaml` package. */
const OTHER_NUMBER = new RegExp(
  [
    '^(?:0o[0-7]+',
    '0x[0-9a-fA-F]+',
    '[-+]?(?:\\.[0-9]+|[0-9]+(?:\\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?',
    '[-+]?\\.(?:inf|Inf|INF)',
    '\\.nan|\\.NaN|\\.NAN)$',
  ].join('|'),
);

/**
 * Mappings and lists nested deeper than this are left to the `yaml`
 * package (a config nests 6 deep), so that reading never exhausts the stack
 * and a pathological file is handled exactly as before this reader existed.
 */
const MAX_DEPTH = 64;

/** Keys shorter than this are remembered (Scanner.keys). */
const KEY_CACHE_LENGTH = 32;

const SPACE = 0x20;
const NEWLINE = 0x0a;
const HASH = 0x23;
const COLON = 0x3a;
const DASH = 0x2d;
const PLUS = 0x2b;
const COMMA = 0x2c;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

function isKeyStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f; // a-z A-Z _
}

function isKeyPart(c: number): boolean {
  return isKeyStart(c) || (c >= 0x30 && c <= 0x39) || c === DASH;
}

function isFlowIndicator(c: number): boolean {
  return c === COMMA || c === LBRACKET || c === RBRACKET || c === LBRACE || c === RBRACE;
}

/**
 * Characters that cannot start a plain scalar here, or start one only in
 * ways this reader leaves to the `yaml` package: ? : , [ ] { } # & * ! | > ' " % @ `
 * ('-' is handled by the caller: it starts a scalar only before a non-space).
 */
function isIndicator(c: number): boolean {
  switch (c) {
    case 0x3f: case COLON: case COMMA: case LBRACKET: case RBRACKET: case LBRACE: case RBRACE: case HASH:
    case 0x26: case 0x2a: case 0x21: case 0x7c: case 0x3e: case SQUOTE: case DQUOTE: case 0x25: case 0x40: case 0x60:
      return true;
    default:
      return false;
  }
}

/**
 * Whether a plain scalar that starts with a letter or '_' (every key here
 * does) is the string it spells: all are but null and the booleans, which
 * have 4 or 5 letters.
 */
function spellsString(text: string): boolean {
  return !((text.length === 4 || text.length === 5) && (NULL.test(text) || TRUE.test(text) || FALSE.test(text)));
}

/** A plain scalar's value (YAML 1.2 core schema, as the `yaml` package resolves it) when it is not a decimal (Scanner.decimal). */
function resolvePlain(text: string): unknown {
  const c = text.charCodeAt(0);
  if (isKeyStart(c)) return spellsString(text) ? text : NULL.test(text) ? null : TRUE.test(text);
  if (text === '~') return null;
  // A number has at most one '.'; addresses and versions are strings.
  const dot = text.indexOf('.');
  if ((dot < 0 || text.indexOf('.', dot + 1) < 0) && OTHER_NUMBER.test(text)) throw NOT_SIMPLE;
  return text;
}

/* V8's shortest slice that is a view into its parent string rather than a copy (SlicedString::kMinLength). */
const SLICE_MIN_LENGTH = 13;

/* Decimals of at most this many digits are exact when summed digit by digit (below 2^53). */
const EXACT_DIGITS = 15;

/**
 * The scanner: the text, its content lines, and where it is. Each reading
 * method leaves what it read in `value` and `outline` (and, for a value that
 * ends on its line, where it ends in `after`) rather than returning a tuple:
 * a 1 MB file has some 100,000 values, and the garbage of that many small
 * arrays, like that of an outline nobody asks for, costs more than the
 * reading. The outline (and line starts) are only made when `outlined`.
 */
class Scanner {
  readonly text: string;
  readonly outlined: boolean;
  /**
   * Per content line (neither blank nor only a comment): offset of its
   * first character, of its first non-space, of its end. Typed arrays sized
   * up front: a 1 MB file has some 50,000 lines, whose plain arrays would be
   * copied as they grow and then moved again by the garbage collector.
   */
  readonly lineStart: Int32Array;
  readonly contentStart: Int32Array;
  readonly lineEnd: Int32Array;
  /** How many content lines there are. */
  readonly lines: number;
  readonly lineCounter = new LineCounter();
  /** Keys read so far, by length and first character: most keys repeat, and reusing one string spares a copy and a lookup. */
  readonly keys: (string | undefined)[] = new Array<string | undefined>(KEY_CACHE_LENGTH * 128).fill(undefined);
  /** Index of the content line being read. */
  line = 0;
  /** Mappings and lists open around the one being read. */
  depth = 0;
  value: unknown = null;
  outline: SourceNode | null = null;
  after = 0;

  constructor(text: string, outlined: boolean) {
    this.text = text;
    this.outlined = outlined;
    let newlines = 0;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) newlines++;
    this.lineStart = new Int32Array(newlines + 1);
    this.contentStart = new Int32Array(newlines + 1);
    this.lineEnd = new Int32Array(newlines + 1);
    const lineStarts = this.lineCounter.lineStarts;
    let lines = 0;
    let start = 0;
    for (;;) {
      if (outlined) lineStarts.push(start);
      const newline = text.indexOf('\n', start);
      const end = newline < 0 ? text.length : newline;
      let content = start;
      while (content < end && text.charCodeAt(content) === SPACE) content++;
      if (content < end && text.charCodeAt(content) !== HASH) {
        this.lineStart[lines] = start;
        this.contentStart[lines] = content;
        this.lineEnd[lines] = end;
        lines++;
      }
      if (newline < 0) break;
      start = newline + 1;
    }
    this.lines = lines;
  }

  /** Column (0-based) where content line `line` starts. */
  indentOf(line: number): number {
    return (this.contentStart[line] ?? 0) - (this.lineStart[line] ?? 0);
  }

  charAt(offset: number): number {
    return this.text.charCodeAt(offset);
  }

  /** A '-' that opens a block list item: followed by a space or the end of the line. */
  isItemDash(offset: number, end: number): boolean {
    return this.charAt(offset) === DASH && (offset + 1 === end || this.charAt(offset + 1) === SPACE);
  }

  /** Offset of the ':' that ends a simple key starting at `offset` (followed by a space or the line's end), or -1. */
  keyEnd(offset: number, end: number): number {
    if (!isKeyStart(this.charAt(offset))) return -1;
    let i = offset + 1;
    while (i < end && isKeyPart(this.charAt(i))) i++;
    if (i >= end || this.charAt(i) !== COLON) return -1;
    if (i + 1 < end && this.charAt(i + 1) !== SPACE) return -1;
    // The `yaml` package refuses implicit keys longer than 1024 characters.
    return i - offset > 1024 ? -1 : i;
  }

  /**
   * The key from `offset` to `colon`, checked against the mapping's keys so
   * far: a duplicate is an error, and a key that is not a plain string (null,
   * true, ...) or an inherited name (__proto__) becomes another property
   * name in the data; all are left to the `yaml` package.
   */
  key(offset: number, colon: number, mapping: Record<string, unknown>): string {
    const length = colon - offset;
    const slot = length < KEY_CACHE_LENGTH ? length * 128 + this.charAt(offset) : -1;
    let key = this.keys[slot];
    if (key === undefined || !this.spells(key, offset)) {
      key = this.text.slice(offset, colon);
      if (!spellsString(key)) throw NOT_SIMPLE;
      if (slot >= 0) this.keys[slot] = key;
    }
    if (key in mapping) throw NOT_SIMPLE;
    return key;
  }

  /**
   * Whether the text at `offset` goes on with `key` (a cached key of the
   * same length and first character): compared in place, which is cheaper
   * than startsWith for the 50,000 keys of a large file.
   */
  spells(key: string, offset: number): boolean {
    for (let i = 1; i < key.length; i++) if (this.charAt(offset + i) !== key.charCodeAt(i)) return false;
    return true;
  }

  /**
   * The number that the text from `offset` to `end` spells if it is a
   * decimal integer ([-+]?[0-9]+, the core schema's int), else undefined.
   * Read in place: most plain scalars of a config (ports, weights) are
   * these, and a slice and a regular expression for each add up.
   */
  decimal(offset: number, end: number): number | undefined {
    const sign = this.charAt(offset);
    const start = sign === DASH || sign === PLUS ? offset + 1 : offset;
    if (start >= end) return undefined;
    let value = 0;
    for (let i = start; i < end; i++) {
      const digit = this.charAt(i) - 0x30;
      if (digit < 0 || digit > 9) return undefined;
      value = value * 10 + digit;
    }
    if (end - start > EXACT_DIGITS) return parseInt(this.text.slice(offset, end), 10);
    return sign === DASH ? -value : value;
  }

  /**
   * The text from `offset` to `end` as a string of its own. V8 makes a
   * slice of SLICE_MIN_LENGTH or more characters a view into the whole
   * text, so a DesiredState holding one such value (a long address, a
   * scheduler name) would keep the whole file alive, 1 MB for a large
   * config, and the agent's heap grows to a multiple of what it keeps.
   * Slicing a concatenation copies the characters out first.
   */
  copy(offset: number, end: number): string {
    const slice = this.text.slice(offset, end);
    return end - offset < SLICE_MIN_LENGTH ? slice : ` ${slice}`.slice(1);
  }

  skipSpaces(offset: number, end: number): number {
    let i = offset;
    while (i < end && this.charAt(i) === SPACE) i++;
    return i;
  }

  /** Nothing but spaces and perhaps a comment from `offset` to `end`. */
  expectLineEnd(offset: number, end: number): void {
    const i = this.skipSpaces(offset, end);
    if (i < end && !(this.charAt(i) === HASH && i > offset)) throw NOT_SIMPLE;
  }

  /** Enters a mapping or list; `leave()` when it is read. */
  enter(): void {
    if (++this.depth > MAX_DEPTH) throw NOT_SIMPLE;
  }

  leave(): void {
    this.depth--;
  }

  /** The block node (mapping or list) whose first line is the current line, starting at `offset`. */
  blockNode(offset: number): void {
    const end = this.lineEnd[this.line] ?? 0;
    if (this.isItemDash(offset, end)) return this.blockSeq(offset);
    const colon = this.keyEnd(offset, end);
    if (colon < 0) throw NOT_SIMPLE;
    this.blockMap(offset, colon);
  }

  /**
   * The value after a key or a list item's dash, from `offset` on the
   * current line; `indent` is the column of that key or dash. A value on
   * the following lines must be indented more, except a list under a key,
   * which may start at the key's column. Moves to the line after the value.
   */
  blockValue(offset: number, end: number, indent: number, underKey: boolean): void {
    if (offset < end && this.charAt(offset) !== HASH) {
      this.inlineValue(offset, end);
      this.expectLineEnd(this.after, end);
      this.line++;
      return;
    }
    this.line++;
    if (this.line < this.lines) {
      const next = this.indentOf(this.line);
      const start = this.contentStart[this.line] ?? 0;
      if (next > indent) return this.blockNode(start);
      if (underKey && next === indent && this.isItemDash(start, this.lineEnd[this.line] ?? 0)) return this.blockSeq(start);
    }
    if (!underKey) throw NOT_SIMPLE; // an empty list item
    // The `yaml` package attaches the comments that follow an empty value to
    // it, which moves its position; only an empty value without them is read here.
    const next = this.line < this.lines ? (this.lineStart[this.line] ?? 0) : this.text.length;
    for (let i = offset; i < next; i++) if (this.charAt(i) === HASH) throw NOT_SIMPLE;
    this.value = null;
    this.outline = null;
  }

  /** The outline of a scalar starting at `offset`. */
  leaf(offset: number): SourceNode | null {
    return this.outlined ? { start: offset } : null;
  }

  /** `colon`: where the first key ends (keyEnd, which the caller ran to tell a mapping). */
  blockMap(offset: number, colon: number): void {
    this.enter();
    const indent = offset - (this.lineStart[this.line] ?? 0);
    const value: Record<string, unknown> = {};
    const pairs: SourcePair[] | undefined = this.outlined ? [] : undefined;
    let keyStart = offset;
    for (;;) {
      const end = this.lineEnd[this.line] ?? 0;
      if (keyStart !== offset) colon = this.keyEnd(keyStart, end);
      if (colon < 0) throw NOT_SIMPLE;
      const key = this.key(keyStart, colon, value);
      this.blockValue(this.skipSpaces(colon + 1, end), end, indent, true);
      value[key] = this.value;
      pairs?.push({ key, keyStart, value: this.outline });
      if (this.line >= this.lines) break;
      const next = this.indentOf(this.line);
      if (next < indent) break;
      if (next > indent) throw NOT_SIMPLE;
      keyStart = this.contentStart[this.line] ?? 0;
    }
    this.leave();
    this.value = value;
    this.outline = pairs === undefined ? null : { start: offset, pairs };
  }

  blockSeq(offset: number): void {
    this.enter();
    const indent = offset - (this.lineStart[this.line] ?? 0);
    const value: unknown[] = [];
    const items: (SourceNode | null)[] | undefined = this.outlined ? [] : undefined;
    let dash = offset;
    for (;;) {
      const end = this.lineEnd[this.line] ?? 0;
      const start = this.skipSpaces(dash + 1, end);
      const colon = start < end ? this.keyEnd(start, end) : -1;
      if (colon >= 0) this.blockMap(start, colon);
      else if (this.isItemDash(start, end)) throw NOT_SIMPLE; // a list in a list item
      else this.blockValue(start, end, indent, false);
      value.push(this.value);
      items?.push(this.outline);
      if (this.line >= this.lines) break;
      const next = this.indentOf(this.line);
      if (next < indent) break;
      if (next > indent) throw NOT_SIMPLE;
      dash = this.contentStart[this.line] ?? 0;
      if (!this.isItemDash(dash, this.lineEnd[this.line] ?? 0)) break; // the next key of a mapping at this column
    }
    this.leave();
    this.value = value;
    this.outline = items === undefined ? null : { start: offset, items };
  }

  /** A value that ends on this line: flow list or mapping, quoted or plain scalar. */
  inlineValue(offset: number, end: number): void {
    const c = this.charAt(offset);
    if (c === LBRACKET) this.flowSeq(offset, end);
    else if (c === LBRACE) this.flowMap(offset, end);
    else if (c === DQUOTE || c === SQUOTE) this.quoted(offset, end, false);
    else this.plain(offset, end, false);
  }

  /** A quoted scalar without escapes (no '\' in "..." and no '' in '...'). */
  quoted(offset: number, end: number, inFlow: boolean): void {
    const quote = this.charAt(offset);
    const close = this.text.indexOf(quote === DQUOTE ? '"' : "'", offset + 1);
    if (close < 0 || close >= end) throw NOT_SIMPLE;
    const text = this.copy(offset + 1, close);
    if (quote === DQUOTE && text.indexOf('\\') >= 0) throw NOT_SIMPLE;
    const after = close + 1;
    if (after < end) {
      const next = this.charAt(after);
      if (next !== SPACE && !(inFlow && (next === COMMA || next === RBRACKET || next === RBRACE))) throw NOT_SIMPLE;
    }
    this.value = text;
    this.outline = this.leaf(offset);
    this.after = after;
  }

  /**
   * A plain scalar: up to the line's end or a comment (block context), or
   * up to a flow indicator (flow context), trailing spaces dropped. A ': '
   * inside would make it a key, which is left to the `yaml` package.
   */
  plain(offset: number, end: number, inFlow: boolean): void {
    const first = this.charAt(offset);
    if (isIndicator(first)) throw NOT_SIMPLE;
    if (first === DASH && (offset + 1 >= end || this.charAt(offset + 1) === SPACE)) throw NOT_SIMPLE;
    let i = offset;
    let last = offset;
    for (; i < end; i++) {
      const c = this.charAt(i);
      if (c === SPACE) continue;
      if (c === HASH && this.charAt(i - 1) === SPACE) break;
      if (inFlow && isFlowIndicator(c)) break;
      if (c === COLON) {
        const next = i + 1 < end ? this.charAt(i + 1) : NEWLINE;
        if (next === SPACE || next === NEWLINE || (inFlow && isFlowIndicator(next))) throw NOT_SIMPLE;
      }
      last = i;
    }
    if (inFlow && i >= end) throw NOT_SIMPLE; // a flow collection that goes on to the next line
    this.value = this.decimal(offset, last + 1) ?? resolvePlain(this.copy(offset, last + 1));
    this.outline = this.leaf(offset);
    this.after = last + 1;
  }

  flowItem(offset: number, end: number): void {
    if (offset >= end) throw NOT_SIMPLE;
    const c = this.charAt(offset);
    if (c === LBRACKET) this.flowSeq(offset, end);
    else if (c === LBRACE) this.flowMap(offset, end);
    else if (c === DQUOTE || c === SQUOTE) this.quoted(offset, end, true);
    else this.plain(offset, end, true);
  }

  flowSeq(offset: number, end: number): void {
    this.enter();
    const value: unknown[] = [];
    const items: (SourceNode | null)[] | undefined = this.outlined ? [] : undefined;
    let i = this.skipSpaces(offset + 1, end);
    if (i >= end || this.charAt(i) !== RBRACKET) {
      for (;;) {
        this.flowItem(i, end);
        value.push(this.value);
        items?.push(this.outline);
        i = this.skipSpaces(this.after, end);
        if (i < end && this.charAt(i) === RBRACKET) break;
        if (i >= end || this.charAt(i) !== COMMA) throw NOT_SIMPLE;
        i = this.skipSpaces(i + 1, end);
      }
    }
    this.leave();
    this.value = value;
    this.outline = items === undefined ? null : { start: offset, items };
    this.after = i + 1;
  }

  flowMap(offset: number, end: number): void {
    this.enter();
    const value: Record<string, unknown> = {};
    const pairs: SourcePair[] | undefined = this.outlined ? [] : undefined;
    let i = this.skipSpaces(offset + 1, end);
    if (i >= end || this.charAt(i) !== RBRACE) {
      for (;;) {
        const colon = this.keyEnd(i, end);
        if (colon < 0 || colon + 1 >= end) throw NOT_SIMPLE;
        const key = this.key(i, colon, value);
        this.flowItem(this.skipSpaces(colon + 1, end), end);
        value[key] = this.value;
        pairs?.push({ key, keyStart: i, value: this.outline });
        i = this.skipSpaces(this.after, end);
        if (i < end && this.charAt(i) === RBRACE) break;
        if (i >= end || this.charAt(i) !== COMMA) throw NOT_SIMPLE;
        i = this.skipSpaces(i + 1, end);
      }
    }
    this.leave();
    this.value = value;
    this.outline = pairs === undefined ? null : { start: offset, pairs };
    this.after = i + 1;
  }
}

/** Reads `text` once; false when it leaves the subset. */
function scan(scanner: Scanner): boolean {
  // An empty document, or one that starts indented, is rare enough to leave to the `yaml` package.
  if (scanner.lines === 0 || scanner.indentOf(0) !== 0) return false;
  try {
    scanner.blockNode(scanner.contentStart[0] ?? 0);
  } catch (error) {
    if (error === NOT_SIMPLE) return false;
    throw error;
  }
  return scanner.line === scanner.lines;
}

/** The data of `text` (and a way to its positions), or undefined when it is not in the subset this reader handles. */
export function scanSimpleYaml(text: string): ScannedYaml | undefined {
  if (OUTSIDE_SUBSET.test(text)) return undefined;
  const scanner = new Scanner(text, false);
  if (!scan(scanner)) return undefined;
  const positions = (): SourcePositions => {
    const outlined = new Scanner(text, true);
    if (!scan(outlined) || outlined.outline === null) throw new Error('internal: a second reading of the config differs from the first');
    return { outline: outlined.outline, lineCounter: outlined.lineCounter };
  };
  return { value: scanner.value, positions };
}
