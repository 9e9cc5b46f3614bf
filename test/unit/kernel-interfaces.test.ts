import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { KernelError } from '../../src/kernel/errors.js';
import { ifindexOf } from '../../src/kernel/interfaces.js';

describe('ifindexOf', () => {
  it('resolves interfaces of the current namespace', () => {
    assert.equal(ifindexOf('lo'), 1);
    for (const name of fs.readdirSync('/sys/class/net')) {
      const expected = Number(fs.readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'));
      assert.equal(ifindexOf(name), expected, name);
    }
  });

  it('reports an unknown interface', () => {
    assert.throws(
      () => ifindexOf('xdp4slb-nope'),
      (err: unknown) =>
        err instanceof KernelError &&
        err.code === 'EIFINDEX' &&
        err.errno === 19 &&
        /no interface xdp4slb-nope/.test(err.message),
    );
  });
});
