import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KernelError, checkRet, describeErrno, errnoName } from '../../src/kernel/errors.js';

describe('kernel errors', () => {
  it('names errnos like the kernel headers, preferring the canonical alias', () => {
    assert.equal(errnoName(2), 'ENOENT');
    assert.equal(errnoName(11), 'EAGAIN');
    assert.equal(errnoName(95), 'EOPNOTSUPP');
    assert.equal(errnoName(524), 'ENOTSUPP');
    assert.equal(errnoName(99999), 'errno 99999');
  });

  it('describes an errno with its name, number and text', () => {
    assert.equal(describeErrno(2), 'ENOENT (2): no such file or directory');
    assert.equal(describeErrno(13), 'EACCES (13): permission denied');
    assert.match(describeErrno(524), /^ENOTSUPP \(524\): operation not supported/);
  });

  it('carries code, errno, op and the log tail', () => {
    const err = new KernelError('EBPF_LOAD', 'bpf_object__load', 'loading x.o', {
      errno: 13,
      log: ['line one', 'invalid access to packet'],
    });
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'KernelError');
    assert.equal(err.code, 'EBPF_LOAD');
    assert.equal(err.errno, 13);
    assert.equal(err.op, 'bpf_object__load');
    assert.deepEqual(err.log, ['line one', 'invalid access to packet']);
    assert.equal(
      err.message,
      'loading x.o: bpf_object__load: EACCES (13): permission denied\n' +
        'libbpf log (last 2 lines):\nline one\ninvalid access to packet',
    );
  });

  it('names the operation when there is no errno', () => {
    const err = new KernelError('ESIZE', 'bpf_map_lookup_elem', 'map m: key is 3 bytes');
    assert.equal(err.errno, undefined);
    assert.equal(err.message, 'map m: key is 3 bytes (bpf_map_lookup_elem)');
  });

  it('checkRet passes non-negative results and turns -errno into an error', () => {
    assert.equal(checkRet(7, 'EBPF_MAP_CREATE', 'bpf_map_create', 'creating m'), 7);
    assert.throws(
      () => checkRet(-22, 'EBPF_MAP_CREATE', 'bpf_map_create', 'creating m'),
      (err: unknown) =>
        err instanceof KernelError && err.code === 'EBPF_MAP_CREATE' && err.errno === 22 && /EINVAL \(22\)/.test(err.message),
    );
  });
});
