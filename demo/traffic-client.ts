/*
 * A client for end-to-end tests and the demo, run inside the client's
 * namespace:
 *   node traffic-client.js http URL COUNT [keepalive]   one request after another
 *   node traffic-client.js udp HOST PORT COUNT          one datagram, one answer, each
 * prints one JSON line: { answers: string[], failures: string[] } (answers
 * in order; a failure in place of an answer is recorded with its reason).
 * Each request or datagram may take CLIENT_TIMEOUT_MS (environment; milliseconds, default 2000).
 *
 *   node traffic-client.js hold URL INTERVAL_MS [TIMEOUT_MS]
 * holds one keep-alive connection and sends a request on it every
 * INTERVAL_MS (after the previous answer) until SIGTERM or SIGINT; prints one
 * JSON line per request as it ends: { answer, port } or { failure, port },
 * port being the socket's local port (a new port: the connection was lost
 * and another opened). The argument TIMEOUT_MS (default: as above) bounds each request.
 */
import dgram from 'node:dgram';
import http from 'node:http';

const TIMEOUT_MS = Number(process.env['CLIENT_TIMEOUT_MS'] ?? 2_000);

function httpGet(url: string, agent: http.Agent | false, timeoutMs = TIMEOUT_MS, onSocket?: (port: number | undefined) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout: timeoutMs }, (res) => {
      onSocket?.(res.socket.localPort);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body.trim()) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function udpAsk(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('timeout'));
    }, TIMEOUT_MS);
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg.toString('utf8').trim());
    });
    socket.send('ping', port, host);
  });
}

/* One keep-alive connection, a request every intervalMs, one JSON line per request, until a signal. */
async function hold(url: string, intervalMs: number, timeoutMs: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = (): void => {
    stopping = true;
    wake?.();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  while (!stopping) {
    let port: number | undefined;
    try {
      const answer = await httpGet(url, agent, timeoutMs, (p) => (port = p));
      process.stdout.write(`${JSON.stringify({ answer, port })}\n`);
    } catch (err) {
      process.stdout.write(`${JSON.stringify({ failure: (err as Error).message, port })}\n`);
    }
    if (stopping) break;
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, intervalMs);
    });
    wake = undefined;
  }
  agent.destroy();
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'hold') {
    const [url, interval, timeout] = args;
    await hold(url!, Number(interval), timeout === undefined ? TIMEOUT_MS : Number(timeout));
    return;
  }
  const answers: string[] = [];
  const failures: string[] = [];
  const record = async (ask: () => Promise<string>): Promise<void> => {
    try {
      answers.push(await ask());
    } catch (err) {
      failures.push((err as Error).message);
    }
  };
  if (mode === 'http') {
    const [url, count, keepalive] = args;
    const agent = keepalive === 'keepalive' ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
    for (let i = 0; i < Number(count); i++) await record(() => httpGet(url!, agent));
    if (agent) agent.destroy();
  } else if (mode === 'udp') {
    const [host, port, count] = args;
    for (let i = 0; i < Number(count); i++) await record(() => udpAsk(host!, Number(port)));
  } else {
    throw new Error(`usage: traffic-client.js http URL COUNT [keepalive] | udp HOST PORT COUNT | hold URL INTERVAL_MS [TIMEOUT_MS]`);
  }
  process.stdout.write(`${JSON.stringify({ answers, failures })}\n`);
}

await main();
