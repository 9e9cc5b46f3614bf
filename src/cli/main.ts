/*
 * The xdp4slb-agent command line (DESIGN.md §3): run, --check, --dry-run,
 * down, status, conntrack, --version, --help; global --pin-path and --log-level.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_PIN_PATH } from '../agent/pin-layout.js';
import { checkConfig } from './check-config.js';
import { conntrackCommand } from './conntrack-command.js';
import { dryRun } from './dry-run.js';
import { parseArgs } from './parse-args.js';
import { runAgent } from './run-agent.js';
import { statusCommand } from './status-command.js';
import { takeDownCommand } from './take-down-command.js';

const USAGE = `Usage: xdp4slb-agent --config PATH            run: attach, apply, watch the file and hot-reload
       xdp4slb-agent --check --config PATH    validate only: exit 0 valid, 1 invalid
       xdp4slb-agent --dry-run --config PATH  print the plan against the live kernel state
       xdp4slb-agent down                     detach, remove pins and announced addresses
       xdp4slb-agent status [--json] [--watch [--interval D]]
                                              services, backends, traffic, drops, conntrack fill
       xdp4slb-agent conntrack [--service NAME] [--limit N]
                                              list connections (client, SNAT, backend, state, age)
       xdp4slb-agent --version | --help

Options (before or after the command):
  --config PATH      the config file (e.g. /etc/xdp4slb/config.yaml)
  --pin-path DIR     where the datapath is pinned (default ${DEFAULT_PIN_PATH});
                     must be on the host's bpffs
  --log-level LEVEL  fatal, error, warn, info, debug, trace or silent;
                     overrides the config's log.level

status:  --json prints JSON for scripts; --watch refreshes every --interval
         (default 2s) with rates (pps, bps, new flows/s) until Ctrl-C.
conntrack: --service NAME lists that service's flows only; --limit N at most N.
status and conntrack read the pins, with or without a running agent; they
exit 3 when nothing is pinned.

Signals: SIGHUP reloads the config; SIGTERM and SIGINT stop the agent and
leave the datapath forwarding (restarts are hitless); \`down\` stops balancing.
Errors in the config are printed as PATH:LINE:COL: json.path: message.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** status, with SIGINT and SIGTERM ending --watch cleanly (exit 0). */
async function watchStatus(opts: Parameters<typeof statusCommand>[0]): Promise<number> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await statusCommand(opts, { stdout: process.stdout, stderr: process.stderr, signal: stop.signal });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (!parsed.ok) {
    process.stderr.write(`xdp4slb-agent: ${parsed.error}\n${USAGE}`);
    return 2;
  }
  const { command, config, pinPath = DEFAULT_PIN_PATH, logLevel } = parsed.args;
  switch (command) {
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'version':
      process.stdout.write(`xdp4slb-agent ${version()}\n`);
      return 0;
    case 'check':
      return checkConfig(config!, process.stderr);
    case 'dry-run':
      return dryRun(config!, pinPath, process.stdout, process.stderr);
    case 'down':
      return takeDownCommand(pinPath, process.stdout, process.stderr);
    case 'status': {
      const { json = false, watch = false, intervalMs } = parsed.args;
      return watchStatus({ pinPath, json, watch, ...(intervalMs !== undefined ? { intervalMs } : {}) });
    }
    case 'conntrack': {
      const { service, limit } = parsed.args;
      const query = { ...(service !== undefined ? { service } : {}), ...(limit !== undefined ? { limit } : {}) };
      return conntrackCommand({ pinPath, ...query }, process.stdout, process.stderr);
    }
    case 'run':
      return runAgent({ configPath: config!, pinPath, ...(logLevel !== undefined ? { logLevel } : {}) });
  }
}
