/**
 * Between places in the data (JSON paths) and places in the YAML source
 * (line and column), using the ranges the `yaml` document API keeps on every
 * node. Pure.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter } from 'yaml';
import type { FindingAnchor } from './config-issue.js';
import type { PathSegment } from './format-json-path.js';

export interface SourcePosition {
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly col: number;
}

/**
 * Position of the value at `path` (anchor 'value') or of its key (anchor
 * 'key'). A path that is not in the source (a value filled in from a schema
 * default, a missing key) gets the position of the nearest enclosing key or
 * list item that is there, so the operator still lands in the right block.
 */
export type Locator = (path: readonly PathSegment[], anchor?: FindingAnchor) => SourcePosition;

function start(node: unknown): number | undefined {
  const range = (node as { range?: readonly number[] | null } | null)?.range;
  return range?.[0];
}

function end(node: unknown): number | undefined {
  const range = (node as { range?: readonly number[] | null } | null)?.range;
  return range?.[2];
}

/** An empty value (`key:` and nothing after it) has a zero-width range. */
function isEmptyValue(node: unknown): boolean {
  if (!isScalar(node) || node.value !== null) return false;
  const range = node.range;
  return range == null || range[0] === range[2];
}

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

function resolve(node: unknown, doc: Document): unknown {
  // An alias stands for its anchored node; follow it (at most a few hops).
  let current = node;
  for (let hops = 0; isAlias(current) && hops < 32; hops++) current = current.resolve(doc);
  return current;
}

export function createLocator(doc: Document, lineCounter: LineCounter): Locator {
  const toPosition = (offset: number): SourcePosition => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, col };
  };
  return (path, anchor = 'value') => {
    let node: unknown = doc.contents;
    let fallback = start(node) ?? 0;
    for (let i = 0; i < path.length; i++) {
      const segment = path[i];
      const last = i === path.length - 1;
      node = resolve(node, doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => keyText(p.key) === String(segment));
        if (pair === undefined) break;
        const keyStart = start(pair.key) ?? fallback;
        if (last && anchor === 'key') return toPosition(keyStart);
        fallback = keyStart;
        if (pair.value == null || isEmptyValue(pair.value)) break;
        node = pair.value;
        if (last) return toPosition(start(node) ?? keyStart);
      } else if (isSeq(node) && typeof segment === 'number') {
        const item: unknown = node.items[segment];
        if (item == null) break;
        fallback = start(item) ?? fallback;
        node = item;
        if (last) return toPosition(fallback);
      } else {
        break;
      }
    }
    return toPosition(fallback);
  };
}

/**
 * The path of the innermost key or list item whose source contains `offset`
 * (where a YAML error was found), [] when none does.
 */
export function pathAtOffset(doc: Document, offset: number): PathSegment[] {
  const path: PathSegment[] = [];
  let node: unknown = doc.contents;
  const contains = (n: unknown): boolean => {
    const s = start(n);
    const e = end(n);
    return s !== undefined && e !== undefined && s <= offset && (offset < e || offset === s);
  };
  for (let depth = 0; depth < 256; depth++) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && (contains(p.key) || contains(p.value)));
      if (pair === undefined) break;
      path.push(keyText(pair.key));
      if (!contains(pair.value)) break;
      node = pair.value;
    } else if (isSeq(node)) {
      const index = node.items.findIndex((item) => contains(item));
      if (index < 0) break;
      path.push(index);
      node = node.items[index];
    } else {
      break;
    }
  }
  return path;
}
