/**
 * Between places in the data (JSON paths) and places in the YAML source
 * (line and column). Paths are placed with the source's outline
 * (source-outline.ts), whichever reader produced it; a YAML error's offset
 * is turned into a path with the `yaml` document, the only reader that
 * reports such errors. Pure.
 */
import { isMap, isPair, isSeq, type Document } from 'yaml';
import type { FindingAnchor } from './config-issue.js';
import type { PathSegment } from './format-json-path.js';
import { isSourceMap, isSourceSeq, keyText, nodeStart, type SourcePositions } from './source-outline.js';

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

/**
 * A locator over the positions `read()` gives. It asks for them on the
 * first placement only: a file without issues never needs them.
 */
export function createLocator(read: () => SourcePositions): Locator {
  let positions: SourcePositions | undefined;
  return (path, anchor = 'value') => {
    positions ??= read();
    const { outline, lineCounter } = positions;
    const toPosition = (offset: number): SourcePosition => {
      const { line, col } = lineCounter.linePos(offset);
      return { line, col };
    };
    let node = outline;
    let fallback = node?.start ?? 0;
    for (let i = 0; i < path.length && node !== null; i++) {
      const segment = path[i];
      const last = i === path.length - 1;
      if (isSourceMap(node)) {
        const pair = node.pairs.find((p) => p.key === String(segment));
        if (pair === undefined) break;
        const keyStart = pair.keyStart ?? fallback;
        if (last && anchor === 'key') return toPosition(keyStart);
        fallback = keyStart;
        node = pair.value;
        if (node !== null && last) return toPosition(node.start ?? keyStart);
      } else if (isSourceSeq(node) && typeof segment === 'number') {
        const item = node.items[segment];
        if (item == null) break;
        fallback = item.start ?? fallback;
        node = item;
        if (last) return toPosition(fallback);
      } else {
        break;
      }
    }
    return toPosition(fallback);
  };
}

function end(node: unknown): number | undefined {
  const range = (node as { range?: readonly number[] | null } | null)?.range;
  return range?.[2];
}

/**
 * The path of the innermost key or list item whose source contains `offset`
 * (where a YAML error was found), [] when none does.
 */
export function pathAtOffset(doc: Document, offset: number): PathSegment[] {
  const path: PathSegment[] = [];
  let node: unknown = doc.contents;
  const contains = (n: unknown): boolean => {
    const s = nodeStart(n);
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
