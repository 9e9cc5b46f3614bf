/**
 * The config data once it has passed the schema, with the schema's defaults
 * filled in: the YAML's own names and shapes (snake_case, durations as
 * text). Only build-desired-state.ts reads it typed this way; everything
 * downstream uses the normalized DesiredState.
 */
import type { BackendAdminState, LogLevel, Protocol, SchedulerName, VipAnnounce, XdpMode } from '../model/desired-state.js';

export interface RawBackend {
  address: string;
  /** Absent: the service's port. */
  port?: number;
  weight: number;
  state: BackendAdminState;
}

export interface RawHealthCheck {
  type: 'tcp' | 'http' | 'none';
  /** Absent: each backend's port. */
  port?: number;
  interval: string;
  timeout: string;
  rise: number;
  fall: number;
  /** Present (defaulted) for http. */
  path?: string;
  expect_status?: number;
}

export interface RawService {
  name: string;
  vip: string;
  port: number;
  protocol: Protocol;
  scheduler: SchedulerName;
  backends: RawBackend[];
  health_check?: RawHealthCheck;
}

export interface RawConfig {
  version: 1;
  interface: string;
  xdp_mode: XdpMode;
  vip_announce: VipAnnounce;
  snat: { addresses: string[]; ports: string; reuse_after: string };
  services: RawService[];
  conntrack: {
    max_entries: number;
    timeouts: { tcp_syn: string; tcp_established: string; tcp_closing: string; udp: string };
    gc_interval: string;
  };
  neighbors: { refresh_interval: string };
  metrics: { listen: string };
  log: { level: LogLevel };
}
