/*
 * The status view for a terminal, in the spirit of `ipvsadm -Ln --stats`:
 * a few header lines (datapath, agent, conntrack, SNAT), one row per service
 * and under it one row per backend, then the global counters. Columns are
 * aligned, numbers carry units. With rates (status --watch) the traffic
 * columns are per second instead of totals. Pure: a Snapshot in, text out.
 */
import { COUNTER_NAMES } from '../datapath/codecs.js';
import type { Rates, TrafficRate } from './rates.js';
import type { AgentStatus, BackendStatus, ServiceStatus, Snapshot, Traffic } from './snapshot.js';
import { alignColumns, type Align } from './text-table.js';
import { formatBitRate, formatBytes, formatCount, formatDuration, formatRate } from './units.js';

const TOTAL_HEADER = ['InPkts', 'OutPkts', 'InBytes', 'OutBytes', 'NewFlows'];
const RATE_HEADER = ['InPPS', 'OutPPS', 'InBPS', 'OutBPS', 'Flows/s'];
const HEADER = ['Service / Backend', 'Prot', 'Sched / State', 'Health', 'MAC', 'Weight', 'Conns'];
const ALIGN: Align[] = ['left', 'left', 'left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'];

const RESOLUTION_TEXT: Readonly<Record<string, string>> = {
  pending: 'not yet resolved',
  no_route: 'unresolved: no route',
  other_iface: 'unresolved: other interface',
  no_answer: 'unresolved: no ARP answer',
};

function trafficCells(traffic: Traffic): string[] {
  return [formatCount(traffic.packetsIn), formatCount(traffic.packetsOut), formatBytes(traffic.bytesIn), formatBytes(traffic.bytesOut), formatCount(traffic.newFlows)];
}

function rateCells(rate: TrafficRate | undefined): string[] {
  if (rate === undefined) return ['-', '-', '-', '-', '-'];
  return [formatRate(rate.packetsInPerSec), formatRate(rate.packetsOutPerSec), formatBitRate(rate.bitsInPerSec), formatBitRate(rate.bitsOutPerSec), formatRate(rate.newFlowsPerSec)];
}

/** lb_neigh's MAC when the backend is resolved; otherwise why not. */
function macCell(b: BackendStatus): string {
  if (b.resolution === undefined || b.resolution === 'resolved') return b.mac ?? '-';
  return RESOLUTION_TEXT[b.resolution] ?? b.resolution;
}

function serviceRow(s: ServiceStatus, rates: Rates | undefined): string[] {
  const conns = s.backends.some((b) => b.activeConns !== undefined) ? String(s.backends.reduce((n, b) => n + (b.activeConns ?? 0), 0)) : '-';
  const traffic = rates ? rateCells(rates.services.get(s.id)) : trafficCells(s.traffic);
  return [`${s.name} ${s.vip}:${s.port}`, s.protocol.toUpperCase(), s.scheduler, '', '', '', conns, ...traffic];
}

function backendRow(b: BackendStatus, rates: Rates | undefined): string[] {
  const traffic = rates ? rateCells(rates.backends.get(b.id)) : trafficCells(b.traffic);
  return [`  -> ${b.address}:${b.port}`, '', b.admin, b.health ?? '?', macCell(b), String(b.weight), b.activeConns === undefined ? '-' : String(b.activeConns), ...traffic];
}

function ago(snapshot: Snapshot, ns: bigint): string {
  return `${formatDuration(snapshot.takenAtNs - ns)} ago`;
}

