// The command line as data: status and conntrack with their options, and
// every misuse refused with a message (main prints it and exits 2).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArgs } from '../../src/cli/parse-args.js';

describe('parseArgs: status and conntrack', () => {
  it('status: --json, --watch with a default or given --interval; options before or after the word', () => {
    assert.deepEqual(parseArgs(['status']), { ok: true, args: { command: 'status', json: false, watch: false } });
    assert.deepEqual(parseArgs(['--pin-path', '/p', 'status', '--json']), { ok: true, args: { command: 'status', pinPath: '/p', json: true, watch: false } });
    assert.deepEqual(parseArgs(['status', '--watch']), { ok: true, args: { command: 'status', json: false, watch: true, intervalMs: 2000 } });
    assert.deepEqual(parseArgs(['--watch', '--interval=500ms', 'status']), { ok: true, args: { command: 'status', json: false, watch: true, intervalMs: 500 } });
  });

  it('conntrack: --service and --limit', () => {
    assert.deepEqual(parseArgs(['conntrack']), { ok: true, args: { command: 'conntrack' } });
    assert.deepEqual(parseArgs(['conntrack', '--service', 'web', '--limit', '20']), { ok: true, args: { command: 'conntrack', service: 'web', limit: 20 } });
  });

  it('refuses misuse with a message', () => {
    const refused: [string[], RegExp][] = [
      [['status', '--interval', '1s'], /--interval goes with --watch/],
      [['status', '--watch', '--interval', '2'], /--interval must be a duration such as 2s or 500ms, not "2"/],
      [['status', '--watch', '--interval', '10ms'], /--interval must be at least 100ms/],
      [['conntrack', '--limit', '0'], /--limit must be a positive whole number, not "0"/],
      [['conntrack', '--limit', '1.5'], /--limit must be a positive whole number/],
      [['conntrack', '--json'], /--json goes with `status`, not conntrack/],
      [['status', '--service', 'web'], /--service goes with `conntrack`, not status/],
      [['--watch', '--config', 'c.yaml'], /--watch goes with `status`, not running/],
      [['status', 'down'], /unknown argument "down"/],
      [['status', 'status'], /unknown argument "status"/],
      [['--check', 'status', '--config', 'c.yaml'], /choose one of --check and status/],
    ];
    for (const [argv, message] of refused) {
      const parsed = parseArgs(argv);
      assert.equal(parsed.ok, false, argv.join(' '));
      if (!parsed.ok) assert.match(parsed.error, message, argv.join(' '));
    }
  });

  it('leaves the other commands as they were', () => {
    assert.deepEqual(parseArgs(['down']), { ok: true, args: { command: 'down' } });
    assert.deepEqual(parseArgs(['--dry-run', '--config', 'c.yaml']), { ok: true, args: { command: 'dry-run', config: 'c.yaml' } });
    assert.deepEqual(parseArgs([]), { ok: false, error: 'running needs --config PATH' });
  });
});
