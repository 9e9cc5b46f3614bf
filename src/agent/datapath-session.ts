/*
 * The running datapath, as the agent holds it: the BPF object loaded with
 * its maps pinned (or the pinned maps of a previous run reused), and the
 * XDP program attached through a pinned link. Opening a session never
 * interrupts forwarding: on a restart the pinned link is kept and only its
 * program is swapped for this build's (bpf_link_update, atomic), and the
 * maps (with every flow in conntrack) are the same ones.
 *
 * Closing the session releases the agent's fds only; the pins keep the
 * datapath running until `down`.
 */
import fs from 'node:fs';
import { BpfMap } from '../kernel/bpf-map.js';
import { BpfObject } from '../kernel/bpf-object.js';
import { assertOnBpffs } from '../kernel/bpffs.js';
import { ifindexOf } from '../kernel/interfaces.js';
import {
  attachXdp,
  attachXdpAuto,
  closeLink,
  detachPinnedLink,
  openPinnedLink,
  pinLink,
  updateLinkProgram,
  type XdpMode as AttachMode,
} from '../kernel/xdp-attach.js';
import { LbXdpMode, XDP_MODE_NAMES, type LbAgentRecord } from '../datapath/codecs.js';
import { DatapathMaps } from '../datapath/datapath-maps.js';
import type { XdpMode } from '../model/desired-state.js';
import { AgentError } from './agent-error.js';
import { linkPinPath } from './pin-layout.js';

export interface SessionSettings {
  readonly objectPath: string;
  readonly pinPath: string;
  readonly interface: string;
  readonly xdpMode: XdpMode;
  readonly maxFlows: number;
}

export interface SessionEvents {
  /** Native mode was refused and generic used (xdp_mode: auto). */
  onNativeRefused?(reason: Error): void;
  /** A pinned link whose interface is gone was replaced. */
  onStaleLink?(ifname: string): void;
}

export const PROGRAM_NAME = 'lb_xdp';

function restartOnly(setting: string, running: string | number, configured: string | number): AgentError {
  return new AgentError(
    'ERESTART_ONLY',
    `${setting} is ${running} in the running datapath and ${configured} in the config; it is a restart-only ` +
      'setting: run `xdp4slb-agent down` and start the agent again to change it',
  );
}

/**
 * Why the datapath pinned under the pin path cannot run these settings (a
 * restart-only one differs), or undefined. Checked before anything is loaded.
 */
export function restartOnlyConflict(settings: Omit<SessionSettings, 'objectPath'>): AgentError | undefined {
  if (fs.existsSync(`${settings.pinPath}/lb_ct`)) {
    const ct = BpfMap.fromPin(`${settings.pinPath}/lb_ct`);
    const running = ct.maxEntries;
    ct.close();
    if (running !== settings.maxFlows) return restartOnly('conntrack.max_entries', running, settings.maxFlows);
  }
  const maps = DatapathMaps.fromPins(settings.pinPath);
  const record = maps?.agentRecord();
  maps?.close();
  if (record === undefined) return undefined;
  if (record.ifname !== settings.interface) return restartOnly('interface', record.ifname, settings.interface);
  const mode = XDP_MODE_NAMES[record.xdpMode];
  if (mode !== settings.xdpMode) return restartOnly('xdp_mode', mode ?? record.xdpMode, settings.xdpMode);
  return undefined;
}

export class DatapathSession {
  private constructor(
    private readonly object: BpfObject,
    readonly maps: DatapathMaps,
    readonly ifindex: number,
    readonly attachedMode: AttachMode,
    /** True when an already pinned link was taken over (a restart). */
    readonly resumed: boolean,
  ) {}

  static open(settings: SessionSettings, events: SessionEvents = {}): DatapathSession {
    assertOnBpffs(settings.pinPath);
    const ifindex = ifindexOf(settings.interface);
    const conflict = restartOnlyConflict(settings);
    if (conflict) throw conflict;
    fs.mkdirSync(settings.pinPath, { recursive: true });

    const object = BpfObject.open(settings.objectPath, {
      pinDir: settings.pinPath,
      maxEntries: { lb_ct: settings.maxFlows, lb_snat: settings.maxFlows },
    });
    try {
      object.load();
      const maps = DatapathMaps.fromObject(object);
      const progFd = object.program(PROGRAM_NAME).fd;
      const linkPath = linkPinPath(settings.pinPath);
      const record = maps.agentRecord();

      if (fs.existsSync(linkPath) && (record === undefined || record.ifindex !== ifindex)) {
        // The interface was deleted and created again (the old link is
        // defunct), or a start died between pinning the link and recording it.
        detachPinnedLink(linkPath);
        events.onStaleLink?.(settings.interface);
      }
      if (fs.existsSync(linkPath) && record !== undefined) {
        const linkFd = openPinnedLink(linkPath);
        try {
          updateLinkProgram(linkFd, progFd);
        } finally {
          closeLink(linkFd);
        }
        const mode = XDP_MODE_NAMES[record.attachedMode] === 'generic' ? 'generic' : 'native';
        return new DatapathSession(object, maps, ifindex, mode, true);
      }

      let linkFd: number;
      let mode: AttachMode;
      if (settings.xdpMode === 'auto') {
        const auto = attachXdpAuto(progFd, ifindex);
        if (auto.nativeError) events.onNativeRefused?.(auto.nativeError);
        linkFd = auto.linkFd;
        mode = auto.mode;
      } else {
        mode = settings.xdpMode;
        linkFd = attachXdp(progFd, ifindex, mode);
      }
      try {
        pinLink(linkFd, linkPath);
      } finally {
        closeLink(linkFd);
      }
      const attached: LbAgentRecord = {
        ifname: settings.interface,
        ifindex,
        xdpMode: LbXdpMode[settings.xdpMode],
        attachedMode: LbXdpMode[mode],
      };
      maps.putAgentRecord(attached);
      return new DatapathSession(object, maps, ifindex, mode, false);
    } catch (err) {
      object.close();
      throw err;
    }
  }

  /** Release the agent's fds; the pinned maps and link keep forwarding. */
  close(): void {
    this.object.close();
  }
}
