/*
 * The command line (DESIGN.md §3) as data. Global options may come before
 * or after the command word. Usage errors are returned, not thrown: main
 * prints them with the usage text and exits 2.
 */
export type Command = 'run' | 'check' | 'dry-run' | 'down' | 'help' | 'version';

export interface CliArgs {
  readonly command: Command;
  readonly config?: string;
  readonly pinPath?: string;
  readonly logLevel?: string;
}

export type ParsedArgs = { readonly ok: true; readonly args: CliArgs } | { readonly ok: false; readonly error: string };

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const COMMAND_WORDS: Readonly<Record<string, Command>> = { down: 'down' };
const VALUE_OPTIONS = ['--config', '--pin-path', '--log-level'] as const;

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const values: Partial<Record<(typeof VALUE_OPTIONS)[number], string>> = {};
  const flags = new Set<string>();
  let word: Command | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if ((VALUE_OPTIONS as readonly string[]).includes(name)) {
      const value = eq > 0 && name !== arg ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '') return { ok: false, error: `${name} needs a value` };
      values[name as (typeof VALUE_OPTIONS)[number]] = value;
    } else if (['--check', '--dry-run', '--help', '-h', '--version'].includes(arg)) {
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
  if (modes.length > 1) return { ok: false, error: `choose one of ${modes.map((m) => (m === 'down' ? m : `--${m}`)).join(' and ')}` };
  const command = modes[0] ?? 'run';
  if (command !== 'down' && common.config === undefined) return { ok: false, error: `${command === 'run' ? 'running' : `--${command}`} needs --config PATH` };
  return { ok: true, args: { command, ...common } };
}
