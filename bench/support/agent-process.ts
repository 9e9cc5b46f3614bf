/*
 * The agent process of an AgentHost as the kernel accounts for it (/proc):
 * for benchmarks that report its memory and CPU time.
 */
import fs from 'node:fs';
import type { AgentHost } from '../../test/support/agent-harness.js';

/* /proc/PID/stat times are in clock ticks: USER_HZ, 100 on Linux. */
const TICKS_PER_SECOND = 100;

/** The agent's node process (nsenter execs node, so it is the child itself). */
export function agentPid(host: Pick<AgentHost, 'pinPath'>): number {
  const pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  for (const pid of pids) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('xdp4slb-agent') && cmd.includes(host.pinPath)) return Number(pid);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error('agent process not found');
}

export function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) / 1024;
}

/** CPU time (user + system) the process has used, in milliseconds. */
export function cpuMs(pid: number): number {
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}
