/**
 * Load: config text -> plain data, and a way back from paths in the data to
 * positions in the text. Two readers, one result: a file in the plain
 * subset of YAML that config files are written in is read by
 * scan-simple-yaml.ts, in a few milliseconds for a 1 MB file; anything else
 * (including every file with a YAML error) by the `yaml` document API, which
 * reports all YAML errors and warnings with their positions. The data is
 * only produced for a document without errors. Pure.
 */
import { LineCounter, parseDocument, type YAMLError } from 'yaml';
import type { ConfigIssue, Severity } from './config-issue.js';
import { formatJsonPath } from './format-json-path.js';
import { createLocator, pathAtOffset, type Locator } from './locate-path.js';
import { scanSimpleYaml } from './scan-simple-yaml.js';
import { outlineDocument } from './source-outline.js';

/** Aliases expanded into a document at most this often (guards against "billion laughs"). */
const MAX_ALIAS_COUNT = 100;

export interface LoadedConfig {
  /** The document as plain data; undefined when there were YAML errors; null for an empty document. */
  readonly value: unknown;
  /** Maps paths in `value` back to the source. */
  readonly locate: Locator;
  /** YAML errors, then YAML warnings. */
  readonly issues: readonly ConfigIssue[];
}

export function loadConfig(text: string, file: string): LoadedConfig {
  const scanned = scanSimpleYaml(text);
  if (scanned === undefined) return loadDocument(text, file);
  return { value: scanned.value, locate: createLocator(scanned.positions), issues: [] };
}

/** The `yaml` document API's reading of `text`: any YAML, every error and warning placed. */
export function loadDocument(text: string, file: string): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: '1.2' });
  const locate = createLocator(() => ({ outline: outlineDocument(doc), lineCounter }));

  const toIssue = (error: YAMLError, severity: Severity): ConfigIssue => {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    return {
      file,
      line,
      col,
      path: formatJsonPath(pathAtOffset(doc, error.pos[0])),
      message: describeYamlError(error),
      severity,
      code: severity === 'error' ? 'yaml-syntax' : 'yaml-warning',
    };
  };
  const issues = [...doc.errors.map((e) => toIssue(e, 'error')), ...doc.warnings.map((e) => toIssue(e, 'warning'))];
  if (doc.errors.length > 0) return { value: undefined, locate, issues };

  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown, locate, issues };
  } catch (error) {
    // toJS refuses documents whose aliases expand too much.
    const message = error instanceof Error ? error.message : String(error);
    const issue: ConfigIssue = { file, line: 1, col: 1, path: '$', message, severity: 'error', code: 'yaml-syntax' };
    return { value: undefined, locate, issues: [...issues, issue] };
  }
}

/** The yaml package's message, first letter lower-cased to read like the others. */
function describeYamlError(error: YAMLError): string {
  const text = error.message.split('\n')[0] ?? error.message;
  const message = text.charAt(0).toLowerCase() + text.slice(1);
  return `YAML: ${message}`;
}
