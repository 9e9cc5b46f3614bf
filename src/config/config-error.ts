/**
 * The one error class of the config stage. Callers branch on `code` (stable),
 * never on the message; `issues` holds every problem as data (file, line,
 * col, path, message), for one structured log event per rejected reload.
 */
import { formatIssues, type ConfigIssue } from './config-issue.js';

export type ConfigErrorCode =
  /** The file could not be read (missing, unreadable, a directory): issues have no position. */
  | 'ECONFIG_UNREADABLE'
  /** The file was read but is not a valid config: YAML, schema, semantic or host issues. */
  | 'ECONFIG_INVALID'
  /** A reload changes a restart-only setting (interface, xdp_mode, conntrack.max_entries). */
  | 'ECONFIG_RESTART_ONLY';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code: ConfigErrorCode;
  readonly issues: readonly ConfigIssue[];

  /** The message defaults to the issues, formatted one per line. */
  constructor(code: ConfigErrorCode, issues: readonly ConfigIssue[], message?: string) {
    super(message ?? formatIssues(issues));
    this.code = code;
    this.issues = issues;
  }
}
