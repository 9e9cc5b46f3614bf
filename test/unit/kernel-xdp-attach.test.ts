/*
 * XDP attach/query/pin/detach on a veth pair inside a throw-away network
 * namespace. The kernel calls run in child processes of this same file
 * started with `nsenter --net=/run/netns/NAME` (not `ip netns exec`, which
 * would hide the host's bpffs), so the host's interfaces are never touched.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mountBpffs } from '../support/netns.js';
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../../src/kernel/bpf-object.js';
import { KernelError } from '../../src/kernel/errors.js';
import { ifindexOf } from '../../src/kernel/interfaces.js';
import {
  type XdpQueryResult,
  attachXdp,
  attachXdpAuto,
  closeLink,
  detachLink,
  detachPinnedLink,
  openPinnedLink,
  pinLink,
  queryXdp,
} from '../../src/kernel/xdp-attach.js';

const SELF = fileURLToPath(import.meta.url);
const FIXTURE = fileURLToPath(new URL('../../../test/unit/fixtures/kernel-fixture.bpf.c', import.meta.url));
const CHILD_ENV = 'XDP4SLB_KT_XDP_CHILD';

interface ChildEnv {
  obj: string;
  linkPin: string;
}

/* ---- child side: runs inside the namespace, prints one JSON line -------- */

type Phase = 'attach-and-pin' | 'check-and-detach' | 'modes';

function errorSummary(err: unknown): { code?: string; errno?: number | undefined; message: string } {
  return err instanceof KernelError
    ? { code: err.code, errno: err.errno, message: err.message }
    : { message: String(err) };
}

function runPhase(phase: Phase, env: ChildEnv): unknown {
  const kt0 = ifindexOf('kt0');
  const kt1 = ifindexOf('kt1');
  switch (phase) {
    case 'attach-and-pin': {
      const obj = BpfObject.open(env.obj);
      try {
        obj.load();
        const before = queryXdp(kt0);
        const link = attachXdp(obj.program('kt_pass').fd, kt0, 'native');
        const attached = queryXdp(kt0);
        pinLink(link, env.linkPin);
        closeLink(link);
        return { before, attached };
      } finally {
        // The pinned link keeps the program attached after this process.
        obj.close();
      }
    }
    case 'check-and-detach': {
      const survived = queryXdp(kt0);
      const fd = openPinnedLink(env.linkPin);
      closeLink(fd);
      const detached = detachPinnedLink(env.linkPin);
      const after = queryXdp(kt0);
      const again = detachPinnedLink(env.linkPin);
      return { survived, detached, after, again, pinLeft: fs.existsSync(env.linkPin) };
    }
    case 'modes': {
      const obj = BpfObject.open(env.obj);
      try {
        obj.load();
        const prog = obj.program('kt_pass').fd;
        const generic = attachXdp(prog, kt0, 'generic');
        const genericQuery = queryXdp(kt0);
        let autoOverGeneric: unknown;
        try {
          closeLink(attachXdpAuto(prog, kt0).linkFd);
          autoOverGeneric = { message: 'attached a second program' };
        } catch (err) {
          autoOverGeneric = errorSummary(err);
        }
        detachLink(generic);
        const afterDetach = queryXdp(kt0);
        closeLink(generic);

        const auto = attachXdpAuto(prog, kt1);
        const autoQuery = queryXdp(kt1);
        closeLink(auto.linkFd);
        // The link was not pinned: closing its only fd detached it.
        const afterClose = queryXdp(kt1);

        let badIfindex: unknown;
        try {
          closeLink(attachXdp(prog, 0x7ffffff0, 'native'));
        } catch (err) {
          badIfindex = errorSummary(err);
        }
        return { genericQuery, autoOverGeneric, afterDetach, autoMode: auto.mode, autoQuery, afterClose, badIfindex };
      } finally {
        obj.close();
      }
    }
  }
}

const childPhase = process.env[CHILD_ENV] as Phase | undefined;

