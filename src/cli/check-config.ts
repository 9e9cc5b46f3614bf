/*
 * `xdp4slb-agent --check --config PATH`: validate only, change nothing.
 * Errors and warnings go to stderr as PATH:LINE:COL: json.path: message;
 * the exit code says valid (0) or invalid (1), so Ansible's `validate:` can
 * use it. Checks that need the live host (interface exists, SNAT address
 * local) run against the current network namespace as warnings: the file may
 * be checked on a build host before it reaches the balancer (DESIGN.md §2).
 * If the host's facts cannot be gathered (no `ip`), those checks are skipped
 * with one warning saying why, and the rest of the check still decides.
 */
import { formatIssue, parseConfig, type ParseEnv } from '../config/index.js';
import { readConfigFile } from '../config/read-config-file.js';
import { readLocalPortRange } from '../config/read-local-port-range.js';
import { gatherHostFacts } from '../host/gather-host-facts.js';
import { HostError } from '../host/host-error.js';

async function hostChecks(path: string, stderr: NodeJS.WritableStream): Promise<ParseEnv['host']> {
  try {
    return { facts: await gatherHostFacts(), severity: 'warning' };
  } catch (error) {
    if (!(error instanceof HostError)) throw error;
    stderr.write(`${path}: warning: host checks (interface exists, SNAT address is local) skipped: ${error.message}\n`);
    return undefined;
  }
}

export async function checkConfig(path: string, stderr: NodeJS.WritableStream): Promise<number> {
  const read = await readConfigFile(path);
  if (!read.ok) {
    stderr.write(`${formatIssue(read.issue)}\n`);
    return 1;
  }
  const [localPortRange, host] = await Promise.all([readLocalPortRange(), hostChecks(path, stderr)]);
  const result = parseConfig(read.text, path, { localPortRange, host });
  const issues = result.ok ? result.warnings : result.issues;
  for (const issue of issues) stderr.write(`${formatIssue(issue)}\n`);
  return result.ok ? 0 : 1;
}
