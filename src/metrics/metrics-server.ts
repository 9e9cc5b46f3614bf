/*
 * The HTTP endpoint Prometheus scrapes: GET /metrics on metrics.listen.
 * Serving metrics is never worth stopping the balancer for: when the
 * address cannot be bound (taken by another process, not local to the
 * host) the server logs one error event and stays closed; the agent goes
 * on balancing, and the next reload of the file tries again.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../agent/logger.js';

export interface MetricsEndpoint {
  /** The exposition text of one scrape. */
  render(): Promise<string>;
  readonly contentType: string;
}

export interface ListenAddress {
  /** As the config writes it ("127.0.0.1:9740"), for logs. */
  readonly listen: string;
  readonly host: string;
  readonly port: number;
}

export class MetricsServer {
  private server: http.Server | undefined;
  /** What the server listens on, or undefined. */
  private bound: string | undefined;

  constructor(
    private readonly endpoint: MetricsEndpoint,
    private readonly log: Logger,
  ) {}

  /** The address and port listened on, if listening (port 0 in the config: the one the kernel chose). */
  get address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  /**
   * Listen on `address`, unless already listening there. A listener on
   * another address is closed first (so changing only the host keeps the
   * port usable). Resolves true when listening; false (logged) when not.
   */
  async listen(address: ListenAddress): Promise<boolean> {
    if (this.bound === address.listen) return true;
    await this.close();
    const server = http.createServer((req, res) => void this.handle(req, res));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: address.host, port: address.port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.log.error(
        { event: 'metrics', result: 'failed', listen: address.listen, code: e.code, message: e.message },
        `metrics: cannot listen on ${address.listen} (${e.code ?? e.message}); balancing goes on without /metrics — ` +
          'free the address or change metrics.listen, then save the config or send SIGHUP',
      );
      return false;
    }
    server.on('error', (err) => this.log.error({ event: 'metrics', result: 'error', listen: address.listen, message: err.message }, `metrics server error: ${err.message}`));
    this.server = server;
    this.bound = address.listen;
    const actual = this.address;
    this.log.info({ event: 'metrics', result: 'listening', listen: address.listen, port: actual?.port }, `metrics at http://${address.host}:${actual?.port}/metrics`);
    return true;
  }

  /** Stop listening and drop open connections (a scraper's keep-alive must not hold the agent's shutdown). */
  async close(): Promise<void> {
    const server = this.server;
    this.server = this.bound = undefined;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    try {
      const body = await this.endpoint.render();
      res.writeHead(200, { 'content-type': this.endpoint.contentType });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.log.error({ event: 'metrics', result: 'scrape-failed', message }, `metrics scrape failed: ${message}`);
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`scrape failed: ${message}\n`);
    }
  }
}
