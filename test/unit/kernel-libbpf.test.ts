import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { BpfObject } from '../../src/kernel/bpf-object.js';
import { KernelError } from '../../src/kernel/errors.js';
import {
  type LibbpfLogLevel,
  libbpfLogMark,
  libbpfLogSince,
  numPossibleCpus,
  setLibbpfLogger,
} from '../../src/kernel/libbpf.js';

describe('libbpf bindings', () => {
  it('counts possible CPUs like the kernel does', () => {
    const text = fs.readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
    const expected = text
      .split(',')
      .map((range) => range.split('-').map(Number))
      .reduce((n, [lo = 0, hi = lo]) => n + hi - lo + 1, 0);
    assert.equal(numPossibleCpus(), expected);
  });

  it('captures libbpf messages into the ring and forwards them to the logger', () => {
    const seen: Array<[LibbpfLogLevel, string]> = [];
    setLibbpfLogger((level, line) => seen.push([level, line]));
    const mark = libbpfLogMark();
    try {
      assert.throws(() => BpfObject.open('/nonexistent/xdp4slb-kt.o'), KernelError);
    } finally {
      setLibbpfLogger(undefined);
    }
    const lines = libbpfLogSince(mark, 100);
    assert.ok(lines.some((l) => /failed to open \/nonexistent\/xdp4slb-kt\.o/.test(l)), lines.join('\n'));
    assert.deepEqual(
      seen.map(([, line]) => line),
      lines,
    );
    assert.ok(seen.some(([level, line]) => level === 'warn' && line.includes('failed to open')));
    // Lines are split, without their newline.
    assert.ok(lines.every((l) => !l.includes('\n')));
    assert.deepEqual(libbpfLogSince(mark, 1), lines.slice(-1));

    // Forwarding stopped, capture did not.
    const mark2 = libbpfLogMark();
    assert.throws(() => BpfObject.open('/nonexistent/again.o'), KernelError);
    assert.equal(seen.length, lines.length);
    assert.ok(libbpfLogSince(mark2, 100).length > 0);
  });
});
