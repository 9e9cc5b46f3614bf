/*
 * A classic Full-NAT segment built from network namespaces, for the demo
 * and the end-to-end tests: one "switch" namespace holding a bridge, and one
 * namespace per host (clients, the balancer, real servers), each with an
 * `eth0` whose peer is a bridge port. Addresses come from 198.18.0.0/24;
 * namespaces get only their connected route (no way out).
 *
 * Native XDP on the balancer needs an XDP program on its peer to deliver
 * XDP_TX frames (PLATFORM.md): an XDP_PASS program is attached there.
 * Endpoints have TX checksum offload off, so a wrong checksum written by
 * the datapath shows as a bad checksum at the receiver instead of being
 * "fixed" by offload. Neighbour tables start empty. destroy() removes it all.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/* An XDP program that passes everything (bench/bpf/bench_baselines.bpf.c). */
const XDP_PASS_OBJECT = fileURLToPath(new URL('../../build/bpf/bench_baselines.bpf.o', import.meta.url));
const XDP_PASS_PROGRAM = 'bench_empty';

export type XdpMode = 'native' | 'generic';

export interface TopologyHost {
  /** Short name, e.g. "lb", "c1", "rs1" (at most 8 characters). */
  readonly name: string;
  /** Address on 198.18.0.0/24. */
  readonly address: string;
}

function run(cmd: string, args: readonly string[]): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${res.status}: ${res.stderr || res.error?.message}`);
  return res.stdout;
}

export class Topology {
  private readonly children = new Set<ChildProcess>();

  private constructor(
    readonly prefix: string,
    readonly hosts: readonly TopologyHost[],
  ) {}

  /**
   * `prefix` names every namespace (`${prefix}-sw`, `${prefix}-${host}`):
   * keep it unique per test file. The balancer's peer gets an XDP_PASS
   * program when `balancer` names it and mode is native.
   */
  static create(prefix: string, hosts: readonly TopologyHost[], opts: { balancer?: string; mode?: XdpMode } = {}): Topology {
    const topo = new Topology(prefix, hosts);
    try {
      const sw = topo.switchNs;
      run('ip', ['netns', 'add', sw]);
      run('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
      run('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
      for (const host of hosts) {
        const ns = topo.ns(host.name);
        const port = `p-${host.name}`;
        run('ip', ['netns', 'add', ns]);
        run('ip', ['-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
        run('ip', ['-n', sw, 'link', 'set', port, 'master', 'br0', 'up']);
        run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
        run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
        run('ip', ['-n', ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
        run('ip', ['-n', ns, 'neigh', 'flush', 'all']);
        run('ip', ['netns', 'exec', ns, 'ethtool', '-K', 'eth0', 'tx', 'off']);
        if (host.name === opts.balancer && opts.mode === 'native') {
          run('ip', ['-n', sw, 'link', 'set', 'dev', port, 'xdpdrv', 'obj', XDP_PASS_OBJECT, 'sec', 'xdp', 'program', XDP_PASS_PROGRAM]);
        }
      }
    } catch (err) {
      topo.destroy();
      throw err;
    }
    return topo;
  }

  get switchNs(): string {
    return `${this.prefix}-sw`;
  }

  ns(host: string): string {
    return `${this.prefix}-${host}`;
  }

  host(name: string): TopologyHost {
    const host = this.hosts.find((h) => h.name === name);
    if (!host) throw new Error(`no host ${name} in ${this.prefix}`);
    return host;
  }

  /** `ip -n NS ARGS...` in a host's namespace; its stdout. */
  ip(host: string, ...args: string[]): string {
    return run('ip', ['-n', this.ns(host), ...args]);
  }

  /**
   * A long-running command inside a host's namespace (with the host's
   * bpffs: nsenter, not `ip netns exec`). Killed by destroy() at the latest.
   */
  spawn(host: string, cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = spawn('nsenter', [`--net=/run/netns/${this.ns(host)}`, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** A command inside a host's namespace, to completion. */
  exec(host: string, cmd: string, args: readonly string[], timeoutMs = 30_000): { status: number | null; stdout: string; stderr: string } {
    const res = spawnSync('nsenter', [`--net=/run/netns/${this.ns(host)}`, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });
    return { status: res.status, stdout: res.stdout, stderr: res.stderr };
  }

  /** Kill what runs in it and delete every namespace (with their veths); quiet about what is gone already. */
  destroy(): void {
    for (const child of this.children) child.kill('SIGKILL');
    for (const ns of [...this.hosts.map((h) => this.ns(h.name)), this.switchNs]) {
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    }
  }
}
