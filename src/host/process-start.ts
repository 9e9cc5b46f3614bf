/*
 * When a process started, as the kernel tells it (/proc/PID/stat field 22,
 * clock ticks since boot). A pid alone cannot tell an agent from a later
 * process that was given the same pid; the pid and its start time can: the
 * agent records its own, and `status` compares them with what /proc shows.
 */
import fs from 'node:fs';

/** The start time of `pid` ('self': this process), or undefined when no such process exists. */
export function processStartTicks(pid: number | 'self'): bigint | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or
  // parentheses itself: count fields after its last ')'. Field 3 comes first.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = fields[22 - 3];
  return ticks !== undefined && /^\d+$/.test(ticks) ? BigInt(ticks) : undefined;
}

/** Whether the process `pid` that started at `startTicks` is still running. */
export function processAlive(pid: number, startTicks: bigint): boolean {
  return pid > 0 && processStartTicks(pid) === startTicks;
}
