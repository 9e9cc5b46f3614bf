/*
 * What became of each connection attempt a server saw, read from a capture
 * on the server (test/support/pcap.ts) of the balancer's side of the
 * traffic: SYNs from the SNAT address, the server's answers, RSTs.
 *
 * A SYN for a tuple (SNAT address:port -> server:port) the server still
 * holds in TIME_WAIT is accepted only if it looks newer than the old
 * connection (sequence or timestamp); otherwise the server answers with
 * the old connection's ACK, the client resets and sends its SYN again. The
 * counts here show how often a reused SNAT tuple met that, and what it cost.
 */
import { parseFrame } from './packet.js';
import type { PcapRecord } from './pcap.js';

export interface SynOutcomes {
  /** SYNs from the SNAT side, retransmissions (same sequence number) not counted again. */
  syns: number;
  /** SYNs on a tuple that an earlier SYN in the capture had used already. */
  reusedTuples: number;
  /** SYNs the server answered with a plain ACK (no SYN): the tuple met TIME_WAIT and the SYN was refused. */
  refusedByTimeWait: number;
  /** RSTs from the SNAT side (the client's answer to such an ACK, among others). */
  resets: number;
  /** Retransmitted SYNs (same tuple and sequence number as the one before). */
  retransmittedSyns: number;
}

/** `records`: frames captured on a server; `snat`: the balancer's SNAT address. */
export function synOutcomes(records: readonly PcapRecord[], snat: string): SynOutcomes {
  const out: SynOutcomes = { syns: 0, reusedTuples: 0, refusedByTimeWait: 0, resets: 0, retransmittedSyns: 0 };
  const lastSyn = new Map<string, number>();
  const awaitingAnswer = new Set<string>();
  for (const record of records) {
    let frame;
    try {
      frame = parseFrame(record.data);
    } catch {
      continue; // not IPv4 (ARP): not a connection attempt
    }
    if (frame.proto !== 'tcp') continue;
    const fromSnat = frame.srcIp === snat;
    const tuple = fromSnat ? `${frame.srcPort}>${frame.dstIp}:${frame.dstPort}` : `${frame.dstPort}>${frame.srcIp}:${frame.srcPort}`;
    const flags = frame.tcpFlags;
    if (fromSnat && flags.rst) out.resets++;
    if (fromSnat && flags.syn && !flags.ack) {
      if (lastSyn.get(tuple) === frame.seq) {
        out.retransmittedSyns++;
      } else {
        out.syns++;
        if (lastSyn.has(tuple)) out.reusedTuples++;
        lastSyn.set(tuple, frame.seq);
      }
      awaitingAnswer.add(tuple);
    } else if (!fromSnat && awaitingAnswer.has(tuple)) {
      awaitingAnswer.delete(tuple);
      if (flags.ack && !flags.syn && !flags.rst) out.refusedByTimeWait++;
    }
  }
  return out;
}

export function addSynOutcomes(a: SynOutcomes, b: SynOutcomes): SynOutcomes {
  return {
    syns: a.syns + b.syns,
    reusedTuples: a.reusedTuples + b.reusedTuples,
    refusedByTimeWait: a.refusedByTimeWait + b.refusedByTimeWait,
    resets: a.resets + b.resets,
    retransmittedSyns: a.retransmittedSyns + b.retransmittedSyns,
  };
}
