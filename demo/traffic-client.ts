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
 * JSON line per request as it ends: { answer, port, start } or { failure,
 * port, start }, port being the socket's local port (a new port: the
 * connection was lost and another opened), start the wall-clock time
 * (Date.now()) just before the request was sent. The argument TIMEOUT_MS (default: as above) bounds each request.
 *
 *   node traffic-client.js stream URL INTERVAL_MS [TIMEOUT_MS]
 * the same, but each request on a connection of its own (keep-alive off):
 * continuous load whose every request is a new flow.
 *
 *   node traffic-client.js open URL COUNT
 * opens COUNT keep-alive connections at once, one request on each; prints
 * { answers, failures, ports } (ports: the local ports) when all have ended,
 * then keeps the connections open and idle (no TCP keepalive probes within
 * an hour) until SIGTERM or SIGINT.
 *
 *   node traffic-client.js rate URL SECONDS [CONCURRENCY]
 * short connections (keep-alive off) one after another, on CONCURRENCY
 * (default 1) loops at once, for SECONDS; prints { connections, failed,
 * failures, slow, slowestMs, seconds } (failures: the first 20 reasons;
 * slow: connections that took a second or more, i.e. a SYN retransmission).
 */
import dgram from 'node:dgram';
import http from 'node:http';

const TIMEOUT_MS = Number(process.env['CLIENT_TIMEOUT_MS'] ?? 2_000);
/* Linux retransmits an unanswered SYN after 1 s: a connection that took that long needed one. */
const SLOW_MS = 1_000;

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

/** Resolves on SIGTERM or SIGINT; `stopped()` says whether one has come. */
function untilSignal(): { signalled: Promise<void>; stopped: () => boolean } {
  let stopped = false;
  const signalled = new Promise<void>((resolve) => {
    const stop = (): void => {
      stopped = true;
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return { signalled, stopped: () => stopped };
}

/*
 * A request every intervalMs, one JSON line per request, until a signal:
 * on one keep-alive connection (hold), or each on a new one (stream).
 */
async function repeat(url: string, intervalMs: number, timeoutMs: number, keepAlive: boolean): Promise<void> {
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
  const { signalled, stopped } = untilSignal();
  while (!stopped()) {
    let port: number | undefined;
    const start = Date.now();
    try {
      const answer = await httpGet(url, agent, timeoutMs, (p) => (port = p));
      process.stdout.write(`${JSON.stringify({ answer, port, start })}\n`);
    } catch (err) {
      process.stdout.write(`${JSON.stringify({ failure: (err as Error).message, port, start })}\n`);
    }
    if (stopped()) break;
    await Promise.race([signalled, new Promise((resolve) => setTimeout(resolve, intervalMs))]);
  }
  if (agent) agent.destroy();
}

/* COUNT connections opened at once, one request each, held open until a signal. */
async function open(url: string, count: number): Promise<void> {
  const { signalled } = untilSignal();
  // Held connections stay idle: TCP keepalive probes (the Agent's keepAliveMsecs, 1 s by default)
  // would refresh their flows on the balancer every second, so they could never time out there.
  const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 3_600_000, maxSockets: count });
  const answers: string[] = [];
  const failures: string[] = [];
  const ports: number[] = [];
  await Promise.all(
    Array.from({ length: count }, () =>
      httpGet(url, agent, TIMEOUT_MS, (port) => port !== undefined && ports.push(port)).then(
        (answer) => answers.push(answer),
        (err: Error) => failures.push(err.message),
      ),
    ),
  );
  process.stdout.write(`${JSON.stringify({ answers, failures, ports })}\n`);
  // The agent unrefs its idle sockets: with nothing else pending Node would exit here and close them all.
  const alive = setInterval(() => undefined, 60_000);
  await signalled;
  clearInterval(alive);
  agent.destroy();
}

/*
 * Short connections back to back on `concurrency` loops for `seconds`. A
 * connection that needed a SYN retransmission takes a second or more: those
 * are counted as slow (with the slowest time), apart from failures.
 */
async function rate(url: string, seconds: number, concurrency: number): Promise<void> {
  const until = Date.now() + seconds * 1_000;
  let connections = 0;
  let failed = 0;
  let slow = 0;
  let slowestMs = 0;
  const failures: string[] = [];
  const loop = async (): Promise<void> => {
    while (Date.now() < until) {
      connections++;
      const asked = Date.now();
      try {
        await httpGet(url, false);
      } catch (err) {
        failed++;
        if (failures.length < 20) failures.push((err as Error).message);
      }
      const took = Date.now() - asked;
      if (took >= SLOW_MS) slow++;
      slowestMs = Math.max(slowestMs, took);
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  process.stdout.write(`${JSON.stringify({ connections, failed, failures, slow, slowestMs, seconds: (Date.now() - started) / 1_000 })}\n`);
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'hold' || mode === 'stream') {
    const [url, interval, timeout] = args;
    await repeat(url!, Number(interval), timeout === undefined ? TIMEOUT_MS : Number(timeout), mode === 'hold');
    return;
  }
  if (mode === 'open') {
    const [url, count] = args;
    await open(url!, Number(count));
    return;
  }
  if (mode === 'rate') {
    const [url, seconds, concurrency] = args;
    await rate(url!, Number(seconds), Number(concurrency ?? 1));
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
    throw new Error(
      'usage: traffic-client.js http URL COUNT [keepalive] | udp HOST PORT COUNT | hold|stream URL INTERVAL_MS [TIMEOUT_MS] | open URL COUNT | rate URL SECONDS [CONCURRENCY]',
    );
  }
  process.stdout.write(`${JSON.stringify({ answers, failures })}\n`);
}

await main();
