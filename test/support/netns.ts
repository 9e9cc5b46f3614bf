/*
 * Throw-away network namespaces for tests that attach XDP programs: the
 * host's interfaces are never touched. Code that must run inside the
 * namespace runs in a child process started with
 * `nsenter --net=/run/netns/NAME`, not `ip netns exec`, which mounts a
 * private /sys and so hides the host's bpffs (PLATFORM.md). Under nsenter
 * /sys/class/net still shows the host's interfaces: resolve names with
 * ifindexOf (if_nametoindex answers for the caller's namespace).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';

export const BPFFS = '/sys/fs/bpf';

/* Test files run in parallel: serialize the check-and-mount (flock on
 * /sys/fs), since a second bpffs mounted over the first would hide its pins. */
export function mountBpffs(): void {
  execFileSync('flock', ['/sys/fs', 'sh', '-c', `[ "$(stat -f -c %T ${BPFFS})" = bpf_fs ] || mount -t bpf bpf ${BPFFS}`]);
}

export function netnsExists(name: string): boolean {
  return fs.existsSync(`/run/netns/${name}`);
}

/** A new namespace holding one veth pair, both ends up, no addresses, no routes. */
export function createNetnsWithVeth(name: string, a: string, b: string): void {
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  execFileSync('ip', ['-n', name, 'link', 'set', a, 'up']);
  execFileSync('ip', ['-n', name, 'link', 'set', b, 'up']);
}

/** Delete the namespace (and with it its veths and their XDP programs); quiet if it is gone. */
export function deleteNetns(name: string): void {
  if (netnsExists(name)) spawnSync('ip', ['netns', 'del', name]);
}

export interface ChildRun<T> {
  ok?: T;
  error?: { code?: string; errno?: number; message: string };
}

/**
 * Run `node script` inside the namespace with extra environment and parse the
 * last stdout line as a ChildRun. Throws (with stderr) if the child crashed,
 * printed no JSON or reported an error.
 */
export function runNodeInNetns<T>(netns: string, script: string, env: Record<string, string>, timeoutMs = 15_000): T {
  const res = spawnSync('nsenter', [`--net=/run/netns/${netns}`, process.execPath, script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
  });
  const last = (res.stdout ?? '').trim().split('\n').pop() ?? '';
  let parsed: ChildRun<T> | undefined;
  try {
    parsed = JSON.parse(last) as ChildRun<T>;
  } catch {
    parsed = undefined;
  }
  if (parsed?.ok !== undefined && res.status === 0) return parsed.ok;
  const why = parsed?.error
    ? `${parsed.error.code ?? 'error'}: ${parsed.error.message}`
    : `exit ${res.status ?? res.signal ?? res.error?.message}`;
  throw new Error(`child in netns ${netns} failed (${why})\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
}

/** Child side: print fn()'s result (or its error) as the one JSON line runNodeInNetns reads. */
export function reportToParent(fn: () => unknown): void {
  try {
    process.stdout.write(`${JSON.stringify({ ok: fn() ?? null })}\n`);
  } catch (err) {
    const e = err as { code?: unknown; errno?: unknown; message?: unknown; stack?: unknown };
    const error = {
      ...(typeof e?.code === 'string' ? { code: e.code } : {}),
      ...(typeof e?.errno === 'number' ? { errno: e.errno } : {}),
      message: String(e?.stack ?? e?.message ?? err),
    };
    process.stdout.write(`${JSON.stringify({ error })}\n`);
    process.exitCode = 1;
  }
}
