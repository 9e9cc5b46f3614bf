/**
 * The one error class of the host-networking adapter (src/host/). Callers
 * branch on `code` (stable across releases), never on the message; the
 * message is for operators and carries the command as it ran and what it
 * printed on stderr, because iproute2 puts its reason there and nowhere else.
 */

export type HostErrorCode =
  /** `ip` could not be started (not installed, not on PATH, timed out) or exited with a non-zero status. */
  | 'EHOST_IP'
  /** `ip -j` printed something other than the JSON iproute2 documents. */
  | 'EHOST_IP_OUTPUT';

export class HostError extends Error {
  override readonly name = 'HostError';
  readonly code: HostErrorCode;
  /** The argument vector as run, `ip` first. */
  readonly command: readonly string[];
  /** What the command printed on stderr, trimmed; '' when it printed nothing or never ran. */
  readonly stderr: string;

  /** Message: `COMMAND: WHAT: STDERR` (without `: STDERR` when stderr is empty). */
  constructor(code: HostErrorCode, command: readonly string[], what: string, stderr = '', options?: ErrorOptions) {
    const trimmed = stderr.trim();
    super(`${command.join(' ')}: ${what}${trimmed === '' ? '' : `: ${trimmed}`}`, options);
    this.code = code;
    this.command = command;
    this.stderr = trimmed;
  }
}
