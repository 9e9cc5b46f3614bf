/*
 * `xdp4slb-agent down`: takeDown with a one-line report. Exit 0 also when
 * nothing was attached (idempotent); 1 when something could not be removed.
 */
import { hostAnnouncer } from '../agent/host-announcer.js';
import { takeDown } from '../agent/take-down.js';

export async function takeDownCommand(pinPath: string, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<number> {
  try {
    const report = await takeDown(pinPath, hostAnnouncer);
    if (!report.detached && report.unpinned === 0 && report.withdrawn.length === 0) {
      stdout.write(`nothing attached under ${pinPath}\n`);
    } else {
      const withdrawn = report.withdrawn.length > 0 ? `; removed ${report.withdrawn.join(', ')}` : '';
      stdout.write(`${report.detached ? 'detached the XDP program' : 'no XDP link was pinned'}; removed ${report.unpinned} pins under ${pinPath}${withdrawn}\n`);
    }
    return 0;
  } catch (err) {
    stderr.write(`xdp4slb-agent down: ${(err as Error).message}\n`);
    return 1;
  }
}
