/*
 * Child of neighbor-resolver.test.ts: runs the neighbour loop in the network
 * namespace it was started in (`nsenter --net=/run/netns/NAME`) against the
 * real datapath maps, loaded from build/bpf, with lb_neigh pinned where the
 * parent reads it (with bpftool, not with the code under test).
 *
 * Protocol, one JSON object per line. stdin: {"update": [addresses]} (the
 * first also starts the loop), {"query": [addresses]}; end of input stops
 * the loop and exits. stdout: {"ready": true} once pinned,
 * {"changed": [addresses]} per onChange, {"resolutions": {address: ...}} per
 * query, {"error": message} on a failure. Imported without the
 * environment, this module does nothing.
 */
import { createInterface } from 'node:readline';
import { createLogger } from '../../src/agent/logger.js';
import { realTimers } from '../../src/agent/timers.js';
import { monotonicClock } from '../../src/loops/loop-context.js';
import { NeighborResolver } from '../../src/loops/neighbor-resolver.js';
import { LoadedDatapath, TEST_MAP_SIZES } from '../support/datapath-fixture.js';

export const PIN_ENV = 'XDP4SLB_NEIGH_PIN';
export const INTERVAL_ENV = 'XDP4SLB_NEIGH_INTERVAL_MS';
export const INTERFACE_ENV = 'XDP4SLB_NEIGH_INTERFACE';

export type ChildCommand = { readonly update: readonly string[] } | { readonly query: readonly string[] };

function say(message: unknown): void {
  process.stdout.write(`${JSON.stringify(message, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))}\n`);
}

async function main(pin: string): Promise<void> {
  const intervalMs = Number(process.env[INTERVAL_ENV]);
  const datapath = LoadedDatapath.load(TEST_MAP_SIZES);
  try {
    datapath.maps.map('lb_neigh').pin(pin);
    const resolver = new NeighborResolver({
      maps: datapath.maps,
      // Warnings (a failed refresh) go to stderr, which the parent prints when a test fails.
      context: { timers: realTimers, clock: monotonicClock, log: createLogger({ level: 'warn', pretty: false, destination: 2 }) },
      refreshIntervalMs: intervalMs,
      onChange: (changed) => say({ changed }),
      ...(process.env[INTERFACE_ENV] === undefined ? {} : { interface: process.env[INTERFACE_ENV] }),
    });
    say({ ready: true });
    for await (const line of createInterface({ input: process.stdin })) {
      const command = JSON.parse(line) as ChildCommand;
      if ('update' in command) {
        resolver.update(command.update, intervalMs);
        resolver.start();
      } else {
        say({ resolutions: Object.fromEntries(command.query.map((a) => [a, resolver.resolution(a)])) });
      }
    }
    await resolver.stop();
  } finally {
    datapath.close();
  }
}

const pin = process.env[PIN_ENV];
if (pin !== undefined) {
  try {
    await main(pin);
  } catch (error) {
    say({ error: String((error as Error).stack ?? error) });
    process.exitCode = 1;
  }
}
