/**
 * Runs iproute2's `ip` in the caller's network namespace (the agent is
 * started with `nsenter --net=/run/netns/NAME`, which `ip` inherits). The
 * arguments go to execFile as a vector: no shell ever sees them, so an
 * interface name or address from a config file cannot become a command.
 * Every failure becomes a HostError carrying the command and its stderr.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { HostError } from './host-error.js';

const execFileAsync = promisify(execFile);

const IP = 'ip';

/* A hung `ip` must not stall a reload forever; a healthy one answers in milliseconds. */
const TIMEOUT_MS = 10_000;

/* With thousands of VIPs announced as /32s, `ip -j addr show` outgrows execFile's 1 MiB default. */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** Why execFile failed, in words (its own message repeats the command and the whole stderr). */
function describeFailure(error: unknown): string {
  const e = error as { code?: unknown; signal?: unknown; killed?: unknown; message?: unknown };
  if (typeof e.code === 'number') return `exit status ${e.code}`;
  if (e.code === 'ENOENT') return `cannot run ${IP}: not installed or not on PATH (ENOENT)`;
  if (e.killed === true) return `no answer within ${TIMEOUT_MS / 1000} s (killed)`;
  if (typeof e.signal === 'string') return `killed by ${e.signal}`;
  return String(e.message ?? error);
}

/** `ip ARGS...`; resolves to its stdout. */
export async function runIp(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(IP, args, {
      encoding: 'utf8',
      // Callers match iproute2's error text (e.g. "File exists"), which libc translates under other locales.
      env: { ...process.env, LC_ALL: 'C' },
      timeout: TIMEOUT_MS,
      killSignal: 'SIGKILL',
      maxBuffer: MAX_OUTPUT_BYTES,
    });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: unknown }).stderr;
    throw new HostError('EHOST_IP', [IP, ...args], describeFailure(error), typeof stderr === 'string' ? stderr : '', {
      cause: error,
    });
  }
}

/** `ip -j ARGS...`, parsed; the caller checks the shape it expects. */
export async function runIpJson(args: readonly string[]): Promise<unknown> {
  const jsonArgs = ['-j', ...args];
  const stdout = await runIp(jsonArgs);
  try {
    return JSON.parse(stdout) as unknown;
  } catch (error) {
    const start = JSON.stringify(stdout.slice(0, 80));
    throw new HostError('EHOST_IP_OUTPUT', [IP, ...jsonArgs], `expected JSON, got ${start}`, '', { cause: error });
  }
}

/**
 * `ip -force -batch -` with one command per line on stdin: many address
 * changes for the cost of one process. -force runs every line even after a
 * failing one; the caller checks the outcome by listing, since ip reports
 * only line numbers. Rejects with the collected stderr if any line failed.
 */
export async function runIpBatch(lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  const args = ['-force', '-batch', '-'];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(IP, args, { env: { ...process.env, LC_ALL: 'C' }, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new HostError('EHOST_IP', [IP, ...args], describeFailure(error), stderr, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new HostError('EHOST_IP', [IP, ...args], signal ? `killed by ${signal}` : `exit status ${code}`, stderr.trim()));
    });
    child.stdin.end(`${lines.join('\n')}\n`);
  });
}
