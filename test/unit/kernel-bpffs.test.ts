import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { mountBpffs } from '../support/netns.js';
import { assertOnBpffs, isOnBpffs } from '../../src/kernel/bpffs.js';
import { KernelError } from '../../src/kernel/errors.js';

describe('bpffs check', () => {
  before(() => {
    mountBpffs();
  });

  it('accepts the bpffs mount and directories not created yet below it', () => {
    assertOnBpffs('/sys/fs/bpf');
    assertOnBpffs('/sys/fs/bpf/xdp4slb-kt-not-created/deeper');
    assert.equal(fs.existsSync('/sys/fs/bpf/xdp4slb-kt-not-created'), false);
  });

  it('rejects a pin path on another file system, saying what to do', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xdp4slb-kt-fs-'));
    try {
      assert.equal(isOnBpffs(dir), false);
      assert.throws(
        () => assertOnBpffs(path.join(dir, 'pins')),
        (err: unknown) => {
          assert.ok(err instanceof KernelError);
          assert.equal(err.code, 'ENOTBPFFS');
          assert.match(err.message, /not on the host's bpffs/);
          assert.match(err.message, /nsenter --net=\/run\/netns\/NAME/);
          assert.match(err.message, /ip netns exec/);
          return true;
        },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects sysfs itself', () => {
    assert.throws(() => assertOnBpffs('/sys/kernel'), (err: unknown) => err instanceof KernelError && err.code === 'ENOTBPFFS');
  });
});
