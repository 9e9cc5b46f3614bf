import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeU32, encodeU64 } from '../../src/datapath/codecs.js';
import { mountBpffs } from '../support/netns.js';
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../../src/kernel/bpf-object.js';
import { KernelError } from '../../src/kernel/errors.js';
import { isKernelError } from '../support/kernel-errors.js';
import { setLibbpfLogger } from '../../src/kernel/libbpf.js';
import { testRun } from '../../src/kernel/prog-test-run.js';

const FIXTURE = fileURLToPath(new URL('../../../test/unit/fixtures/kernel-fixture.bpf.c', import.meta.url));
const XDP_PASS = 2;
const { EACCES, EINVAL, ENOENT } = os.constants.errno;

const noClang = spawnSync('clang', ['--version']).error !== undefined;

function compileFixture(dir: string, name: string, defines: string[]): string {
  const out = path.join(dir, name);
  execFileSync(
    'clang',
    ['-O2', '-g', '-target', 'bpf', '-mcpu=v3', '-I/usr/include/x86_64-linux-gnu', ...defines, '-c', FIXTURE, '-o', out],
    { stdio: 'pipe' },
  );
  return out;
}

/* Runs `fn` with the object and always closes it. */
function withObject<T>(file: string, opts: Parameters<typeof BpfObject.open>[1], fn: (obj: BpfObject) => T): T {
  const obj = BpfObject.open(file, opts);
  try {
    return fn(obj);
  } finally {
    obj.close();
  }
}

describe('BpfObject', { skip: noClang ? 'clang is not installed: cannot build the test BPF object' : false }, () => {
  let tmp = '';
  let pinRoot = '';
  let passObj = '';
  let brokenObj = '';

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xdp4slb-kt-obj-'));
    passObj = compileFixture(tmp, 'kernel-fixture.o', []);
    brokenObj = compileFixture(tmp, 'kernel-fixture-broken.o', ['-DKT_BROKEN']);
    mountBpffs();
    pinRoot = fs.mkdtempSync('/sys/fs/bpf/xdp4slb-kt-obj-');
  });

  after(() => {
    if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
    if (pinRoot !== '') fs.rmSync(pinRoot, { recursive: true, force: true });
  });

  it('loads the object and runs its XDP program with BPF_PROG_TEST_RUN', () => {
    withObject(passObj, {}, (obj) => {
      obj.load();
      const prog = obj.program('kt_pass');
      assert.equal(prog.name, 'kt_pass');
      assert.ok(prog.fd > 0);
      const counter = obj.map('kt_hash');
      assert.equal(counter.maxEntries, 16);
      counter.update(encodeU32(0), encodeU64(0));

      const packet = Buffer.alloc(64);
      packet.fill(0xab, 14);
      const first = testRun(prog.fd, packet);
      assert.equal(first.retval, XDP_PASS);
      assert.deepEqual(first.dataOut, packet);
      assert.ok(first.durationNs >= 0);

      testRun(prog.fd, packet, { repeat: 5 });
      assert.deepEqual(counter.lookup(encodeU32(0)), encodeU64(6));
    });
  });

  it('reports a test run the kernel refuses', () => {
    withObject(passObj, {}, (obj) => {
      obj.load();
      // Shorter than an Ethernet header.
      assert.throws(() => testRun(obj.program('kt_pass').fd, Buffer.alloc(4)), isKernelError('EBPF_TEST_RUN', EINVAL));
    });
  });

  it('applies max_entries before load and rejects unknown map names', () => {
    withObject(passObj, { maxEntries: { kt_hash: 100 } }, (obj) => {
      obj.load();
      assert.equal(obj.map('kt_hash').maxEntries, 100);
    });
    assert.throws(() => BpfObject.open(passObj, { maxEntries: { kt_nope: 1 } }), isKernelError('EBPF_NOT_FOUND'));
  });

  it('pins maps under pinDir and reuses them on the next load', () => {
    const pinDir = pinRoot;
    const firstId = withObject(passObj, { pinDir }, (obj) => {
      obj.load();
      const map = obj.map('kt_hash');
      map.update(encodeU32(1), encodeU64(11));
      return map.id;
    });
    // The .bss map is internal to the build and is not pinned.
    assert.deepEqual(fs.readdirSync(pinDir), ['kt_hash']);

    withObject(passObj, { pinDir }, (obj) => {
      obj.load();
      const map = obj.map('kt_hash');
      assert.equal(map.id, firstId);
      assert.deepEqual(map.lookup(encodeU32(1)), encodeU64(11));
    });

    withObject(passObj, { pinDir, maxEntries: { kt_hash: 32 } }, (obj) => {
      assert.throws(
        () => obj.load(),
        (err: unknown) => isKernelError('EBPF_LOAD')(err) && /couldn't reuse pinned map/.test((err as Error).message),
      );
    });
  });

  it('quotes the verifier log when the verifier rejects a program', () => {
    const lines: string[] = [];
    setLibbpfLogger((_level, line) => lines.push(line));
    try {
      withObject(brokenObj, {}, (obj) => {
        assert.throws(
          () => obj.load(),
          (err: unknown) => {
            assert.ok(err instanceof KernelError);
            assert.equal(err.code, 'EBPF_LOAD');
            assert.equal(err.errno, EACCES);
            assert.equal(err.op, 'bpf_object__load');
            assert.ok(err.log.length > 0 && err.log.length <= 60, `${err.log.length} log lines`);
            assert.match(err.message, /invalid access to packet/);
            assert.match(err.message, /-- END PROG LOAD LOG --/);
            return true;
          },
        );
      });
    } finally {
      setLibbpfLogger(undefined);
    }
    // The verifier log arrives in one libbpf print of more than 4 KiB: it
    // must come through whole, not cut at the first buffer size.
    const begin = lines.findIndex((l) => l.includes('-- BEGIN PROG LOAD LOG --'));
    const end = lines.findIndex((l) => l.includes('-- END PROG LOAD LOG --'));
    assert.ok(begin >= 0 && end > begin, 'BEGIN and END markers of the verifier log');
    assert.ok(lines.slice(begin, end + 1).join('\n').length > 4096);
  });

  it('refuses fds before load, unknown names and use after close', () => {
    const obj = BpfObject.open(passObj);
    try {
      assert.throws(() => obj.map('kt_hash'), isKernelError('EBPF_NOT_LOADED'));
      assert.throws(() => obj.program('kt_pass'), isKernelError('EBPF_NOT_LOADED'));
      obj.load();
      assert.throws(() => obj.map('kt_nope'), isKernelError('EBPF_NOT_FOUND'));
      assert.throws(() => obj.program('kt_nope'), isKernelError('EBPF_NOT_FOUND'));
      const map = obj.map('kt_hash');
      assert.equal(obj.map('kt_hash'), map);
      obj.close();
      assert.equal(map.closed, true);
      assert.throws(() => map.lookup(encodeU32(0)), isKernelError('ECLOSED'));
      assert.throws(() => obj.map('kt_hash'), isKernelError('ECLOSED'));
    } finally {
      obj.close();
    }
  });

  it('reports an object file that cannot be opened, with libbpf\'s words', () => {
    assert.throws(
      () => BpfObject.open(path.join(tmp, 'absent.o')),
      (err: unknown) => isKernelError('EBPF_OPEN', ENOENT)(err) && /failed to open/.test((err as Error).message),
    );
  });
});