if (childPhase !== undefined) {
  const env = JSON.parse(process.env.XDP4SLB_KT_XDP_ARGS ?? '{}') as ChildEnv;
  try {
    process.stdout.write(`${JSON.stringify({ ok: runPhase(childPhase, env) })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: errorSummary(err) })}\n`);
    process.exitCode = 1;
  }
} else {
  /* ---- test side ------------------------------------------------------ */
  const noClang = spawnSync('clang', ['--version']).error !== undefined;
  const netns = `xdp4slb-kt-${process.pid}`;

  describe('XDP attachment', { skip: noClang ? 'clang is not installed: cannot build the test BPF object' : false }, () => {
    let tmp = '';
    let pinDir = '';
    let env: ChildEnv = { obj: '', linkPin: '' };

    function child(phase: Phase): Record<string, unknown> {
      const res = spawnSync('nsenter', [`--net=/run/netns/${netns}`, process.execPath, SELF], {
        env: { ...process.env, [CHILD_ENV]: phase, XDP4SLB_KT_XDP_ARGS: JSON.stringify(env) },
        encoding: 'utf8',
      });
      const last = res.stdout.trim().split('\n').pop() ?? '';
      assert.equal(res.status, 0, `child ${phase} failed: ${last}\n${res.stderr}`);
      return (JSON.parse(last) as { ok: Record<string, unknown> }).ok;
    }

    before(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xdp4slb-kt-xdp-'));
      const obj = path.join(tmp, 'kernel-fixture.o');
      execFileSync('clang', [
        '-O2', '-g', '-target', 'bpf', '-mcpu=v3', '-I/usr/include/x86_64-linux-gnu', '-c', FIXTURE, '-o', obj,
      ]);
      mountBpffs();
      pinDir = fs.mkdtempSync('/sys/fs/bpf/xdp4slb-kt-xdp-');
      env = { obj, linkPin: path.join(pinDir, 'xdp_link') };
      execFileSync('ip', ['netns', 'add', netns]);
      execFileSync('ip', ['-n', netns, 'link', 'add', 'kt0', 'type', 'veth', 'peer', 'name', 'kt1']);
      execFileSync('ip', ['-n', netns, 'link', 'set', 'kt0', 'up']);
      execFileSync('ip', ['-n', netns, 'link', 'set', 'kt1', 'up']);
    });

    after(() => {
      // Removing the pin releases a link left by a failed test; deleting the
      // namespace removes the veth pair.
      if (pinDir !== '') fs.rmSync(pinDir, { recursive: true, force: true });
      spawnSync('ip', ['netns', 'del', netns]);
      if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
    });

    it('attaches natively, and a pinned link outlives the process that made it', () => {
      const attach = child('attach-and-pin') as { before: XdpQueryResult; attached: XdpQueryResult };
      assert.equal(attach.before.mode, 'none');
      assert.equal(attach.before.progId, 0);
      assert.equal(attach.attached.mode, 'native');
      assert.ok(attach.attached.progId > 0);
      assert.equal(attach.attached.drvProgId, attach.attached.progId);
      assert.ok(fs.existsSync(env.linkPin));

      const check = child('check-and-detach') as {
        survived: XdpQueryResult;
        detached: boolean;
        after: XdpQueryResult;
        again: boolean;
        pinLeft: boolean;
      };
      assert.equal(check.survived.mode, 'native');
      assert.equal(check.survived.progId, attach.attached.progId);
      assert.equal(check.detached, true);
      assert.equal(check.after.mode, 'none');
      assert.equal(check.again, false);
      assert.equal(check.pinLeft, false);
    });

    it('attaches in generic mode, resolves auto to native on veth, and detaches', () => {
      const r = child('modes') as {
        genericQuery: XdpQueryResult;
        autoOverGeneric: { code?: string; errno?: number };
        afterDetach: XdpQueryResult;
        autoMode: string;
        autoQuery: XdpQueryResult;
        afterClose: XdpQueryResult;
        badIfindex: { code?: string; errno?: number };
      };
      assert.equal(r.genericQuery.mode, 'generic');
      assert.ok(r.genericQuery.skbProgId > 0);
      assert.equal(r.genericQuery.drvProgId, 0);
      // Native beside generic is refused, and auto must not fall back to a
      // second generic attachment either.
      assert.equal(r.autoOverGeneric.code, 'EBPF_ATTACH');
      assert.ok(
        r.autoOverGeneric.errno === os.constants.errno.EEXIST || r.autoOverGeneric.errno === os.constants.errno.EBUSY,
        `errno ${r.autoOverGeneric.errno}`,
      );
      assert.equal(r.afterDetach.mode, 'none');
      assert.equal(r.autoMode, 'native');
      assert.equal(r.autoQuery.mode, 'native');
      assert.equal(r.afterClose.mode, 'none');
      assert.equal(r.badIfindex.code, 'EBPF_ATTACH');
      // bpf_link_create answers EINVAL (not ENODEV) for an unknown ifindex.
      assert.equal(r.badIfindex.errno, os.constants.errno.EINVAL);
    });
  });
}
