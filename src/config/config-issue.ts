/**
 * Problems found in a config file, as data. A ConfigFinding is what a check
 * produces (a place in the document, no line numbers); placing it in the
 * source gives a ConfigIssue, which is what operators see and logs carry.
 * Pure.
 */
import type { PathSegment } from './format-json-path.js';

export type Severity = 'error' | 'warning';

/** Stable identifiers of the kinds of issue: branch on these, not on messages. */
export type ConfigIssueCode =
  // reading and YAML
  | 'file-unreadable'
  | 'yaml-syntax'
  | 'yaml-warning'
  | 'empty-document'
  // schema
  | 'unknown-key'
  | 'required'
  | 'type'
  | 'enum'
  | 'const'
  | 'format'
  | 'pattern'
  | 'range'
  | 'too-many'
  | 'too-few'
  | 'schema'
  // semantics
  | 'duplicate-service-name'
  | 'duplicate-service'
  | 'duplicate-backend'
  | 'duplicate-snat-address'
  | 'snat-ports-order'
  | 'snat-local-port-overlap'
  | 'snat-is-vip'
  | 'backend-is-local'
  | 'address-not-unicast'
  | 'http-only'
  | 'health-timeout'
  | 'duration-zero'
  | 'duration-too-long'
  | 'listen-address'
  | 'too-many-backends'
  | 'empty-backends'
  | 'weights-ignored'
  | 'gc-interval'
  // host (run time: errors; under --check: warnings)
  | 'host-interface'
  | 'host-snat-address';

export interface ConfigIssue {
  /** The path as given (command line, watcher). */
  readonly file: string;
  /** 1-based; null when the issue has no position (the file could not be read). */
  readonly line: number | null;
  /** 1-based, in UTF-16 code units; null with line. */
  readonly col: number | null;
  /** JSON path like `services[0].backends[1].weight`; `$` for the whole document, '' without position. */
  readonly path: string;
  readonly message: string;
  readonly severity: Severity;
  readonly code: ConfigIssueCode;
}

/**
 * Where in the document a finding points: the value at `path` (for a missing
 * value, the nearest enclosing key that is there), or the key of that value
 * (unknown keys, keys that are not allowed there).
 */
export type FindingAnchor = 'value' | 'key';

export interface ConfigFinding {
  readonly path: readonly PathSegment[];
  readonly anchor: FindingAnchor;
  readonly message: string;
  readonly severity: Severity;
  readonly code: ConfigIssueCode;
}

export function finding(
  code: ConfigIssueCode,
  path: readonly PathSegment[],
  message: string,
  options: { severity?: Severity; anchor?: FindingAnchor } = {},
): ConfigFinding {
  return { code, path, message, severity: options.severity ?? 'error', anchor: options.anchor ?? 'value' };
}

/**
 * `PATH:LINE:COL: json.path: message` (DESIGN.md §2), `PATH: message` without
 * a position. Warnings say so: `PATH:LINE:COL: json.path: warning: message`.
 */
export function formatIssue(issue: ConfigIssue): string {
  const message = issue.severity === 'warning' ? `warning: ${issue.message}` : issue.message;
  if (issue.line === null || issue.col === null) return `${issue.file}: ${message}`;
  return `${issue.file}:${issue.line}:${issue.col}: ${issue.path}: ${message}`;
}

/** One issue per line, in the order given. */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map(formatIssue).join('\n');
}

/** Source order (issues without a position first), stable for equal positions. */
export function compareIssues(a: ConfigIssue, b: ConfigIssue): number {
  return (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0);
}

/** An issue about the file as a whole, printed as `PATH: message`. */
export function fileIssue(file: string, code: ConfigIssueCode, message: string): ConfigIssue {
  return { file, line: null, col: null, path: '', message, severity: 'error', code };
}
