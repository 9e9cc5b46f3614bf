/**
 * The pure front half of the pipeline (DESIGN.md §1):
 *
 *   text --load--> document with positions --validate (schema, semantics,
 *   optional host facts)--> DesiredState
 *
 * Every problem is collected (not just the first) and placed in the source
 * as `file:line:col: json.path: message`. Errors are data: nothing throws
 * for a bad file. Pure: the file's text and the host's facts are inputs.
 */
import type { DesiredState } from '../model/desired-state.js';
import { buildDesiredState } from './build-desired-state.js';
import { checkHostFacts, type HostFacts } from './check-host-facts.js';
import { checkSemantics } from './check-semantics.js';
import { compareIssues, type ConfigFinding, type ConfigIssue, type Severity } from './config-issue.js';
import { formatJsonPath } from './format-json-path.js';
import { loadConfig } from './load-config.js';
import type { Locator } from './locate-path.js';
import type { RawConfig } from './raw-config.js';
import { validateSchema } from './validate-schema.js';

export interface ParseEnv {
  /** net.ipv4.ip_local_port_range of the agent's network namespace (read-local-port-range.ts). */
  readonly localPortRange: readonly [number, number];
  /** Checks against the live host: severity 'error' at run time, 'warning' under --check. */
  readonly host?: { readonly facts: HostFacts; readonly severity: Severity };
}

export type ParseResult =
  | { readonly ok: true; readonly state: DesiredState; readonly warnings: readonly ConfigIssue[] }
  /** Errors and warnings together, in source order. */
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

function place(file: string, locate: Locator, found: ConfigFinding): ConfigIssue {
  const { line, col } = locate(found.path, found.anchor);
  return {
    file,
    line,
    col,
    path: formatJsonPath(found.path),
    message: found.message,
    severity: found.severity,
    code: found.code,
  };
}

function isPrefix(prefix: readonly unknown[], path: readonly unknown[]): boolean {
  return prefix.length <= path.length && prefix.every((segment, i) => segment === path[i]);
}

function finish(issues: ConfigIssue[]): ParseResult {
  return { ok: false, issues: issues.sort(compareIssues) };
}

export function parseConfig(text: string, file: string, env: ParseEnv): ParseResult {
  const loaded = loadConfig(text, file);
  const issues = [...loaded.issues];
  if (loaded.value === undefined) return finish(issues);
  if (loaded.value === null) {
    issues.push({
      file,
      line: 1,
      col: 1,
      path: '$',
      message: 'empty document: expected a mapping with at least interface, snat and services',
      severity: 'error',
      code: 'empty-document',
    });
    return finish(issues);
  }

  const data = loaded.value;
  const schemaFindings = validateSchema(data); // fills in defaults
  const rejected = schemaFindings.filter((f) => f.code !== 'unknown-key' && f.code !== 'required').map((f) => f.path);
  const laterFindings = [
    ...checkSemantics(data, env),
    ...(env.host === undefined ? [] : checkHostFacts(data, env.host.facts, env.host.severity)),
  ].filter((f) => !rejected.some((path) => isPrefix(path, f.path)));

  issues.push(...[...schemaFindings, ...laterFindings].map((f) => place(file, loaded.locate, f)));
  if (issues.some((issue) => issue.severity === 'error')) return finish(issues);
  return { ok: true, state: buildDesiredState(data as RawConfig), warnings: issues.sort(compareIssues) };
}
