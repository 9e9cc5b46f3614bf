/*
 * The metric families read at scrape time: every service and backend with
 * its traffic, state and flows, the datapath's drop and pass counters, the
 * attachment, conntrack and SNAT fill, the live config. Each family turns
 * the scrape's DatapathSample into series (sampled-family.ts); the sample is
 * read by the caller's `sample`, once per scrape. README.md "Metrics" lists
 * them with their labels.
 */
import type { Registry } from 'prom-client';
import type { DatapathSample } from './datapath-sample.js';
import { DIRECTIONS, METRIC_PREFIX as P, counterLabel, sampleValue } from './metric-names.js';
import { SampledCounter, SampledGauge, type Series } from './sampled-family.js';

type Labels<N extends string> = Partial<Record<N, string>>;

/** `sample`: the scrape's sample, undefined while there is no datapath (every family is then empty). */
export function registerStateFamilies(registry: Registry, sample: () => DatapathSample | undefined): void {
  /** A family of series from the scrape's sample; `fill` calls `put` once per series. */
  const sampled = <N extends string>(
    Family: typeof SampledGauge | typeof SampledCounter,
    name: string,
    help: string,
    labelNames: readonly N[],
    fill: (s: DatapathSample, put: (labels: Labels<N>, value: number | bigint) => void) => void,
  ): void => {
    new Family<N>({
      name: P + name,
      help,
      labelNames,
      registers: [registry],
      series: () => {
        const current = sample();
        const out: Series<N>[] = [];
        if (current !== undefined) fill(current, (labels, value) => out.push({ labels, value: sampleValue(value) }));
        return out;
      },
    });
  };
  const gauge = <N extends string>(name: string, help: string, labelNames: readonly N[], fill: Parameters<typeof sampled<N>>[4]): void =>
    sampled(SampledGauge, name, help, labelNames, fill);
  const counter = <N extends string>(name: string, help: string, labelNames: readonly N[], fill: Parameters<typeof sampled<N>>[4]): void =>
    sampled(SampledCounter, name, help, labelNames, fill);

  // ---- services
  gauge('service_info', 'A configured service (always 1), with its VIP, port, protocol and scheduler.', ['service', 'vip', 'port', 'protocol', 'scheduler'], (s, put) => {
    for (const v of s.services) put({ service: v.name, vip: v.vip, port: String(v.port), protocol: v.protocol, scheduler: v.scheduler }, 1);
  });
  counter('service_packets_total', 'Packets forwarded for a service; direction in: client to backend, out: backend to client.', ['service', 'direction'], (s, put) => {
    for (const v of s.services) {
      put({ service: v.name, direction: DIRECTIONS[0] }, v.traffic.packetsIn);
      put({ service: v.name, direction: DIRECTIONS[1] }, v.traffic.packetsOut);
    }
  });
  counter('service_bytes_total', 'Bytes (Ethernet frames as the datapath sees them) forwarded for a service, by direction.', ['service', 'direction'], (s, put) => {
    for (const v of s.services) {
      put({ service: v.name, direction: DIRECTIONS[0] }, v.traffic.bytesIn);
      put({ service: v.name, direction: DIRECTIONS[1] }, v.traffic.bytesOut);
    }
  });
  counter('service_new_flows_total', 'Flows created for a service (a TCP SYN or a UDP datagram without a conntrack entry).', ['service'], (s, put) => {
    for (const v of s.services) put({ service: v.name }, v.traffic.newFlows);
  });
  gauge('service_active_connections', 'Flows of a service in conntrack at the last GC pass.', ['service'], (s, put) => {
    for (const v of s.services) if (v.activeConnections !== undefined) put({ service: v.name }, v.activeConnections);
  });

  // ---- backends
  counter('backend_packets_total', 'Packets forwarded to (in) and from (out) a backend.', ['service', 'backend', 'direction'], (s, put) => {
    for (const b of s.backends) {
      put({ service: b.service, backend: b.backend, direction: DIRECTIONS[0] }, b.traffic.packetsIn);
      put({ service: b.service, backend: b.backend, direction: DIRECTIONS[1] }, b.traffic.packetsOut);
    }
  });
  counter('backend_bytes_total', 'Bytes (Ethernet frames) forwarded to (in) and from (out) a backend.', ['service', 'backend', 'direction'], (s, put) => {
    for (const b of s.backends) {
      put({ service: b.service, backend: b.backend, direction: DIRECTIONS[0] }, b.traffic.bytesIn);
      put({ service: b.service, backend: b.backend, direction: DIRECTIONS[1] }, b.traffic.bytesOut);
    }
  });
  counter('backend_new_flows_total', 'Flows the scheduler gave a backend.', ['service', 'backend'], (s, put) => {
    for (const b of s.backends) put({ service: b.service, backend: b.backend }, b.traffic.newFlows);
  });
  gauge('backend_active_connections', 'Flows of a backend in conntrack at the last GC pass.', ['service', 'backend'], (s, put) => {
    for (const b of s.backends) if (b.activeConnections !== undefined) put({ service: b.service, backend: b.backend }, b.activeConnections);
  });
  // One series per backend, labelled with its current state (not one per possible state: at 16,000
  // backends that would be 112,000 series of zeroes); a change ends the old series and starts a new one.
  gauge('backend_health', 'Health-check state of a backend (always 1): healthy, unhealthy, unknown (not probed yet), unchecked (no health check).', ['service', 'backend', 'state'], (s, put) => {
    for (const b of s.backends) put({ service: b.service, backend: b.backend, state: b.health }, 1);
  });
  gauge('backend_mac_resolved', "1 when the backend's next hop has a MAC the datapath uses, else 0 (it then takes no new flows).", ['service', 'backend'], (s, put) => {
    for (const b of s.backends) put({ service: b.service, backend: b.backend }, b.resolved ? 1 : 0);
  });
  gauge('backend_weight', 'Configured weight of a backend (0 takes no new flows).', ['service', 'backend'], (s, put) => {
    for (const b of s.backends) put({ service: b.service, backend: b.backend }, b.weight);
  });
  gauge('backend_admin_state', 'Configured state of a backend (always 1): active, draining or disabled.', ['service', 'backend', 'state'], (s, put) => {
    for (const b of s.backends) put({ service: b.service, backend: b.backend, state: b.admin }, 1);
  });

  // ---- datapath counters (lb_counters)
  for (const verdict of ['dropped', 'passed'] as const) {
    const what = verdict === 'dropped' ? 'Packets for a VIP or SNAT address the datapath dropped' : 'Packets for a VIP or SNAT address the datapath passed to the host stack untouched';
    counter(`packets_${verdict}_total`, `${what}, by reason.`, ['reason'], (s, put) => {
      for (const [name, value] of Object.entries(s.counters)) {
        const label = counterLabel(name);
        if (label.verdict === verdict) put({ reason: label.reason }, value);
      }
    });
  }
  gauge('datapath_info', 'The attached XDP program (always 1): interface, mode in use (native, generic; none when detached), configured mode, program id.', ['interface', 'mode', 'configured_mode', 'program_id'], (s, put) => {
    put({ interface: s.xdp.interface, mode: s.xdp.mode, configured_mode: s.xdp.configuredMode, program_id: String(s.xdp.programId) }, 1);
  });

  gauge('config_info', 'The live config (always 1): hash is a digest of the normalized config, equal on every balancer running the same config.', ['hash'], (s, put) => {
    if (s.configDigest !== undefined) put({ hash: s.configDigest }, 1);
  });

  // ---- conntrack and SNAT
  gauge('conntrack_entries', 'Flows in conntrack (lb_ct) at the last GC pass.', [], (s, put) => {
    if (s.lastGcPass) put({}, s.lastGcPass.entries);
  });
  gauge('conntrack_capacity', 'Flows conntrack can hold (conntrack.max_entries).', [], (s, put) => put({}, s.conntrackCapacity));
  gauge('snat_ports_in_use', 'SNAT tuples in use per SNAT address at the last GC pass.', ['address'], (s, put) => {
    for (const [address, count] of s.lastGcPass?.snatInUse ?? []) put({ address }, count);
  });
  gauge('snat_pool_ports', 'Ports in the SNAT pool (snat.ports): each SNAT address has them towards each backend.', [], (s, put) => put({}, s.snatPoolPorts));
}
