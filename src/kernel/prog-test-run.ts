/*
 * BPF_PROG_TEST_RUN: run a loaded program on a packet in the kernel, without
 * any interface. Packet tests and benchmarks go through here.
 *
 * With repeat > 1 the kernel reuses one buffer, so from the second run the
 * program sees its own rewritten packet (PLATFORM.md).
 */
import koffi from 'koffi';
import { KernelError } from './errors.js';
import { BpfTestRunOpts, type BpfTestRunValue, libbpf } from './libbpf.js';

/* Inject the frames into the stack/driver instead of returning them (XDP). */
export const BPF_F_TEST_XDP_LIVE_FRAMES = 2;

/* Head room an XDP program may add with bpf_xdp_adjust_head (XDP_PACKET_HEADROOM). */
const XDP_HEADROOM = 256;

export interface TestRunOptions {
  repeat?: number;
  /** Room for the output packet; 0 asks for none (required with live frames). */
  dataOutSize?: number;
  /** Context in, e.g. a struct xdp_md naming the ingress ifindex. */
  ctxIn?: Buffer;
  flags?: number;
  /** Frames per batch with BPF_F_TEST_XDP_LIVE_FRAMES. */
  batchSize?: number;
}

export interface TestRunResult {
  retval: number;
  /** The packet as the program left it. */
  dataOut: Buffer;
  /** Average per repetition, as measured by the kernel. */
  durationNs: number;
}

export function testRun(progFd: number, data: Buffer, opts: TestRunOptions = {}): TestRunResult {
  const flags = opts.flags ?? 0;
  const live = (flags & BPF_F_TEST_XDP_LIVE_FRAMES) !== 0;
  const dataOutSize = opts.dataOutSize ?? (live ? 0 : data.length + XDP_HEADROOM);
  const dataOut = Buffer.alloc(dataOutSize);
  const run: BpfTestRunValue = {
    sz: koffi.sizeof(BpfTestRunOpts),
    data_in: data,
    data_out: dataOutSize > 0 ? dataOut : null,
    data_size_in: data.length,
    data_size_out: dataOutSize,
    ctx_in: opts.ctxIn ?? null,
    ctx_out: null,
    ctx_size_in: opts.ctxIn?.length ?? 0,
    ctx_size_out: 0,
    retval: 0,
    repeat: opts.repeat ?? 1,
    duration: 0,
    flags,
    cpu: 0,
    batch_size: opts.batchSize ?? 0,
  };
  const ret = libbpf.bpf_prog_test_run_opts(progFd, run);
  if (ret < 0) {
    throw new KernelError('EBPF_TEST_RUN', 'bpf_prog_test_run_opts', `test run of program fd ${progFd}`, {
      errno: -ret,
    });
  }
  return {
    retval: run.retval,
    dataOut: dataOut.subarray(0, Math.min(run.data_size_out, dataOutSize)),
    durationNs: run.duration,
  };
}
