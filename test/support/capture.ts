/*
 * A packet capture inside one host of a Topology: tcpdump on its eth0,
 * started through nsenter (Topology.spawn), writing whole packets to a pcap
 * file that stop() reads back and parses (test/support/pcap.ts). tcpdump
 * goes with the topology at the latest (Topology.destroy kills what it
 * spawned).
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../../demo/topology.js';
import { LINKTYPE_ETHERNET, parsePcap, type PcapRecord } from './pcap.js';

export class Capture {
  /** Packets the kernel dropped before tcpdump read them (its own count, known after stop()). */
  dropped = 0;

  private constructor(
    private readonly child: ChildProcess,
    readonly file: string,
    private readonly exited: Promise<void>,
    private readonly stderr: () => string,
  ) {}

  /**
   * Starts tcpdump on `host`'s eth0 with a pcap `filter` expression; resolves
   * once it says it is listening, so nothing sent afterwards is missed.
   */
  static async start(topo: Topology, host: string, dir: string, filter: string): Promise<Capture> {
    const file = path.join(dir, `${host}-${Date.now()}.pcap`);
    // --immediate-mode: without it the capture ring hands packets over in
    // blocks (or after a 1 s timeout) and SIGINT discards the block being
    // filled, so a short capture comes back empty. -U: each packet is written
    // out at once, so the file is whole when tcpdump ends.
    const child = topo.spawn(host, 'tcpdump', ['-i', 'eth0', '-nn', '--immediate-mode', '-U', '-s', '0', '-w', file, filter]);
    let stderr = '';
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcpdump on ${host} did not start: ${stderr}`)), 10_000);
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
        if (/listening on/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`tcpdump on ${host} exited (${code}): ${stderr}`));
      });
    });
    return new Capture(child, file, exited, () => stderr);
  }

  /** Stops tcpdump (SIGINT flushes it) and returns every Ethernet frame it captured. */
  async stop(): Promise<PcapRecord[]> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGINT');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(timer);
    }
    this.dropped = Number(/(\d+) packets? dropped by kernel/.exec(this.stderr())?.[1] ?? 0);
    const pcap = parsePcap(fs.readFileSync(this.file));
    if (pcap.linkType !== LINKTYPE_ETHERNET) throw new Error(`${this.file}: link type ${pcap.linkType}, expected Ethernet`);
    return pcap.records;
  }
}
