/*
 * The `type: tcp` health probe: a TCP connect from the host's own stack
 * (DESIGN.md §2). Success is the handshake completing; the socket is closed
 * at once, nothing is sent.
 */
import net from 'node:net';
import { attemptProbe, type ProbeEndpoint, type ProbeEnv, type ProbeResult } from './probe-attempt.js';

export function probeTcp(endpoint: ProbeEndpoint, env: ProbeEnv): Promise<ProbeResult> {
  return attemptProbe(endpoint, env, (settle) => {
    // An address literal: no DNS lookup.
    const socket = net.connect({ host: endpoint.address, port: endpoint.port });
    socket.once('connect', () => settle(true));
    // `on`, not `once`: an error after the first would otherwise be unhandled and crash the agent.
    socket.on('error', (error) => settle(false, error.message));
    return socket;
  });
}
