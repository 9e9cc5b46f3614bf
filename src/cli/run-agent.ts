/*
 * `xdp4slb-agent --config PATH`: run in the foreground until SIGTERM or
 * SIGINT (then exit 0, datapath left forwarding); SIGHUP reloads. Exit 1
 * when the agent cannot start (invalid config, restart-only conflict,
 * attach or apply failure), with the reason logged.
 */
import { Agent } from '../agent/agent.js';
import { createLogger } from '../agent/logger.js';
import { BPF_OBJECT_PATH } from '../agent/object-path.js';
import type pino from 'pino';

export interface RunOptions {
  readonly configPath: string;
  readonly pinPath: string;
  readonly logLevel?: string;
}

export async function runAgent(opts: RunOptions): Promise<number> {
  const log = createLogger({ level: (opts.logLevel ?? 'info') as pino.LevelWithSilent });
  const agent = new Agent({
    configPath: opts.configPath,
    pinPath: opts.pinPath,
    objectPath: BPF_OBJECT_PATH,
    log,
    fixedLogLevel: opts.logLevel !== undefined,
  });
  // Signals are handled from the beginning, not once the start is done: under
  // systemd a reload can come right after the start (Type=simple counts the
  // service as started at once; Ansible's handler follows its start task), and
  // Node's default action for SIGHUP and SIGTERM would kill the agent. A SIGHUP
  // during the start reloads after it; a SIGTERM or SIGINT stops the agent as
  // soon as it has started.
  let started = false;
  let stopping = false;
  let reloadAfterStart = false;
  let stopRequested: (signal: NodeJS.Signals) => void = () => {};
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => (stopRequested = resolve));
  const onHup = (): void => {
    if (started) void agent.reload('SIGHUP');
    else reloadAfterStart = true;
  };
  const onStop = (signal: NodeJS.Signals): void => {
    stopping = true;
    removeHandlers();
    stopRequested(signal);
  };
  const removeHandlers = (): void => {
    process.off('SIGHUP', onHup);
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
  };
  process.on('SIGHUP', onHup);
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);

  try {
    await agent.start();
  } catch (err) {
    removeHandlers();
    const e = err as Error & { code?: string; errno?: number };
    log.fatal({ event: 'start-failed', code: e.code, errno: e.errno }, e.message);
    await agent.stop();
    return 1;
  }
  started = true;
  if (reloadAfterStart && !stopping) void agent.reload('SIGHUP');
  const signal = await stopSignal;
  log.info({ event: 'stopping', signal }, 'stopping; the datapath keeps forwarding (run `xdp4slb-agent down` to stop it)');
  await agent.stop();
  return 0;
}
