// Builds xdp4slb-<version>-<release>.x86_64.rpm from the staged tree with
// rpmbuild (Debian's rpm package works): the spec is filled in from
// packaging/rpm/xdp4slb.spec.in and %install copies the tree as it is.
import fs from 'node:fs';
import path from 'node:path';
import { runTool } from './run-tool.mjs';

export const RPM_REQUIRES = ['nodejs >= 1:20', 'libbpf', 'iproute'];

export function buildRpm({ repo, stage, work, outDir, version, release, summary, description, licenses }) {
  const topdir = path.join(work, 'rpmbuild');
  fs.rmSync(topdir, { recursive: true, force: true });
  fs.mkdirSync(topdir, { recursive: true });
  const fields = {
    VERSION: version,
    RELEASE: release,
    SUMMARY: summary,
    DESCRIPTION: description,
    LICENSE: licenses.map((l) => (l.includes(' ') ? `(${l})` : l)).join(' AND '),
    REQUIRES: RPM_REQUIRES.join(', '),
    STAGE: path.resolve(stage),
  };
  const template = fs.readFileSync(path.join(repo, 'packaging/rpm/xdp4slb.spec.in'), 'utf8');
  const spec = path.join(topdir, 'xdp4slb.spec');
  fs.writeFileSync(spec, template.replace(/@([A-Z]+)@/g, (match, key) => fields[key] ?? match));
  runTool('rpmbuild', [
    '-bb', '--target', 'x86_64',
    '--define', `_topdir ${topdir}`,
    '--define', `_rpmdir ${path.resolve(outDir)}`,
    '--define', '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm',
    spec,
  ]);
  return path.join(outDir, `xdp4slb-${version}-${release}.x86_64.rpm`);
}
