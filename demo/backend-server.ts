/*
 * A real server for end-to-end tests and the demo, run inside a host's
 * namespace: answers every HTTP request on HTTP_PORT with its NAME and a
 * newline (keep-alive allowed), and every UDP datagram on UDP_PORT with
 * NAME too. Prints one line "ready" once both listen.
 */
import dgram from 'node:dgram';
import http from 'node:http';

const name = process.env['NAME'] ?? 'rs';
const httpPort = Number(process.env['HTTP_PORT'] ?? 80);
const udpPort = Number(process.env['UDP_PORT'] ?? 0);

const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`${name}\n`);
});
server.keepAliveTimeout = 60_000;

let pending = udpPort > 0 ? 2 : 1;
const ready = (): void => {
  if (--pending === 0) process.stdout.write('ready\n');
};
server.listen(httpPort, '0.0.0.0', ready);
if (udpPort > 0) {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (_msg, from) => socket.send(`${name}\n`, from.port, from.address));
  socket.bind(udpPort, '0.0.0.0', ready);
}
