/*
 * The connection-rate scenario (end-to-end case 10, and its benchmark): one
 * client opening short connections (keep-alive off) as fast as it can
 * through the web service of a Rig, with demo/traffic-client.js `rate`.
 * Reports the client's counts, the new flows each backend took (lb_be_stats)
 * and the datapath's drop counters; with `captureServers`, also what became
 * of the SYNs each server saw (test/support/syn-outcomes.ts).
 */
import { Capture } from './capture.js';
import { addSynOutcomes, synOutcomes, type SynOutcomes } from './syn-outcomes.js';
import { SNAT, URL_, type Rig, type Server } from './traffic-rig.js';

export interface RateOutcome {
  connections: number;
  /** Connections that did not complete within CONNECTION_TIMEOUT_MS. */
  failed: number;
  /** Connections that took a second or more (a SYN retransmission), and the slowest, in ms. */
  slow: number;
  slowestMs: number;
  /** The client's first 20 failure reasons. */
  failures: string[];
  seconds: number;
  /** New flows per backend address, from lb_be_stats. */
  newFlows: Record<string, number>;
  /** The datapath's global counters (drops) after the run. */
  counters: Record<string, number>;
  /** Over every captured server, when captured. */
  syns?: SynOutcomes;
  /** Packets the captures missed (the kernel's drop count): the capture counts are lower bounds by that much. */
  captureDropped?: number;
}

interface ClientReport {
  connections: number;
  failed: number;
  failures: string[];
  /** Connections that took a second or more (a SYN retransmission), and the slowest. */
  slow: number;
  slowestMs: number;
  seconds: number;
}

/*
 * A connection fails when it is not answered within 7 s: the time Linux
 * takes to send a SYN three times (at 0, 1 and 3 s) and hear back. Slower
 * ones (a SYN retransmission or two: a SYN lost, or refused twice by a
 * server still holding the tuple in TIME_WAIT) are counted apart as slow.
 */
const CONNECTION_TIMEOUT_MS = 7_000;

/** Runs the client for `seconds` with `concurrency` loops; fails if it does not report within `seconds` + 30 s. */
export async function runConnectionRate(rig: Rig, seconds: number, concurrency: number, captureServers: readonly Server[] = []): Promise<RateOutcome> {
  const captures = await Promise.all(captureServers.map((s) => Capture.start(rig.topo, s.host, rig.dir, `tcp and host ${SNAT}`)));
  const client = rig.spawnClient(['rate', URL_, String(seconds), String(concurrency)], 'client', { CLIENT_TIMEOUT_MS: String(CONNECTION_TIMEOUT_MS) });
  let stdout = '';
  let stderr = '';
  client.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  client.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => client.kill('SIGKILL'), (seconds + 30) * 1_000);
    client.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  let syns: SynOutcomes | undefined;
  let captureDropped = 0;
  for (const capture of captures) {
    const outcome = synOutcomes(await capture.stop(), SNAT);
    captureDropped += capture.dropped;
    syns = syns ? addSynOutcomes(syns, outcome) : outcome;
  }
  let report: ClientReport;
  try {
    report = JSON.parse(stdout) as ClientReport;
  } catch {
    throw new Error(`traffic client rate: exit ${code}: ${stdout} ${stderr}`);
  }
  const { newFlows, counters } = rig.withMaps((maps) => {
    const flows: Record<string, number> = {};
    for (const [id, meta] of maps.backendMetas()) flows[meta.ip] = Number(maps.backendTraffic(id).newFlows);
    const counted: Record<string, number> = {};
    for (const [name, value] of Object.entries(maps.counters())) counted[name] = Number(value);
    return { newFlows: flows, counters: counted };
  });
  return { ...report, newFlows, counters, ...(syns ? { syns, captureDropped } : {}) };
}
