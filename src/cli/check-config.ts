/*
 * `xdp4slb-agent --check --config PATH`: validate only, change nothing.
 * Errors and warnings go to stderr as PATH:LINE:COL: json.path: message;
 * the exit code says valid (0) or invalid (1), so Ansible's `validate:` can
 * use it. Checks that need the live host (interface exists, SNAT address
 * local) are not run here yet.
 */
import { formatIssue, parseConfig } from '../config/index.js';
import { readConfigFile } from '../config/read-config-file.js';
import { readLocalPortRange } from '../config/read-local-port-range.js';

export async function checkConfig(path: string, stderr: NodeJS.WritableStream): Promise<number> {
  const read = await readConfigFile(path);
  if (!read.ok) {
    stderr.write(`${formatIssue(read.issue)}\n`);
    return 1;
  }
  const result = parseConfig(read.text, path, { localPortRange: await readLocalPortRange() });
  const issues = result.ok ? result.warnings : result.issues;
  for (const issue of issues) stderr.write(`${formatIssue(issue)}\n`);
  return result.ok ? 0 : 1;
}
