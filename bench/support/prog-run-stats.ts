/*
 * The time the kernel spends in one BPF program: with
 * kernel.bpf_stats_enabled on, every program counts its runs and their
 * nanoseconds (bpftool prog show: run_cnt, run_time_ns). The sysctl is
 * global and costs two clock reads per run, so it is on only while a
 * benchmark measures, and put back as it was.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { Topology } from '../../demo/topology.js';

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

export interface ProgRunStats {
  runs: number;
  ns: number;
}

/** Turns program run statistics on; returns what puts the setting back as it was (idempotent, for both a finally and a signal handler). */
export function enableBpfStats(): () => void {
  const previous = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
  fs.writeFileSync(STATS_SYSCTL, '1');
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    fs.writeFileSync(STATS_SYSCTL, previous);
  };
}

/** The id of the XDP program attached to a host's eth0. */
export function xdpProgramId(topo: Topology, host: string): number {
  const [link] = JSON.parse(topo.ip(host, '-j', 'link', 'show', 'dev', 'eth0')) as { xdp?: { prog?: { id: number } } }[];
  const id = link?.xdp?.prog?.id;
  if (id === undefined) throw new Error(`no XDP program on ${host}'s eth0`);
  return id;
}

export function progRunStats(id: number): ProgRunStats {
  const prog = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'id', String(id)], { encoding: 'utf8' })) as { run_cnt?: number; run_time_ns?: number };
  return { runs: prog.run_cnt ?? 0, ns: prog.run_time_ns ?? 0 };
}