function agentLine(snapshot: Snapshot, agent: AgentStatus | undefined): string {
  if (agent === undefined) return 'no agent record (no agent of this version has run on these pins)';
  const reload = agent.lastReload;
  const reloadText = reload ? `last reload ${reload.result} ${ago(snapshot, reload.atNs)} (${reload.operations} operation${reload.operations === 1 ? '' : 's'})` : 'no reload yet';
  const config = agent.configDigest ? `; config ${agent.configDigest}` : '';
  if (agent.running) return `running, pid ${agent.pid}, up ${formatDuration(snapshot.takenAtNs - agent.startedNs)}; ${reloadText}${config}`;
  const lastSeen = [agent.startedNs, reload?.atNs ?? 0n, agent.gc?.atNs ?? 0n].reduce((a, b) => (b > a ? b : a));
  return `NOT RUNNING (pid ${agent.pid} is gone; its records are from ${ago(snapshot, lastSeen)}); the datapath keeps forwarding; ${reloadText}${config}`;
}

function conntrackLine(snapshot: Snapshot): string {
  const { entries, capacity, counted } = snapshot.conntrack;
  const fill = capacity > 0 ? ` (${((entries / capacity) * 100).toFixed(1)}%)` : '';
  const source = counted === 'gc-record' ? ' at the last GC pass' : '';
  const gc = snapshot.agent?.gc;
  const gcText = gc
    ? `; last GC ${ago(snapshot, gc.atNs)}: ${gc.scanned} scanned, ${gc.expired} expired, ${gc.removed} removed otherwise, in ${formatDuration(gc.durationNs)}`
    : '';
  return `${entries} of ${capacity} entries${fill}${source}${gcText}`;
}

function snatLine(snapshot: Snapshot): string {
  const { snatAddresses, snatPorts, snatInUse, counted } = snapshot.conntrack;
  if (snatAddresses.length === 0 && snatInUse.size === 0) return 'no pool';
  const addresses = [...new Set([...snatAddresses, ...snatInUse.keys()])];
  const use = counted === 'scan' ? addresses.map((a) => `${a} ${snatInUse.get(a) ?? 0} in use`) : addresses;
  return `${use.join(', ')}${snatPorts ? `; ports ${snatPorts.min}-${snatPorts.max} per address and backend` : ''}`;
}

function counterLines(snapshot: Snapshot, rates: Rates | undefined): string[][] {
  const cell = (name: string): string => {
    const total = formatCount(snapshot.counters[name] ?? 0n);
    const rate = rates?.counters[name];
    return rate === undefined ? total : `${total} (${formatRate(rate)}/s)`;
  };
  const drops = COUNTER_NAMES.filter((n) => n.startsWith('drop_'));
  const passes = COUNTER_NAMES.filter((n) => n.startsWith('pass_'));
  return [
    ['drops', drops.map((n) => `${n.slice('drop_'.length)} ${cell(n)}`).join(', ')],
    ['passed', passes.map((n) => `${n.slice('pass_'.length)} ${cell(n)}`).join(', ')],
  ];
}

export function formatStatusTable(snapshot: Snapshot, rates?: Rates): string {
  const dp = snapshot.datapath;
  const header = [
    ['datapath', dp ? `${dp.interface} (ifindex ${dp.ifindex}), ${dp.attachedMode} XDP${dp.xdpMode === 'auto' ? ' (auto)' : ''}` : 'no attachment record'],
    ['agent', agentLine(snapshot, snapshot.agent)],
    ['conntrack', conntrackLine(snapshot)],
    ['snat', snatLine(snapshot)],
  ];
  const lines = alignColumns(header, ['left', 'left']);
  lines.push('');
  if (snapshot.services.length === 0) {
    lines.push('no services');
  } else {
    const rows = [[...HEADER, ...(rates ? RATE_HEADER : TOTAL_HEADER)]];
    for (const service of snapshot.services) {
      rows.push(serviceRow(service, rates));
      for (const backend of service.backends) rows.push(backendRow(backend, rates));
    }
    lines.push(...alignColumns(rows, ALIGN));
  }
  lines.push('');
  lines.push(...alignColumns(counterLines(snapshot, rates), ['left', 'left']));
  if (rates) lines.push(`rates over the last ${rates.intervalSec.toFixed(1)}s`);
  return `${lines.join('\n')}\n`;
}
