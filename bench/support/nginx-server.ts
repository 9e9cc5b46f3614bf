/*
 * nginx as a real server inside a topology host's namespace, for benchmarks
 * whose load generator would outrun demo/backend-server.js: one small worker
 * pool, no access log, every request answered with the server's name. Its
 * config, pid, logs and temp paths live in a throw-away directory, so
 * several run side by side and nothing of the host's nginx is touched.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../../demo/topology.js';

export interface NginxServer {
  stop(): Promise<void>;
}

/** The config text: kept apart so the bench's method section can quote its settings. */
export function nginxConfig(dir: string, name: string, workers: number): string {
  return `daemon off;
master_process on;
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 80 backlog=4096;
    location / { default_type text/plain; return 200 "${name}\\n"; }
  }
}
`;
}

/** Starts nginx on port 80 of `host`; resolves once it accepts connections there. */
export async function startNginx(topo: Topology, host: string, name: string, workers: number, parentDir: string): Promise<NginxServer> {
  const dir = fs.mkdtempSync(path.join(parentDir, `nginx-${host}-`));
  fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir, name, workers));
  const child = topo.spawn(host, 'nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf')]);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const stop = (): Promise<void> => stopChild(child);
  const deadline = Date.now() + 10_000;
  while (!listening(topo, host)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`nginx on ${host} did not start: ${stderr}${readIfThere(path.join(dir, 'error.log'))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { stop };
}

function listening(topo: Topology, host: string): boolean {
  return /:80\b/.test(topo.exec(host, 'ss', ['-Hltn', 'sport = :80']).stdout);
}

function readIfThere(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

/* SIGQUIT is nginx's graceful stop; SIGKILL after 5 s (the master's workers die with the namespace's destroy at the latest). */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGQUIT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
