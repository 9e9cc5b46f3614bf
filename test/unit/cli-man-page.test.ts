/*
 * The packaged man page (packaging/xdp4slb-agent.8) and `--help` name the
 * same options and commands, and the shipped default config passes --check
 * on a host that lacks its interface (warnings only). A new option in one
 * and not the other fails here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/xdp4slb-agent', import.meta.url));
const MAN_PAGE = fileURLToPath(new URL('../../../packaging/xdp4slb-agent.8', import.meta.url));
const DEFAULT_CONFIG = fileURLToPath(new URL('../../../packaging/config.yaml', import.meta.url));

function agent(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/* Every option word (--name, -h) and every command word after the program's name. */
function vocabulary(text: string): string[] {
  const options = text.match(/(?<![\w-])--?[a-z][a-z-]*/g) ?? [];
  const commands = [...text.matchAll(/xdp4slb-agent +([a-z][a-z-]*)/g)].map((m) => m[1]!);
  return [...new Set([...options, ...commands])].sort();
}

/* The text of the man page's SYNOPSIS, COMMANDS and OPTIONS sections without
 * roff (font requests; "\-" is "-"): EXAMPLES also quote other programs. */
function manText(roff: string): string {
  const sections = roff.split(/^(?=\.SH )/m).filter((s) => /^\.SH (SYNOPSIS|COMMANDS|OPTIONS)\b/.test(s));
  assert.equal(sections.length, 3, 'the man page has SYNOPSIS, COMMANDS and OPTIONS');
  return sections
    .join('\n')
    .split('\n')
    .map((line) => line.replace(/^\.(?:B|I|BR|BI|IR|RB|RI|TP|PP|br|nf|fi)\b ?/, '').replace(/^\.(?:TH|SH|SS) .*$/, ''))
    .join('\n')
    .replace(/\\-/g, '-')
    .replace(/\\\(dq/g, '"')
    .replace(/"/g, ' ');
}

describe('man page and --help', () => {
  it('name the same options and commands', () => {
    const help = agent('--help');
    assert.equal(help.status, 0);
    const fromHelp = vocabulary(help.stdout);
    assert.ok(fromHelp.includes('--config') && fromHelp.includes('down'), `help vocabulary: ${fromHelp.join(' ')}`);
    assert.deepEqual(vocabulary(manText(readFileSync(MAN_PAGE, 'utf8'))), fromHelp);
  });

  it('the shipped default config is valid, with only a warning where its interface is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xlb-man-'));
    try {
      const config = join(dir, 'config.yaml');
      writeFileSync(config, readFileSync(DEFAULT_CONFIG, 'utf8').replace(/^interface: .*$/m, 'interface: xlb-nosuch0'));
      const res = agent('--check', '--config', config);
      assert.equal(res.status, 0, res.stderr);
      assert.match(res.stderr, /interface.*xlb-nosuch0|xlb-nosuch0.*interface/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
