import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { createLogger } from '../../src/agent/logger.js';

/** A stream that keeps what is written to it. */
function sink(): Writable & { text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      text += String(chunk);
      callback();
    },
  });
  return Object.assign(stream, { text: () => text });
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('createLogger', () => {
  it('writes one JSON object per line: level, ISO time, name, the fields and msg', () => {
    const out = sink();
    const log = createLogger({ level: 'info', pretty: false, destination: out });
    const before = Date.now();
    log.info({ file: '/etc/xdp4slb/config.yaml', line: 3, col: 7 }, 'reload rejected');
    const [event, ...rest] = jsonLines(out.text());
    assert.deepEqual(rest, []);
    assert.ok(event);
    const { time, ...fields } = event;
    assert.deepEqual(fields, { level: 30, name: 'xdp4slb', file: '/etc/xdp4slb/config.yaml', line: 3, col: 7, msg: 'reload rejected' });
    assert.equal(typeof time, 'string');
    assert.match(time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Date.parse(time as string) >= before - 1000);
  });

  it('drops events below its level, and the level can change at run time (a reload)', () => {
    const out = sink();
    const log = createLogger({ level: 'warn', pretty: false, destination: out });
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    log.level = 'debug';
    log.trace('t');
    log.debug('d2');
    assert.deepEqual(
      jsonLines(out.text()).map((e) => [e['level'], e['msg']]),
      [
        [40, 'w'],
        [50, 'e'],
        [20, 'd2'],
      ],
    );
  });

  it('silent logs nothing', () => {
    const out = sink();
    createLogger({ level: 'silent', pretty: false, destination: out }).fatal('f');
    assert.equal(out.text(), '');
  });

  it('pretty output is human-readable text, not JSON', async () => {
    const out = sink();
    const log = createLogger({ level: 'info', pretty: true, destination: out });
    log.info({ service: 'web' }, 'backend up');
    // pino-pretty formats in a stream pipeline: the line lands a tick later.
    for (let i = 0; i < 100 && out.text() === ''; i++) await tick();
    const text = out.text().replace(/\x1b\[[0-9;]*m/g, '');
    assert.match(text, /INFO.*\(xdp4slb\).*backend up/);
    assert.match(text, /service: "web"/);
    assert.throws(() => JSON.parse(text), SyntaxError);
  });

  it('pretty defaults to whether stdout is a terminal', async (t) => {
    const saved = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
    t.after(() => {
      if (saved) Object.defineProperty(process.stdout, 'isTTY', saved);
      else delete (process.stdout as { isTTY?: boolean }).isTTY;
    });
    for (const isTTY of [false, true]) {
      Object.defineProperty(process.stdout, 'isTTY', { value: isTTY, configurable: true, writable: true });
      const out = sink();
      createLogger({ level: 'info', destination: out }).info('hello');
      for (let i = 0; i < 100 && out.text() === ''; i++) await tick();
      assert.equal(out.text().startsWith('{'), !isTTY, `isTTY ${isTTY}: ${out.text()}`);
    }
  });

  it('by default writes JSON to stdout (fd 1) when it is not a terminal, and the line survives process.exit()', () => {
    // The production path: under systemd stdout is the journal's pipe, and an
    // invalid config at start-up is logged right before exit(1).
    const logger = new URL('../../src/agent/logger.js', import.meta.url).href;
    const code = `import { createLogger } from ${JSON.stringify(logger)};
      createLogger({ level: 'info' }).error({ ops: 0 }, 'invalid config');
      process.exit(3);`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    assert.equal(child.status, 3, child.stderr);
    const [event, ...rest] = jsonLines(child.stdout);
    assert.deepEqual(rest, []);
    assert.equal(event?.['msg'], 'invalid config');
    assert.equal(event?.['level'], 50);
    assert.equal(event?.['ops'], 0);
  });
});
