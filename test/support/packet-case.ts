/*
 * Packet tests as data: each case is {description, map setup, input packet,
 * expected verdict, expected output packet or "unchanged"}, run through
 * BPF_PROG_TEST_RUN on a freshly loaded object. A failure prints the
 * description, the input, the expected and the actual packet.
 */
import assert from 'node:assert/strict';
import { LoadedDatapath, type XdpVerdict } from './datapath-fixture.js';
import { describeFrame, diffFrames } from './packet.js';
import { verifyChecksums } from './checksum.js';

export interface PacketCase {
  description: string;
  /** Map writes and earlier packets that put the datapath in the case's state. */
  setup: (dp: LoadedDatapath) => void;
  input: (dp: LoadedDatapath) => Buffer;
  verdict: XdpVerdict;
  /**
   * The packet the program must emit. A function sees the maps after the run
   * (to learn, e.g., which SNAT port was allocated) and must build the frame
   * independently of the datapath's checksum code (packet.ts withRewrite).
   */
  expected?: 'unchanged' | ((dp: LoadedDatapath, input: Buffer) => Buffer);
  /** Checks of map state and counters after the run. */
  after?: (dp: LoadedDatapath) => void;
}

export function runPacketCase(c: PacketCase): void {
  const dp = LoadedDatapath.load();
  try {
    c.setup(dp);
    const input = c.input(dp);
    const { verdict, out } = dp.run(input);
    const expected = c.expected === 'unchanged' ? input : c.expected?.(dp, input);
    const report = (why: string): string =>
      [
        `${c.description}: ${why}`,
        `  input:    ${describeFrame(input)}`,
        `  expected: ${c.verdict} ${expected ? describeFrame(expected) : '(any packet)'}`,
        `  actual:   ${verdict} ${describeFrame(out)}`,
      ].join('\n');
    assert.equal(verdict, c.verdict, report('wrong verdict'));
    if (expected) {
      const diff = diffFrames(expected, out);
      assert.deepEqual(diff, [], report(`wrong packet:\n    ${diff.join('\n    ')}`));
    }
    if (verdict === 'TX') {
      const sums = verifyChecksums(out);
      assert.ok(sums.ipOk && sums.l4Ok, report(`checksums fail a full recomputation: ${sums.details}`));
    }
    c.after?.(dp);
  } finally {
    dp.close();
  }
}
