/*
 * XDP attachment as a BPF link. A link (unlike a netlink attachment) can be
 * pinned: the program then stays attached after the agent exits, and nobody
 * can replace it through netlink (-EBUSY) while the link exists.
 *
 * libbpf 1.1's bpf_program__attach_xdp takes no mode flags, so links are made
 * with bpf_link_create and the XDP flags in its opts.
 */
import koffi from 'koffi';
import fs from 'node:fs';
import os from 'node:os';
import { KernelError, checkRet } from './errors.js';
import { BpfLinkCreateOpts, BpfXdpQueryOpts, type BpfXdpQueryValue, libbpf, libcApi } from './libbpf.js';

/* enum bpf_attach_type (linux/bpf.h) */
const BPF_XDP = 37;

/* linux/if_link.h */
const XDP_FLAGS_SKB_MODE = 1 << 1;
const XDP_FLAGS_DRV_MODE = 1 << 2;

export type XdpMode = 'native' | 'generic';
/** How an interface's program is attached (IFLA_XDP_ATTACHED). */
export type XdpAttachedMode = 'none' | 'native' | 'generic' | 'hw' | 'multi';

const MODE_FLAGS: Readonly<Record<XdpMode, number>> = {
  native: XDP_FLAGS_DRV_MODE,
  generic: XDP_FLAGS_SKB_MODE,
};

/* XDP_ATTACHED_NONE, _DRV, _SKB, _HW, _MULTI in that order. */
const ATTACHED_MODES: readonly XdpAttachedMode[] = ['none', 'native', 'generic', 'hw', 'multi'];

const { EBUSY, EEXIST, ENOENT } = os.constants.errno;

/** Attach in the given mode; returns the link fd (closing it detaches unless the link is pinned). */
export function attachXdp(progFd: number, ifindex: number, mode: XdpMode): number {
  const opts = { sz: koffi.sizeof(BpfLinkCreateOpts), flags: MODE_FLAGS[mode] };
  return checkRet(
    libbpf.bpf_link_create(progFd, ifindex, BPF_XDP, opts),
    'EBPF_ATTACH',
    'bpf_link_create',
    `attaching XDP program in ${mode} mode to ifindex ${ifindex}`,
  );
}

export interface AutoAttachResult {
  linkFd: number;
  mode: XdpMode;
  /** Why native mode was not used, for the caller to report. */
  nativeError?: KernelError;
}

/**
 * xdp_mode 'auto': native if the driver supports it, else generic. An
 * interface that already has a program is an error in either mode, so EBUSY
 * and EEXIST are not retried in generic mode.
 */
export function attachXdpAuto(progFd: number, ifindex: number): AutoAttachResult {
  try {
    return { linkFd: attachXdp(progFd, ifindex, 'native'), mode: 'native' };
  } catch (err) {
    if (!(err instanceof KernelError) || err.errno === EBUSY || err.errno === EEXIST) throw err;
    return { linkFd: attachXdp(progFd, ifindex, 'generic'), mode: 'generic', nativeError: err };
  }
}

export function pinLink(linkFd: number, path: string): void {
  checkRet(libbpf.bpf_obj_pin(linkFd, path), 'EBPF_OBJ_PIN', 'bpf_obj_pin', `pinning XDP link at ${path}`);
}

/** A new fd for a pinned link. */
export function openPinnedLink(path: string): number {
  return checkRet(libbpf.bpf_obj_get(path), 'EBPF_OBJ_GET', 'bpf_obj_get', `opening pinned XDP link ${path}`);
}

/**
 * Swap the program a link runs, atomically: packets see the old program or
 * the new one, and the attachment never goes away. How a restarted or
 * upgraded agent takes over a pinned link.
 */
export function updateLinkProgram(linkFd: number, progFd: number): void {
  checkRet(libbpf.bpf_link_update(linkFd, progFd, null), 'EBPF_ATTACH', 'bpf_link_update', `replacing the program of XDP link fd ${linkFd}`);
}

/** Detach now, even while other fds or pins still refer to the link. */
export function detachLink(linkFd: number): void {
  checkRet(libbpf.bpf_link_detach(linkFd), 'EBPF_DETACH', 'bpf_link_detach', `detaching XDP link fd ${linkFd}`);
}

export function closeLink(linkFd: number): void {
  libcApi.close(linkFd);
}

/**
 * Detach the program held by a pinned link and remove the pin. Returns false
 * when there was no pin. The explicit detach matters: merely unlinking would
 * leave the program attached while any process still holds a link fd.
 */
export function detachPinnedLink(path: string): boolean {
  const fd = libbpf.bpf_obj_get(path);
  if (fd === -ENOENT) return false;
  checkRet(fd, 'EBPF_OBJ_GET', 'bpf_obj_get', `opening pinned XDP link ${path}`);
  try {
    detachLink(fd);
    fs.unlinkSync(path);
  } finally {
    closeLink(fd);
  }
  return true;
}

export interface XdpQueryResult {
  /** The attached program's id; 0 when none (or several, mode 'multi'). */
  progId: number;
  mode: XdpAttachedMode;
  drvProgId: number;
  skbProgId: number;
  hwProgId: number;
}

/** What is attached to an interface of the current network namespace. */
export function queryXdp(ifindex: number): XdpQueryResult {
  const opts: Partial<BpfXdpQueryValue> = { sz: koffi.sizeof(BpfXdpQueryOpts) };
  checkRet(libbpf.bpf_xdp_query(ifindex, 0, opts), 'EBPF_QUERY', 'bpf_xdp_query', `querying XDP on ifindex ${ifindex}`);
  const out = opts as BpfXdpQueryValue;
  return {
    progId: out.prog_id,
    mode: ATTACHED_MODES[out.attach_mode] ?? 'multi',
    drvProgId: out.drv_prog_id,
    skbProgId: out.skb_prog_id,
    hwProgId: out.hw_prog_id,
  };
}
