/*
 * The kernel's TCP counters of one network namespace (/proc/net/snmp and
 * /proc/net/netstat are per namespace): what became of SYNs and
 * connections on a host, cheaply, without a capture.
 */
import type { Topology } from '../../demo/topology.js';

export type TcpCounters = Record<string, number>;

/** "Tcp: ActiveOpens" → "Tcp.ActiveOpens", "TcpExt: PAWSTimewait" → "TcpExt.PAWSTimewait", from both files. */
export function tcpCounters(topo: Topology, host: string): TcpCounters {
  const res = topo.exec(host, 'cat', ['/proc/net/snmp', '/proc/net/netstat']);
  if (res.status !== 0) throw new Error(`reading TCP counters on ${host}: ${res.stderr}`);
  return parseProcNetCounters(res.stdout);
}

/* Each group is two lines: "Group: name name ...", then "Group: value value ...". */
export function parseProcNetCounters(text: string): TcpCounters {
  const out: TcpCounters = {};
  const lines = text.split('\n').filter((l) => l.includes(':'));
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [group, names] = splitGroup(lines[i]!);
    const [again, values] = splitGroup(lines[i + 1]!);
    if (group !== again) throw new Error(`/proc/net counters: "${group}" names followed by "${again}" values`);
    names.forEach((name, k) => (out[`${group}.${name}`] = Number(values[k])));
  }
  return out;
}

function splitGroup(line: string): [string, string[]] {
  const colon = line.indexOf(':');
  return [line.slice(0, colon), line.slice(colon + 1).trim().split(/\s+/)];
}

/** after − before, for the named counters (0 where a kernel lacks one). */
export function counterDelta(before: TcpCounters, after: TcpCounters, names: readonly string[]): Record<string, number> {
  return Object.fromEntries(names.map((n) => [n, (after[n] ?? 0) - (before[n] ?? 0)]));
}
