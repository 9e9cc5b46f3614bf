/*
 * `xdp4slb-agent --dry-run --config PATH`: the plan the agent would apply
 * now, against the maps pinned under the pin path (an empty datapath when
 * nothing is pinned), one line per operation and a last line `N operations`.
 * Changes nothing. Exit 0 with a plan, 1 when the config is invalid or no
 * plan can be made.
 */
import { formatIssue } from '../config/index.js';
import { DatapathMaps } from '../datapath/datapath-maps.js';
import { ifindexOf } from '../kernel/interfaces.js';
import { restartOnlyConflict } from '../agent/datapath-session.js';
import { loadDesiredState } from '../agent/load-desired-state.js';
import { planAgainstKernel } from '../agent/reconcile.js';
import { describePlan } from '../plan/index.js';

export async function dryRun(configPath: string, pinPath: string, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<number> {
  const loaded = await loadDesiredState(configPath);
  if (!loaded.ok) {
    for (const issue of loaded.issues) stderr.write(`${formatIssue(issue)}\n`);
    return 1;
  }
  for (const issue of loaded.warnings) stderr.write(`${formatIssue(issue)}\n`);
  const state = loaded.state;
  const conflict = restartOnlyConflict({ pinPath, interface: state.interface, xdpMode: state.xdpMode, maxFlows: state.conntrack.maxEntries });
  if (conflict) stderr.write(`note: ${conflict.message}\n`);
  const maps = DatapathMaps.fromPins(pinPath);
  try {
    const plan = await planAgainstKernel(state, maps, ifindexOf(state.interface), loaded.facts.localAddresses);
    if (!plan.ok) {
      for (const error of plan.errors) stderr.write(`${configPath}: ${error}\n`);
      return 1;
    }
    for (const r of plan.retained) stderr.write(`note: ${r.address} ${r.reason}\n`);
    stdout.write(describePlan(plan.operations));
    return 0;
  } finally {
    maps?.close();
  }
}
