// Runs a packaging tool quietly (rpmbuild traces every scriptlet line) and
// shows its whole output only when it fails.
import { spawnSync } from 'node:child_process';

export function runTool(command, args, options = {}) {
  const res = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (res.error) throw new Error(`${command}: ${res.error.message}`);
  if (res.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (exit ${res.status ?? res.signal}):\n${res.stdout}${res.stderr}`);
  }
  return res.stdout;
}
