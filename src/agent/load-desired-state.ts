/*
 * The config file -> DesiredState, with every input gathered: the file's
 * text, the namespace's local port range, and the host's interfaces and
 * addresses (checked as errors when the agent runs, DESIGN.md §2).
 *
 * The host is asked through an `ip` child process, which runs while this
 * process reads and checks the file: only the host checks wait for its
 * answer (parseConfigText).
 */
import { parseConfigText, type ConfigIssue, type Severity } from '../config/index.js';
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
      /** The file's text as read: a later read tells whether the file has changed since. */
      readonly text: string;
    }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

export async function loadDesiredState(path: string, hostSeverity: Severity = 'error'): Promise<LoadResult> {
  const host = gatherHostFacts();
  // Awaited below, after the file is read: a failure before then is not unhandled.
  host.catch(() => undefined);
  const [read, localPortRange] = await Promise.all([readConfigFile(path), readLocalPortRange()]);
  if (!read.ok) {
    await host;
    return { ok: false, issues: [read.issue] };
  }
  const addHostChecks = parseConfigText(read.text, path, { localPortRange });
  const facts = await host;
  const result = addHostChecks({ facts, severity: hostSeverity });
  if (!result.ok) return result;
  // Not spread: the warnings are placed when read (parse-config.ts), and a reload does not read them.
  return {
    ok: true,
    state: result.state,
    get warnings(): readonly ConfigIssue[] {
      return result.warnings;
    },
    facts,
    text: read.text,
  };
}
