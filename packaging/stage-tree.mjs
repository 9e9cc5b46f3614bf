// Stages the installed file tree shared by the .deb and the .rpm: the agent
// as built (dist/src, the BPF object, the schema, bin/), its production npm
// dependencies, the default config, the systemd unit, the man page and the
// licences. The agent keeps the checkout's relative layout under
// /usr/lib/xdp4slb, which is where it looks for the BPF object, the schema
// and package.json (src/agent/object-path.ts, src/config/config-schema.ts).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { runTool } from './run-tool.mjs';

export const LIB_DIR = 'usr/lib/xdp4slb';
export const CONFIG_FILE = 'etc/xdp4slb/config.yaml';
export const UNIT_FILE = 'usr/lib/systemd/system/xdp4slb-agent.service';
export const MAN_PAGE = 'usr/share/man/man8/xdp4slb-agent.8.gz';
export const DOC_DIR = 'usr/share/doc/xdp4slb';

/* The native-binary directory koffi loads on this target (x86-64, glibc). */
const NATIVE_TRIPLET = 'linux_x64';

export function stageTree(repo, stage) {
  for (const needed of ['dist/src/cli/main.js', 'build/bpf/xdp4slb.bpf.o']) {
    if (!fs.existsSync(path.join(repo, needed))) throw new Error(`${needed} is missing: run \`npm run build\` first`);
  }
  fs.rmSync(stage, { recursive: true, force: true });
  const lib = path.join(stage, LIB_DIR);
  const write = (to, data, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(stage, to)), { recursive: true });
    fs.writeFileSync(path.join(stage, to), data, { mode });
  };
  const put = (from, to, mode) => write(to, fs.readFileSync(path.join(repo, from)), mode);

  // Source maps point at TypeScript sources the package does not ship.
  fs.cpSync(path.join(repo, 'dist/src'), path.join(lib, 'dist/src'), { recursive: true, filter: (f) => !f.endsWith('.map') });
  put('build/bpf/xdp4slb.bpf.o', `${LIB_DIR}/build/bpf/xdp4slb.bpf.o`);
  put('schemas/config.schema.json', `${LIB_DIR}/schemas/config.schema.json`);
  put('bin/xdp4slb-agent', `${LIB_DIR}/bin/xdp4slb-agent`, 0o755);
  installProductionModules(repo, lib);
  fs.mkdirSync(path.join(stage, 'usr/bin'), { recursive: true });
  fs.symlinkSync(`../lib/xdp4slb/bin/xdp4slb-agent`, path.join(stage, 'usr/bin/xdp4slb-agent'));

  put('packaging/config.yaml', CONFIG_FILE);
  put('packaging/xdp4slb-agent.service', UNIT_FILE);
  write(MAN_PAGE, zlib.gzipSync(fs.readFileSync(path.join(repo, 'packaging/xdp4slb-agent.8')), { level: 9 }));
  put('LICENSE', `${DOC_DIR}/LICENSE`);
  for (const name of fs.readdirSync(path.join(repo, 'LICENSES'))) put(`LICENSES/${name}`, `${DOC_DIR}/LICENSES/${name}`);
  put('examples/config.yaml', `${DOC_DIR}/examples/config.yaml`);
  const modules = bundledModules(path.join(lib, 'node_modules'));
  write(`${DOC_DIR}/copyright`, copyrightText(repo, modules));

  // Whatever umask npm or the checkout had: directories 755, files 644 unless executable.
  runTool('chmod', ['-R', 'u+rwX,go+rX,go-w', stage]);
  return { modules };
}

/* `npm ci --omit=dev` from the checkout's package.json and lock file, so the
 * package carries exactly the locked production dependencies, whatever they
 * are. Install scripts are skipped: koffi's would compile from source with
 * cmake if its prebuilt binary failed to load, and the package ships only
 * the prebuilt one (checked by the packaging test). */
function installProductionModules(repo, lib) {
  fs.copyFileSync(path.join(repo, 'package.json'), path.join(lib, 'package.json'));
  fs.copyFileSync(path.join(repo, 'package-lock.json'), path.join(lib, 'package-lock.json'));
  runTool('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: lib });
  fs.rmSync(path.join(lib, 'package-lock.json'));
  pruneForeignBinaries(path.join(lib, 'node_modules'));
}

/* koffi's platform package carries a musl build beside the glibc one: its
 * ELF dependencies could never be met on the target, and an rpm would derive
 * requirements from them. Keep native modules for this target only. */
function pruneForeignBinaries(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      pruneForeignBinaries(full);
      if (fs.readdirSync(full).length === 0) fs.rmdirSync(full);
    } else if (entry.name.endsWith('.node') && path.basename(dir) !== NATIVE_TRIPLET) {
      fs.rmSync(full);
    }
  }
}

/* Every npm module the package carries, with the licence its package.json declares. */
function bundledModules(dir) {
  return fs.readdirSync(dir).filter((n) => !n.startsWith('.'))
    .flatMap((n) => (n.startsWith('@') ? fs.readdirSync(path.join(dir, n)).map((s) => `${n}/${s}`) : [n]))
    .sort()
    .map((name) => {
      const meta = JSON.parse(fs.readFileSync(path.join(dir, name, 'package.json'), 'utf8'));
      return { name, version: meta.version, license: meta.license ?? 'see the module' };
    });
}

/* The package's copyright file: the fixed part, then one paragraph per bundled module. */
function copyrightText(repo, modules) {
  const paragraphs = modules.map(({ name, version, license }) => [
    `Files: ${LIB_DIR}/node_modules/${name}/*`,
    `Copyright: the authors of ${name} ${version}`,
    `License: ${license}`,
    ` The module's licence file is installed in ${LIB_DIR}/node_modules/${name}/.`,
  ].join('\n'));
  return `${fs.readFileSync(path.join(repo, 'packaging/copyright'), 'utf8')}\n${paragraphs.join('\n\n')}\n`;
}
