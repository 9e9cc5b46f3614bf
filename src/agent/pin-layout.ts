/*
 * What lives under the pin path (default /sys/fs/bpf/xdp4slb): every map of
 * the object under its own name, and the XDP attachment as a pinned link.
 * One instance per pin path: tests and side-by-side agents use their own.
 */
export const DEFAULT_PIN_PATH = '/sys/fs/bpf/xdp4slb';

export function linkPinPath(pinPath: string): string {
  return `${pinPath}/link`;
}
