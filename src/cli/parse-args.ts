/*
 * The command line (DESIGN.md §3) as data. Global options may come before
 * or after the command word. Usage errors are returned, not thrown: main
 * prints them with the usage text and exits 2.
 */
import { parseDuration } from '../config/parse-duration.js';

export type Command = 'run' | 'check' | 'dry-run' | 'down' | 'status' | 'conntrack' | 'help' | 'version';

export interface CliArgs {
  readonly command: Command;
  readonly config?: string;
  readonly pinPath?: string;
  readonly logLevel?: string;
  /** status: print JSON. */
  readonly json?: boolean;
  /** status: refresh every intervalMs until interrupted. */
  readonly watch?: boolean;
  readonly intervalMs?: number;
  /** conntrack: only this service's flows, at most `limit` of them. */
  readonly service?: string;
  readonly limit?: number;
}

export type ParsedArgs = { readonly ok: true; readonly args: CliArgs } | { readonly ok: false; readonly error: string };

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const COMMAND_WORDS: Readonly<Record<string, Command>> = { down: 'down', status: 'status', conntrack: 'conntrack' };
const VALUE_OPTIONS = ['--config', '--pin-path', '--log-level', '--interval', '--service', '--limit'] as const;
type ValueOption = (typeof VALUE_OPTIONS)[number];
const FLAGS = ['--check', '--dry-run', '--help', '-h', '--version', '--json', '--watch'];

/** Options that belong to one command only. */
const OWNED_BY: Readonly<Record<string, Command>> = {
  '--json': 'status',
  '--watch': 'status',
  '--interval': 'status',
  '--service': 'conntrack',
  '--limit': 'conntrack',
};

/* Fastest refresh --watch allows: each one reads every map. */
const MIN_INTERVAL_MS = 100;
const DEFAULT_INTERVAL_MS = 2_000;

function describeCommand(command: Command): string {
  return ['check', 'dry-run'].includes(command) ? `--${command}` : command === 'run' ? 'running' : command;
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const values: Partial<Record<ValueOption, string>> = {};
  const flags = new Set<string>();
  let word: Command | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if ((VALUE_OPTIONS as readonly string[]).includes(name)) {
      const value = eq > 0 && name !== arg ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '') return { ok: false, error: `${name} needs a value` };
      values[name as ValueOption] = value;
    } else if (FLAGS.includes(arg)) {
      flags.add(arg === '-h' ? '--help' : arg);
    } else if (COMMAND_WORDS[arg] !== undefined && word === undefined) {
      word = COMMAND_WORDS[arg];
    } else {
      return { ok: false, error: `unknown argument "${arg}"` };
    }
  }
  const logLevel = values['--log-level'];
  if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel)) {
    return { ok: false, error: `--log-level must be one of ${LOG_LEVELS.join(', ')}` };
  }
  const common = {
    ...(values['--config'] !== undefined ? { config: values['--config'] } : {}),
    ...(values['--pin-path'] !== undefined ? { pinPath: values['--pin-path'] } : {}),
    ...(logLevel !== undefined ? { logLevel } : {}),
  };
  if (flags.has('--help')) return { ok: true, args: { command: 'help', ...common } };
  if (flags.has('--version')) return { ok: true, args: { command: 'version', ...common } };
  const modes = [flags.has('--check') && 'check', flags.has('--dry-run') && 'dry-run', word].filter(Boolean) as Command[];
  if (modes.length > 1) return { ok: false, error: `choose one of ${modes.map((m) => (m === 'check' || m === 'dry-run' ? `--${m}` : m)).join(' and ')}` };
  const command = modes[0] ?? 'run';
  for (const option of [...flags, ...Object.keys(values)]) {
    const owner = OWNED_BY[option];
    if (owner !== undefined && owner !== command) return { ok: false, error: `${option} goes with \`${owner}\`, not ${describeCommand(command)}` };
  }
  if (['run', 'check', 'dry-run'].includes(command) && common.config === undefined) return { ok: false, error: `${describeCommand(command)} needs --config PATH` };
  if (command === 'status') return statusArgs(values, flags, common);
  if (command === 'conntrack') return conntrackArgs(values, common);
  return { ok: true, args: { command, ...common } };
}

function statusArgs(values: Partial<Record<ValueOption, string>>, flags: ReadonlySet<string>, common: Omit<CliArgs, 'command'>): ParsedArgs {
  const interval = values['--interval'];
  if (interval !== undefined && !flags.has('--watch')) return { ok: false, error: '--interval goes with --watch' };
  const intervalMs = interval === undefined ? DEFAULT_INTERVAL_MS : parseDuration(interval);
  if (intervalMs === undefined) return { ok: false, error: `--interval must be a duration such as 2s or 500ms, not "${interval}"` };
  if (intervalMs < MIN_INTERVAL_MS) return { ok: false, error: `--interval must be at least ${MIN_INTERVAL_MS}ms` };
  const watch = flags.has('--watch');
  return { ok: true, args: { command: 'status', ...common, json: flags.has('--json'), watch, ...(watch ? { intervalMs } : {}) } };
}

function conntrackArgs(values: Partial<Record<ValueOption, string>>, common: Omit<CliArgs, 'command'>): ParsedArgs {
  const limitText = values['--limit'];
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && !(/^\d+$/.test(limitText!) && limit > 0)) return { ok: false, error: `--limit must be a positive whole number, not "${limitText}"` };
  return {
    ok: true,
    args: {
      command: 'conntrack',
      ...common,
      ...(values['--service'] !== undefined ? { service: values['--service'] } : {}),
      ...(limit !== undefined ? { limit } : {}),
    },
  };
}
