// Builds xdp4slb_<version>_amd64.deb from the staged tree with dpkg-deb:
// control file (honest dependencies), the config as a conffile, md5sums and
// the maintainer scripts in packaging/debian/.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runTool } from './run-tool.mjs';
import { CONFIG_FILE } from './stage-tree.mjs';

export const DEB_DEPENDS = 'nodejs (>= 20), libbpf1, iproute2';
const MAINTAINER_SCRIPTS = ['postinst', 'prerm', 'postrm'];

export function buildDeb({ repo, stage, work, outDir, version, summary, description }) {
  const root = path.join(work, 'deb-root');
  fs.rmSync(root, { recursive: true, force: true });
  fs.cpSync(stage, root, { recursive: true, verbatimSymlinks: true });
  const control = path.join(root, 'DEBIAN');
  fs.mkdirSync(control, { mode: 0o755 });
  const installedKiB = runTool('du', ['-sk', '--apparent-size', root]).split('\t')[0];
  fs.writeFileSync(path.join(control, 'control'), [
    'Package: xdp4slb',
    `Version: ${version}`,
    'Architecture: amd64',
    'Maintainer: xdp4slb maintainers <xdp4slb@example.invalid>',
    `Installed-Size: ${installedKiB}`,
    `Depends: ${DEB_DEPENDS}`,
    'Section: net',
    'Priority: optional',
    `Description: ${summary}`,
    // Continuation lines start with a space; an empty line is " .".
    ...description.split('\n').map((line) => (line === '' ? ' .' : ` ${line}`)),
  ].join('\n') + '\n');
  fs.writeFileSync(path.join(control, 'conffiles'), `/${CONFIG_FILE}\n`);
  fs.writeFileSync(path.join(control, 'md5sums'), md5sums(root));
  for (const script of MAINTAINER_SCRIPTS) {
    fs.copyFileSync(path.join(repo, 'packaging/debian', script), path.join(control, script));
    fs.chmodSync(path.join(control, script), 0o755);
  }
  const deb = path.join(outDir, `xdp4slb_${version}_amd64.deb`);
  runTool('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, deb]);
  return deb;
}

/* DEBIAN/md5sums: one line per regular file (not symlinks, not conffiles' own
 * directory entries), paths relative to /, for `dpkg --verify`. */
function md5sums(root) {
  const lines = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) lines.push(`${createHash('md5').update(fs.readFileSync(full)).digest('hex')}  ${path.relative(root, full)}`);
    }
  };
  walk(root);
  return lines.join('\n') + '\n';
}
