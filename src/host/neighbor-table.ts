/**
 * The kernel's IPv4 neighbour table (ARP cache): reading it
 * (`ip -j -4 neigh show nud all`, netlink) and making the kernel resolve
 * addresses again, many at once, with one `ip -batch`.
 *
 * Why re-resolution is done this way (measured on Linux 6.18, iproute2 6.1,
 * veths through a bridge in network namespaces):
 * - No traffic refreshes these entries for us: XDP_TX frames bypass the
 *   stack, and a veth whose MAC changes sends no gratuitous ARP. A REACHABLE
 *   entry keeps the old MAC until its reachable time runs out.
 * - `nud probe` (unicast probes) cannot learn a changed MAC: the probes go to
 *   the old MAC, nobody answers, and the entry goes FAILED after
 *   ucast_solicit × retrans_time (3 s), a broadcast only after that.
 *   `use` (NTF_USE) does nothing to a REACHABLE entry, and moves a STALE one
 *   to DELAY, which probes by unicast 5 s later.
 * - What learns any MAC at once, from any state and also for an address with
 *   no entry at all, is a broadcast resolution from an invalid state:
 *     neigh replace ADDR dev IF nud none     (creates it, or drops its MAC)
 *     neigh replace ADDR dev IF use          (NONE -> INCOMPLETE: broadcast ARP now)
 *   The kernel takes the first reply's MAC whatever it was before (an entry
 *   that is not valid is not held by locktime); here the answer was in
 *   before `ip` exited. `nud failed` instead of `nud none` learns too, but
 *   (by the kernel's neighbour code) drops what the host has queued for the
 *   neighbour, where NONE keeps it queued until the answer;
 *   `nud incomplete` leaves it INCOMPLETE with no timer, never resolving.
 * - An entry with the `managed` flag gets `managed` instead of `use` as the
 *   second line: it triggers the same resolution and keeps the flag, which
 *   any replace without it clears.
 * - Entries that are someone else's are never touched: PERMANENT and NOARP
 *   (static; a netlink replace would overwrite them) and extern_learn
 *   (another control plane's). Nor is an INCOMPLETE one: the kernel is
 *   resolving it, and restarting that would keep an address that never
 *   answers from ever reaching FAILED.
 */
import { ipv4ToNumber } from '../model/ipv4.js';
import { HostError } from './host-error.js';
import { runIpBatch, runIpJson } from './ip-command.js';

export interface NeighborEntry {
  readonly address: string;
  readonly dev: string;
  /** Link-layer address, lower case; the kernel shows one only in valid states. */
  readonly mac?: string;
  /** NUD states as iproute2 names them: REACHABLE, STALE, DELAY, PROBE, FAILED, INCOMPLETE, PERMANENT, NOARP, NONE. */
  readonly states: readonly string[];
  /** Kept resolved by the kernel itself (NTF_MANAGED). */
  readonly managed: boolean;
  /** Learned by another control plane (NTF_EXT_LEARNED). */
  readonly externLearn: boolean;
}

/** A neighbour to resolve again. */
export interface NeighborTarget {
  readonly address: string;
  readonly dev: string;
  /** Whether its entry carries the managed flag, to keep. */
  readonly managed: boolean;
}

/* `nud all`: without it iproute2 hides NOARP entries. */
const SHOW_ARGS = ['-4', 'neigh', 'show', 'nud', 'all'];

/* The NUD_VALID states: the kernel sends frames to the entry's MAC in these. */
const VALID_STATES = new Set(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']);
const STATIC_STATES = new Set(['PERMANENT', 'NOARP']);

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/*
 * A word ip's batch reader takes as is: it splits lines at blanks and treats
 * quotes and '#' specially. Kernel interface names are at most 15 bytes.
 */
const PLAIN_IFNAME = /^[A-Za-z0-9_.@+-]{1,15}$/;

export async function readNeighborTable(): Promise<NeighborEntry[]> {
  return parseNeighborTable(await runIpJson(SHOW_ARGS));
}

/** The entries of `ip -j -4 neigh show` output. */
export function parseNeighborTable(json: unknown): NeighborEntry[] {
  if (!Array.isArray(json)) throw malformed('expected a JSON array of neighbour entries');
  return json.map((item) => {
    const e = item as { dst?: unknown; dev?: unknown; lladdr?: unknown; state?: unknown } | null;
    const states = e?.state;
    if (typeof e?.dst !== 'string' || typeof e.dev !== 'string' || !Array.isArray(states) || !states.every((s) => typeof s === 'string')) {
      throw malformed(`entry without dst, dev or state list: ${JSON.stringify(item)}`);
    }
    // iproute2 prints a flag as a key with a null value ("managed": null).
    const flags = item as Record<string, unknown>;
    return {
      address: e.dst,
      dev: e.dev,
      ...(typeof e.lladdr === 'string' ? { mac: e.lladdr.toLowerCase() } : {}),
      states: states as string[],
      managed: 'managed' in flags,
      externLearn: 'extern_learn' in flags,
    };
  });
}

/** The MAC frames to this neighbour carry now: a valid state with an Ethernet address. */
export function usableMac(entry: NeighborEntry | undefined): string | undefined {
  if (entry?.mac === undefined || !MAC.test(entry.mac)) return undefined;
  return entry.states.some((s) => VALID_STATES.has(s)) ? entry.mac : undefined;
}

/** Whether the kernel gave up resolving it: every solicitation went unanswered. */
export function hasFailed(entry: NeighborEntry | undefined): boolean {
  return entry?.states.includes('FAILED') ?? false;
}

/** Whether a neighbour in this state (undefined: no entry) may be resolved again (see the header). */
export function mayReresolve(entry: NeighborEntry | undefined): boolean {
  if (entry === undefined) return true;
  if (entry.externLearn || entry.states.includes('INCOMPLETE')) return false;
  return !entry.states.some((s) => STATIC_STATES.has(s));
}

/**
 * The batch lines that resolve every target again (two each, see the
 * header), and the targets left out because their address or interface name
 * cannot be written safely in a batch line (none, for names the kernel gives).
 */
export function reresolveLines(targets: readonly NeighborTarget[]): { lines: string[]; skipped: NeighborTarget[] } {
  const lines: string[] = [];
  const skipped: NeighborTarget[] = [];
  for (const t of targets) {
    if (ipv4ToNumber(t.address) === undefined || !PLAIN_IFNAME.test(t.dev)) {
      skipped.push(t);
      continue;
    }
    lines.push(`neigh replace ${t.address} dev ${t.dev} nud none`, `neigh replace ${t.address} dev ${t.dev} ${t.managed ? 'managed' : 'use'}`);
  }
  return { lines, skipped };
}

/**
 * Broadcast resolution of every target now, one `ip -batch` for all; on a
 * LAN the answers are in the table within milliseconds. Resolves to the
 * targets reresolveLines left out. Rejects with a HostError if a line failed
 * (e.g. an interface that went away); the other lines have run.
 */
export async function reresolveNeighbors(targets: readonly NeighborTarget[]): Promise<NeighborTarget[]> {
  const { lines, skipped } = reresolveLines(targets);
  await runIpBatch(lines);
  return skipped;
}

function malformed(what: string): HostError {
  return new HostError('EHOST_IP_OUTPUT', ['ip', '-j', ...SHOW_ARGS], what);
}
