/*
 * Errors of the agent itself (as opposed to the kernel adapter's
 * KernelError or the host adapter's HostError), each with a stable code.
 */
export type AgentErrorCode =
  /** A restart-only setting differs from the one the datapath runs with. */
  | 'ERESTART_ONLY'
  /** The config file is missing, unreadable or invalid. */
  | 'ECONFIG'
  /** The plan cannot be made (e.g. more services than the maps hold). */
  | 'EPLAN'
  /** An operation failed; the apply was rolled back. */
  | 'EAPPLY';

export class AgentError extends Error {
  override readonly name = 'AgentError';
  constructor(
    readonly code: AgentErrorCode,
    message: string,
  ) {
    super(message);
  }
}
