/*
 * The agent's logger. By default one JSON object per line on stdout, for
 * journald and log shippers: every event is structured (a rejected reload
 * carries file, line, col, path and message fields, DESIGN.md §2). On a
 * terminal the same events are rendered readable by pino-pretty.
 *
 * pino-pretty runs as a stream in this process, not as a pino transport: a
 * transport is a worker thread, one more thing to start and stop for output
 * that only a person at a terminal reads.
 */
import pino from 'pino';
import pretty from 'pino-pretty';

export type Logger = pino.Logger;

export interface LoggerOptions {
  level: pino.LevelWithSilent;
  /** Human-readable lines instead of JSON. Default: whether stdout is a terminal. */
  pretty?: boolean;
  /** Where lines go: a stream, or a file descriptor. Default: stdout (fd 1). */
  destination?: NodeJS.WritableStream | number;
}

export function createLogger(options: LoggerOptions): Logger {
  const { level, pretty: human = process.stdout.isTTY === true, destination = 1 } = options;
  const stream = human
    ? pretty({ destination })
    : typeof destination === 'number'
      ? pino.destination(destination)
      : destination;
  return pino(
    {
      level,
      // Replaces pino's default pid and hostname: journald records both already.
      base: { name: 'xdp4slb' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    stream,
  );
}
