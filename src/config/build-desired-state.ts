/**
 * RawConfig (valid, defaulted) -> DesiredState (normalized, frozen): the
 * derived defaults the schema cannot state (a backend's port is the
 * service's), durations in ms, identities, and a canonical order.
 * Pure.
 */
import { compareIpv4, ipv4ToNumber } from '../model/ipv4.js';
import { deepFreeze } from '../model/deep-freeze.js';
import {
  backendId,
  serviceId,
  type Protocol,
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

function address(text: string): number {
  const value = ipv4ToNumber(text);
  if (value === undefined) throw new Error(`internal: not an IPv4 address after validation: ${JSON.stringify(text)}`);
  return value;
}

/**
 * Sort keys in the order of compareServiceIds and compareBackendIds
 * (address numerically, then port, then protocol), as one exact number
 * (below 2^49): computed once per entry, where those comparators parse both
 * ids on every comparison, which a file of 16,000 backends feels.
 */
function serviceKey(vip: string, port: number, protocol: Protocol): number {
  return address(vip) * 2 ** 17 + port * 2 + (protocol === 'tcp' ? 0 : 1);
}

function backendKey(backendAddress: string, port: number): number {
  return address(backendAddress) * 2 ** 16 + port;
}

/** `items` (a fresh array) in key order; as given when already in order, which most files are. */
function sortByKey<T>(items: T[], key: (item: T) => number): T[] {
  const keys = items.map(key);
  let sorted = true;
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! <= keys[i]!;
  if (sorted) return items;
  return keys
    .map((k, i) => ({ item: items[i]!, key: k }))
    .sort((a, b) => a.key - b.key)
    .map(({ item }) => item);
}

function buildHealthCheck(raw: RawHealthCheck | undefined): HealthCheckState | undefined {
  if (raw === undefined || raw.type === 'none') return undefined;
  const http = raw.type === 'http';
  return Object.freeze({
    type: raw.type,
    port: raw.port ?? null,
    intervalMs: ms(raw.interval),
    timeoutMs: ms(raw.timeout),
    rise: raw.rise,
    fall: raw.fall,
    path: http ? (raw.path ?? '/') : null,
    expectStatus: http ? (raw.expect_status ?? 200) : null,
  });
}

/**
 * A service, frozen as it is made (the model's values are deeply frozen):
 * deepFreeze then passes over it, where walking its backends again costs
 * more than freezing each one as it is built, 16,000 in a large config.
 */
function buildService(raw: RawService): ServiceState {
  const backends: readonly BackendState[] = Object.freeze(
    sortByKey(
      raw.backends.map((b) => {
        const port = b.port ?? raw.port;
        return Object.freeze({ id: backendId(b.address, port), address: b.address, port, weight: b.weight, state: b.state });
      }),
      (b) => backendKey(b.address, b.port),
    ),
  );
  const id = serviceId(raw.vip, raw.port, raw.protocol);
  const { name, vip, port, protocol, scheduler } = raw;
  const healthCheck = buildHealthCheck(raw.health_check);
  return Object.freeze(
    healthCheck === undefined
      ? { id, name, vip, port, protocol, scheduler, backends }
      : { id, name, vip, port, protocol, scheduler, backends, healthCheck },
  );
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
    services: sortByKey(raw.services.map(buildService), (s) => serviceKey(s.vip, s.port, s.protocol)),
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
