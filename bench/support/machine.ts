/*
 * The machine a benchmark ran on, for the "Machine" table of its section
 * in BENCHMARKS.md: figures only compare across runs with this beside them.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { OBJECT_PATH } from '../../test/support/datapath-fixture.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
function sh(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export interface Machine {
  kernel: string;
  cpu: string;
  virtual: boolean;
  mitigations: string;
  nproc: string;
  memory: string;
  node: string;
  clang: string;
  libbpf: string;
  commit: string;
  objectSha: string;
  date: string;
}

export function machine(): Machine {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const field = (name: string): string | undefined => new RegExp(`^${name}\\s*:\\s*(.+)$`, 'm').exec(cpuinfo)?.[1]?.trim();
  const family = field('cpu family');
  const model = `${field('model name') ?? 'unknown'}${family ? ` (family ${family}, model ${field('model') ?? '?'})` : ''}`;
  const dirty = sh('git', ['-C', ROOT, 'status', '--porcelain', '--', 'bpf', 'bench/bpf']);
  const head = sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']) ?? 'unknown';
  return {
    kernel: os.release(),
    cpu: model,
    virtual: /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo),
    mitigations: ['spectre_v2', 'spec_rstack_overflow']
      .map((v) => {
        const f = `/sys/devices/system/cpu/vulnerabilities/${v}`;
        return `${v}: ${existsSync(f) ? readFileSync(f, 'utf8').trim() : 'unknown'}`;
      })
      .join('; '),
    nproc: sh('nproc', []) ?? String(os.cpus().length),
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    clang: sh('clang', ['--version'])?.split('\n')[0] ?? 'unknown',
    libbpf: sh('dpkg-query', ['-W', '-f=${Version}', 'libbpf1']) ?? 'unknown',
    commit: dirty ? `${head} (bpf/ has uncommitted changes)` : head,
    objectSha: createHash('sha256').update(readFileSync(OBJECT_PATH)).digest('hex').slice(0, 12),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}


export function machineTable(m: Machine, elapsedS: number): string {
  return `| | |
|---|---|
| kernel (\`uname -r\`) | ${m.kernel} |
| CPU | ${m.cpu} |
| virtual machine | ${m.virtual ? 'yes (hypervisor flag in /proc/cpuinfo)' : 'no'} |
| CPU mitigations (spectre_v2, SRSO) | ${m.mitigations} |
| \`nproc\` | ${m.nproc} |
| memory | ${m.memory} |
| Node | ${m.node} |
| clang | ${m.clang} |
| libbpf | ${m.libbpf} |
| commit | ${m.commit} |
| run | ${m.date}, ${Math.round(elapsedS)} s |`;
}
