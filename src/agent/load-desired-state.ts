/*
 * The config file -> DesiredState, with every input gathered: the file's
 * text, the namespace's local port range, and the host's interfaces and
 * addresses (checked as errors when the agent runs, DESIGN.md §2).
 */
import { parseConfig, type ConfigIssue, type Severity } from '../config/index.js';
import { readConfigFile } from '../config/read-config-file.js';
import { readLocalPortRange } from '../config/read-local-port-range.js';
import type { HostFacts } from '../config/check-host-facts.js';
import { gatherHostFacts } from '../host/gather-host-facts.js';
import type { DesiredState } from '../model/desired-state.js';

export type LoadResult =
  | {
      readonly ok: true;
      readonly state: DesiredState;
      readonly warnings: readonly ConfigIssue[];
      /** The host as the checks saw it; the planner needs its addresses too. */
      readonly facts: HostFacts;
    }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

export async function loadDesiredState(path: string, hostSeverity: Severity = 'error'): Promise<LoadResult> {
  // The host is asked (child processes) while this process reads the file.
  const host = Promise.all([readLocalPortRange(), gatherHostFacts()]);
  const read = await readConfigFile(path);
  const [localPortRange, facts] = await host;
  if (!read.ok) return { ok: false, issues: [read.issue] };
  const result = parseConfig(read.text, path, { localPortRange, host: { facts, severity: hostSeverity } });
  return result.ok ? { ...result, facts } : result;
}
