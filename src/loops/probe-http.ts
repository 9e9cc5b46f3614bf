/*
 * The `type: http` health probe: a GET of `path` from the host's own stack,
 * healthy when the status is exactly `expect_status` (DESIGN.md §2). One
 * connection per probe (no keep-alive agent): a probe must find out whether
 * the backend accepts connections now, not reuse one it accepted earlier.
 * The deadline covers connect, request and the whole response; the body is
 * read and thrown away, so a backend is not left writing into a full socket.
 */
import http from 'node:http';
import { attemptProbe, type ProbeEndpoint, type ProbeEnv, type ProbeResult } from './probe-attempt.js';

export interface HttpProbeSpec extends ProbeEndpoint {
  readonly path: string;
  readonly expectStatus: number;
}

export function probeHttp(spec: HttpProbeSpec, env: ProbeEnv): Promise<ProbeResult> {
  return attemptProbe(spec, env, (settle) => {
    const request = http.get(
      {
        host: spec.address,
        port: spec.port,
        path: spec.path,
        agent: false,
        headers: { connection: 'close', 'user-agent': 'xdp4slb-health-check' },
      },
      (response) => {
        // Errors after settle (the socket destroyed mid-body) land here too, and are ignored there.
        response.on('error', (error) => settle(false, error.message));
        if (response.statusCode !== spec.expectStatus) {
          settle(false, `HTTP ${response.statusCode}, expected ${spec.expectStatus}`);
          return;
        }
        response.once('end', () => settle(true));
        response.resume();
      },
    );
    request.on('error', (error) => settle(false, error.message));
    return request;
  });
}
