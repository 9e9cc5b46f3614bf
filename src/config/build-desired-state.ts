/**
 * RawConfig (valid, defaulted) -> DesiredState (normalized, frozen): the
 * derived defaults the schema cannot state (a backend's port is the
 * service's), durations in ms, identities, and a canonical order.
 * Pure.
 */
import { compareIpv4 } from '../model/ipv4.js';
import { deepFreeze } from '../model/deep-freeze.js';
import {
  backendId,
  compareBackendIds,
  compareServiceIds,
  serviceId,
  type BackendState,
  type DesiredState,
  type HealthCheckState,
  type ServiceState,
} from '../model/desired-state.js';
import { parseDuration } from './parse-duration.js';
import { parseListenAddress } from './parse-listen-address.js';
import { parsePortRange } from './parse-port-range.js';
import type { RawConfig, RawHealthCheck, RawService } from './raw-config.js';

/** Only called on validated data: a shape problem here is a bug, not a user error. */
function ms(text: string): number {
  const value = parseDuration(text);
  if (value === undefined) throw new Error(`internal: not a duration after validation: ${JSON.stringify(text)}`);
  return value;
}

function buildHealthCheck(raw: RawHealthCheck | undefined): HealthCheckState | undefined {
  if (raw === undefined || raw.type === 'none') return undefined;
  const http = raw.type === 'http';
  return {
    type: raw.type,
    port: raw.port ?? null,
    intervalMs: ms(raw.interval),
    timeoutMs: ms(raw.timeout),
    rise: raw.rise,
    fall: raw.fall,
    path: http ? (raw.path ?? '/') : null,
    expectStatus: http ? (raw.expect_status ?? 200) : null,
  };
}

function buildService(raw: RawService): ServiceState {
  const backends: BackendState[] = raw.backends
    .map((b) => {
      const port = b.port ?? raw.port;
      return { id: backendId(b.address, port), address: b.address, port, weight: b.weight, state: b.state };
    })
    .sort((a, b) => compareBackendIds(a.id, b.id));
  const service: ServiceState = {
    id: serviceId(raw.vip, raw.port, raw.protocol),
    name: raw.name,
    vip: raw.vip,
    port: raw.port,
    protocol: raw.protocol,
    scheduler: raw.scheduler,
    backends,
  };
  const healthCheck = buildHealthCheck(raw.health_check);
  return healthCheck === undefined ? service : { ...service, healthCheck };
}

export function buildDesiredState(raw: RawConfig): DesiredState {
  const ports = parsePortRange(raw.snat.ports);
  const listen = parseListenAddress(raw.metrics.listen);
  if (ports === undefined || 'problem' in listen) throw new Error('internal: buildDesiredState called on unvalidated config');
  const t = raw.conntrack.timeouts;
  return deepFreeze({
    interface: raw.interface,
    xdpMode: raw.xdp_mode,
    vipAnnounce: raw.vip_announce,
    snat: {
      addresses: [...raw.snat.addresses].sort(compareIpv4),
      portMin: ports.low,
      portMax: ports.high,
      reuseAfterMs: ms(raw.snat.reuse_after),
    },
    services: raw.services.map(buildService).sort((a, b) => compareServiceIds(a.id, b.id)),
    conntrack: {
      maxEntries: raw.conntrack.max_entries,
      timeouts: {
        tcpSynMs: ms(t.tcp_syn),
        tcpEstablishedMs: ms(t.tcp_established),
        tcpClosingMs: ms(t.tcp_closing),
        udpMs: ms(t.udp),
      },
      gcIntervalMs: ms(raw.conntrack.gc_interval),
    },
    neighbors: { refreshIntervalMs: ms(raw.neighbors.refresh_interval) },
    metrics: { listen: raw.metrics.listen, host: listen.host, port: listen.port },
    log: { level: raw.log.level },
  });
}
