/**
 * Reads the config file: its text, or an issue without a position
 * (`PATH: message`, DESIGN.md §2) saying why it cannot be read. The one file
 * of src/config that touches the file system for the config itself.
 */
import { readFile } from 'node:fs/promises';
import { fileIssue, type ConfigIssue } from './config-issue.js';

export type ReadConfigResult = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly issue: ConfigIssue };

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a component of the path is not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
};

export async function readConfigFile(path: string): Promise<ReadConfigResult> {
  try {
    return { ok: true, text: await readFile(path, 'utf8') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const reason = REASONS[code] ?? (error instanceof Error ? error.message : String(error));
    const message = `cannot read the config file: ${reason}${code === '' ? '' : ` (${code})`}`;
    return { ok: false, issue: fileIssue(path, 'file-unreadable', message) };
  }
}
