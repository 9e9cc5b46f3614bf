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
  try {
    await agent.start();
  } catch (err) {
    const e = err as Error & { code?: string; errno?: number };
    log.fatal({ event: 'start-failed', code: e.code, errno: e.errno }, e.message);
    await agent.stop();
    return 1;
  }
  return new Promise<number>((resolve) => {
    const onHup = (): void => void agent.reload('SIGHUP');
    const onStop = (signal: NodeJS.Signals): void => {
      process.off('SIGHUP', onHup);
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      log.info({ event: 'stopping', signal }, 'stopping; the datapath keeps forwarding (run `xdp4slb-agent down` to stop it)');
      void agent.stop().then(() => resolve(0));
    };
    process.on('SIGHUP', onHup);
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
  });
}
