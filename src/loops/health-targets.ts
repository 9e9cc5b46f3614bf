/*
 * What the health checker probes, derived from a DesiredState: one target
 * per (service, backend) of every service with a health_check (DESIGN.md
 * §2). Pure, so a reload's targets can be computed and compared without I/O.
 *
 * Backends of every admin state are checked, not only active ones: a
 * draining or disabled backend that is enabled again then takes flows at
 * once if it is healthy, instead of waiting for a first probe. A backend in
 * two services is two targets: each service has its own check settings.
 */
import type { BackendId, DesiredState, HealthCheckState, ServiceId } from '../model/desired-state.js';
import type { ProbeSpec } from './probe-backend.js';

export type HealthTarget = ProbeSpec & {
  /** healthKey(serviceId, backendId): the target's identity across reloads. */
  readonly key: string;
  readonly serviceId: ServiceId;
  readonly backendId: BackendId;
  readonly intervalMs: number;
  readonly rise: number;
  readonly fall: number;
};

export function healthKey(service: ServiceId, backend: BackendId): string {
  return `${service}|${backend}`;
}

/** In the state's order: services by id, then backends by id. */
export function healthTargets(state: DesiredState): HealthTarget[] {
  return state.services.flatMap((service) => {
    const check = service.healthCheck;
    if (check === undefined) return [];
    const kind = probeKind(check);
    return service.backends.map((backend) => ({
      ...kind,
      key: healthKey(service.id, backend.id),
      serviceId: service.id,
      backendId: backend.id,
      address: backend.address,
      port: check.port ?? backend.port,
      timeoutMs: check.timeoutMs,
      intervalMs: check.intervalMs,
      rise: check.rise,
      fall: check.fall,
    }));
  });
}

function probeKind(check: HealthCheckState): { type: 'tcp' } | { type: 'http'; path: string; expectStatus: number } {
  if (check.type === 'tcp') return { type: 'tcp' };
  // The model fills both for http (DesiredState is built only from validated config).
  if (check.path === null || check.expectStatus === null) throw new Error('internal: http health check without path or expect_status');
  return { type: 'http', path: check.path, expectStatus: check.expectStatus };
}
