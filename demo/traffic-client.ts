/*
 * A client for end-to-end tests and the demo, run inside the client's
 * namespace:
 *   node traffic-client.js http URL COUNT [keepalive]   one request after another
 *   node traffic-client.js udp HOST PORT COUNT          one datagram, one answer, each
 * prints one JSON line: { answers: string[], failures: string[] } (answers
 * in order; a failure in place of an answer is recorded with its reason).
 */
import dgram from 'node:dgram';
import http from 'node:http';

const TIMEOUT_MS = 2_000;

function httpGet(url: string, agent: http.Agent | false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, timeout: TIMEOUT_MS }, (res) => {
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

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
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
    throw new Error(`usage: traffic-client.js http URL COUNT [keepalive] | udp HOST PORT COUNT`);
  }
  process.stdout.write(`${JSON.stringify({ answers, failures })}\n`);
}

await main();
