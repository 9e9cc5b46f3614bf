/*
 * Where the compiled datapath is: beside the agent in a built checkout
 * (build/bpf) and in the packages, which keep the same relative layout.
 */
import { fileURLToPath } from 'node:url';

export const BPF_OBJECT_PATH = fileURLToPath(new URL('../../../build/bpf/xdp4slb.bpf.o', import.meta.url));
