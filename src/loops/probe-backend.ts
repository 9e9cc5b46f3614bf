/*
 * The probe the health checker runs by default: a TCP connect or an HTTP GET,
 * as the target's type says. `Probe` is the seam of the checker: unit tests
 * put a fake in place of real sockets.
 */
import type { ProbeEndpoint, ProbeEnv, ProbeResult } from './probe-attempt.js';
import { probeHttp, type HttpProbeSpec } from './probe-http.js';
import { probeTcp } from './probe-tcp.js';

export type ProbeSpec = ({ readonly type: 'tcp' } & ProbeEndpoint) | ({ readonly type: 'http' } & HttpProbeSpec);

export type Probe = (spec: ProbeSpec, env: ProbeEnv) => Promise<ProbeResult>;

export const probeBackend: Probe = (spec, env) => (spec.type === 'http' ? probeHttp(spec, env) : probeTcp(spec, env));
