/*
 * wrk, the C HTTP load generator, run to completion in a topology host's
 * namespace, and its summary parsed. With `Connection: close` every request
 * is a new TCP connection (wrk reconnects when the server closes), so its
 * request count is the connection count.
 */
import type { Topology } from '../../demo/topology.js';

export interface WrkOutcome {
  requests: number;
  seconds: number;
  /** wrk's socket errors by kind, and answers that were not 2xx or 3xx. */
  errors: { connect: number; read: number; write: number; timeout: number; status: number };
  latency: { avg: string; max: string };
}

export interface WrkLoad {
  url: string;
  seconds: number;
  threads: number;
  connections: number;
}

/** Runs wrk to completion (killed if it overruns by a minute); the event loop stays free for sampling meanwhile. */
export async function runWrk(topo: Topology, host: string, load: WrkLoad): Promise<WrkOutcome> {
  const args = ['-t', String(load.threads), '-c', String(load.connections), '-d', `${load.seconds}s`, '--timeout', '2s', '-H', 'Connection: close', load.url];
  const child = topo.spawn(host, 'wrk', args);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), (load.seconds + 60) * 1_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  if (code !== 0) throw new Error(`wrk ${args.join(' ')}: exit ${code}: ${stdout}${stderr}`);
  return parseWrk(stdout);
}

/** The figures of wrk's text summary (it has no machine-readable output without a Lua script). */
export function parseWrk(text: string): WrkOutcome {
  const done = /(\d+) requests in ([\d.]+)(m?s|m)\b/.exec(text);
  if (!done) throw new Error(`wrk: no request count in:\n${text}`);
  const unit = done[3] === 'ms' ? 1e-3 : done[3] === 'm' ? 60 : 1;
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const status = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const latency = /Latency\s+(\S+)\s+\S+\s+(\S+)/.exec(text);
  return {
    requests: Number(done[1]),
    seconds: Number(done[2]) * unit,
    errors: {
      connect: Number(socket?.[1] ?? 0),
      read: Number(socket?.[2] ?? 0),
      write: Number(socket?.[3] ?? 0),
      timeout: Number(socket?.[4] ?? 0),
      status: Number(status?.[1] ?? 0),
    },
    latency: { avg: latency?.[1] ?? '?', max: latency?.[2] ?? '?' },
  };
}
