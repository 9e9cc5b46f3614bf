/**
 * The config stage: config.yaml text -> DesiredState, with every problem as
 * positioned data. Everything exported here is pure; the two readers that
 * gather the inputs, read-config-file.ts and read-local-port-range.ts, are
 * imported directly by the caller so this entry point stays free of I/O.
 */
export { parseConfig, parseConfigText } from './parse-config.js';
export type { AddHostChecks, ParseEnv, ParseResult } from './parse-config.js';
export { loadConfig } from './load-config.js';
export type { LoadedConfig } from './load-config.js';
export { validateSchema } from './validate-schema.js';
export { checkSemantics, MAX_BACKENDS_TOTAL } from './check-semantics.js';
export type { SemanticEnv } from './check-semantics.js';
export { checkHostFacts } from './check-host-facts.js';
export type { HostFacts } from './check-host-facts.js';
export { buildDesiredState } from './build-desired-state.js';
export { ConfigError } from './config-error.js';
export type { ConfigErrorCode } from './config-error.js';
export { formatIssue, formatIssues, compareIssues, fileIssue, finding } from './config-issue.js';
export type { ConfigIssue, ConfigIssueCode, ConfigFinding, FindingAnchor, Severity } from './config-issue.js';
export { formatJsonPath, parseJsonPointer } from './format-json-path.js';
export type { PathSegment } from './format-json-path.js';
export { parseDuration, MAX_DURATION_MS } from './parse-duration.js';
export { parsePortRange, rangesOverlap } from './parse-port-range.js';
export type { PortRange } from './parse-port-range.js';
export { CONFIG_SCHEMA } from './config-schema.js';
