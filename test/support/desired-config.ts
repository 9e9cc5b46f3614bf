/*
 * DesiredStates for tests, built the way the agent builds them: a plain
 * config object, turned into YAML and through parseConfig.
 */
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import type { DesiredState } from '../../src/model/desired-state.js';

export interface TestBackend {
  address: string;
  port?: number;
  weight?: number;
  state?: 'active' | 'draining' | 'disabled';
}

export interface TestService {
  name: string;
  vip: string;
  port?: number;
  protocol?: 'tcp' | 'udp';
  scheduler?: 'round_robin' | 'weighted_round_robin' | 'maglev' | 'source_hash';
  backends: TestBackend[];
}

export interface TestConfig {
  interface?: string;
  vip_announce?: 'arp' | 'none';
  snat?: { addresses: string[]; ports?: string; reuse_after?: string };
  services: TestService[];
  [key: string]: unknown;
}

export function configText(config: TestConfig): string {
  return stringify({
    version: 1,
    interface: 'eth0',
    snat: { addresses: ['198.18.0.5'], ports: '10000-32767' },
    ...config,
    services: config.services.map((s) => ({ port: 80, ...s, backends: s.backends.map((b) => ({ port: 80, ...b })) })),
  });
}

export function desiredState(config: TestConfig): DesiredState {
  const result = parseConfig(configText(config), 'test.yaml', { localPortRange: [32768, 60999] });
  if (!result.ok) throw new Error(`test config is invalid:\n${result.issues.map((i) => `${i.path}: ${i.message}`).join('\n')}`);
  return result.state;
}
