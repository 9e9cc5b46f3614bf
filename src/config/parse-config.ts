/**
 * The pure front half of the pipeline (DESIGN.md §1):
 *
 *   text --load--> data, with a locator into the source --validate (schema,
 *   semantics, optional host facts)--> DesiredState
 *
 * Every problem is collected (not just the first) and placed in the source
 * as `file:line:col: json.path: message`. Errors are data: nothing throws
 * for a bad file. Pure: the file's text and the host's facts are inputs.
 * The checks work on plain data and ask for positions only to place what
 * they found, so a valid file pays for no positions (load-config.ts), and
 * one with warnings pays when they are read.
 */
import type { DesiredState } from '../model/desired-state.js';
import { buildDesiredState } from './build-desired-state.js';
import { checkHostFacts, type HostFacts } from './check-host-facts.js';
import { checkSemantics } from './check-semantics.js';
import { compareIssues, type ConfigFinding, type ConfigIssue, type Severity } from './config-issue.js';
import { formatJsonPath, type PathSegment } from './format-json-path.js';
import { loadConfig, type LoadedConfig } from './load-config.js';
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

/**
 * Whether `path` is one of `paths` (given formatted, which tells keys from
 * indexes) or lies under one. A lookup per prefix, not a scan of `paths`:
 * a large broken file can have tens of thousands of both.
 */
function isUnder(path: readonly PathSegment[], paths: ReadonlySet<string>): boolean {
  for (let length = 0; length <= path.length; length++) {
    if (paths.has(formatJsonPath(path.slice(0, length)))) return true;
  }
  return false;
}

function finish(issues: ConfigIssue[]): ParseResult {
  return { ok: false, issues: issues.sort(compareIssues) };
}

export function parseConfig(text: string, file: string, env: ParseEnv): ParseResult {
  return checkLoadedConfig(loadConfig(text, file), file, env)(env.host);
}

/** The checks and the build, on a file already loaded (by either reader of load-config.ts). */
export function parseLoadedConfig(loaded: LoadedConfig, file: string, env: ParseEnv): ParseResult {
  return checkLoadedConfig(loaded, file, env)(env.host);
}

/** The checks against the live host, and the result: the second step of parseConfigText. */
export type AddHostChecks = (host: ParseEnv['host']) => ParseResult;

/**
 * parseConfig in two steps, for a caller that gathers the host's facts
 * meanwhile (child processes, load-desired-state.ts): everything that needs
 * only the text and the local port range runs now, the DesiredState
 * included (the host checks can only add issues, and a valid file is the
 * rule); the function returned adds the host checks. The result is the
 * one parseConfig gives.
 */
export function parseConfigText(text: string, file: string, env: Omit<ParseEnv, 'host'>): AddHostChecks {
  return checkLoadedConfig(loadConfig(text, file), file, env);
}

function checkLoadedConfig(loaded: LoadedConfig, file: string, env: Omit<ParseEnv, 'host'>): AddHostChecks {
  const issues = [...loaded.issues];
  if (loaded.value === undefined) return () => finish(issues);
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
    return () => finish(issues);
  }

  const data = loaded.value;
  const schemaFindings = validateSchema(data); // fills in defaults
  const rejected = new Set(
    schemaFindings.filter((f) => f.code !== 'unknown-key' && f.code !== 'required').map((f) => formatJsonPath(f.path)),
  );
  // Later findings on a value the schema rejected add nothing.
  const report = (findings: readonly ConfigFinding[], to: ConfigFinding[]): void => {
    // A loop, not push(...all): a badly broken large file has more findings than a call takes arguments.
    for (const found of findings) if (rejected.size === 0 || !isUnder(found.path, rejected)) to.push(found);
  };
  // Placed at the end, and for a valid file only when its warnings are read: placing reads the
  // whole source again (a large file's outline), which a reload that does not show them need not pay.
  const found: ConfigFinding[] = [...schemaFindings];
  report(checkSemantics(data, env), found);
  const isError = (f: { readonly severity: Severity }): boolean => f.severity === 'error';
  const state = issues.some(isError) || found.some(isError) ? undefined : buildDesiredState(data as RawConfig);
  const placeAll = (findings: readonly ConfigFinding[]): ConfigIssue[] => [...issues, ...findings.map((f) => place(file, loaded.locate, f))];

  return (host) => {
    const all = [...found];
    if (host !== undefined) report(checkHostFacts(data, host.facts, host.severity), all);
    if (state === undefined || all.some(isError)) return finish(placeAll(all));
    let warnings: ConfigIssue[] | undefined;
    return {
      ok: true,
      state,
      get warnings(): readonly ConfigIssue[] {
        return (warnings ??= placeAll(all).sort(compareIssues));
      },
    };
  };
}
