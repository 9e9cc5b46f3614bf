/*
 * The xdp4slb-agent command line (DESIGN.md §3). Only what works is
 * offered: validating a config file. Running the agent, --dry-run, status,
 * conntrack and down come with the agent itself.
 */
import { readFileSync } from 'node:fs';
import { checkConfig } from './check-config.js';

const USAGE = `Usage: xdp4slb-agent --check --config PATH
       xdp4slb-agent --version | --help

  --check          validate the config file and exit: 0 valid, 1 invalid
                   (errors on stderr as PATH:LINE:COL: json.path: message)
  --config PATH    the config file (e.g. /etc/xdp4slb/config.yaml)
  --version        print the version
  --help           print this help
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: readonly string[]): Promise<number> {
  let check = false;
  let config: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (arg === '--version') {
      process.stdout.write(`xdp4slb-agent ${version()}\n`);
      return 0;
    }
    if (arg === '--check') check = true;
    else if (arg === '--config') config = argv[++i];
    else if (arg.startsWith('--config=')) config = arg.slice('--config='.length);
    else {
      process.stderr.write(`xdp4slb-agent: unknown argument "${arg}"\n${USAGE}`);
      return 2;
    }
  }
  if (!check || config === undefined) {
    process.stderr.write(`xdp4slb-agent: only --check --config PATH is available in this version\n${USAGE}`);
    return 2;
  }
  return checkConfig(config, process.stderr);
}
