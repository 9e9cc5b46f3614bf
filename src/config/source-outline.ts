/**
 * The outline of a config's source: for every mapping, list and value, the
 * offset where it starts, and for every key its own offset. With the line
 * starts, it is all that placing an issue needs (locate-path.ts), so the two
 * readers of the file, the fast one (scan-simple-yaml.ts) and the `yaml`
 * document API, each describe the source this way and share one locator.
 * This file also derives the outline from a `yaml` document. Pure.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

/** A value that is neither a mapping nor a list (scalar, or anything else the document holds). */
export interface SourceLeaf {
  /** Offset of the value's first character; undefined when the node has no range. */
  readonly start: number | undefined;
}

export interface SourcePair {
  /** The key as text (what a path segment is compared with). */
  readonly key: string;
  readonly keyStart: number | undefined;
  /** null: no value in the source (`key:` and nothing after it). */
  readonly value: SourceNode | null;
}

export interface SourceMap extends SourceLeaf {
  readonly pairs: readonly SourcePair[];
}

export interface SourceSeq extends SourceLeaf {
  readonly items: readonly (SourceNode | null)[];
}

export type SourceNode = SourceLeaf | SourceMap | SourceSeq;

/** What placing needs: the outline (null for an empty document) and where the lines start. */
export interface SourcePositions {
  readonly outline: SourceNode | null;
  readonly lineCounter: LineCounter;
}

export function isSourceMap(node: SourceNode): node is SourceMap {
  return 'pairs' in node;
}

export function isSourceSeq(node: SourceNode): node is SourceSeq {
  return 'items' in node;
}

/** Where a `yaml` node starts in the source. */
export function nodeStart(node: unknown): number | undefined {
  const range = (node as { range?: readonly number[] | null } | null)?.range;
  return range?.[0];
}

/** An empty value (`key:` and nothing after it) has a zero-width range. */
function isEmptyValue(node: unknown): boolean {
  if (!isScalar(node) || node.value !== null) return false;
  const range = node.range;
  return range == null || range[0] === range[2];
}

/** A `yaml` key as the text a path segment is compared with. */
export function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

/**
 * The outline of a parsed document; null for an empty one. An alias keeps
 * its own position and takes its contents from the node it stands for, as
 * the data does; each anchored node is outlined once, however often it is
 * referred to.
 */
export function outlineDocument(doc: Document): SourceNode | null {
  const outlined = new Map<unknown, SourceNode>();

  const target = (node: unknown): unknown => {
    let current = node;
    for (let hops = 0; isAlias(current) && hops < 32; hops++) current = current.resolve(doc);
    return current;
  };

  const outline = (node: unknown): SourceNode => {
    const resolved = target(node);
    let contents = outlined.get(resolved);
    if (contents === undefined) {
      if (isMap(resolved)) {
        const pairs: SourcePair[] = [];
        contents = { start: nodeStart(resolved), pairs };
        outlined.set(resolved, contents);
        for (const pair of resolved.items) {
          const value = pair.value == null || isEmptyValue(pair.value) ? null : outline(pair.value);
          pairs.push({ key: keyText(pair.key), keyStart: nodeStart(pair.key), value });
        }
      } else if (isSeq(resolved)) {
        const items: (SourceNode | null)[] = [];
        contents = { start: nodeStart(resolved), items };
        outlined.set(resolved, contents);
        for (const item of resolved.items) items.push(item == null ? null : outline(item));
      } else {
        contents = { start: nodeStart(resolved) };
        outlined.set(resolved, contents);
      }
    }
    if (resolved === node) return contents;
    return { ...contents, start: nodeStart(node) };
  };

  return doc.contents == null ? null : outline(doc.contents as Node);
}
