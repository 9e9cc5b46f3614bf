/*
 * The neighbour loop (DESIGN.md §1 background loops, §4 "have a resolved
 * MAC"): learns every backend's MAC from the kernel so an operator never
 * writes one, and owns lb_neigh, the runtime map the datapath reads per
 * packet (backend address -> MAC of its next hop). It tells the agent
 * through onChange which backends became resolved, unresolved or changed
 * MAC, so the agent re-plans their eligibility for new flows.
 *
 * One refresh, every refreshIntervalMs (fixed rate from its start):
 * 1. the kernel's route to every address (one `ip -batch`): its next hop is
 *    the address itself or a router;
 * 2. the neighbour table (one `ip -j neigh show`), to leave static entries
 *    alone and to see what the kernel learned since the last refresh;
 * 3. a broadcast resolution of every next hop (one `ip -batch`): nothing
 *    else would keep the entries fresh, since XDP_TX traffic never confirms
 *    them and a changed MAC comes without gratuitous ARP (why broadcast:
 *    src/host/neighbor-table.ts);
 * 4. after a short wait for the answers, the table again, and for each
 *    address the rules of neighbor-decision.ts; lb_neigh is then made to
 *    match (written only where it differs). So a changed MAC is in lb_neigh
 *    within one interval plus the answer wait, for new and existing flows.
 * Four processes per refresh however many backends; next hops shared by
 * many backends (a router) are resolved once.
 *
 * update() carries state across a reload: an address that stays keeps its
 * resolution (a reload never drops a MAC), a new one is resolved at once. A
 * removed one keeps its lb_neigh entry, refreshed like the others, while
 * live flows still go to it (asked at every refresh through flowsUse, also
 * about entries a restarted agent finds): removing a backend stops new flows
 * only, and its existing flows need its MAC for every packet (DESIGN.md §4).
 * Once no flow uses it, its entry goes. Nothing is refreshed before the
 * first update(): an empty set would delete the entries a restarted agent
 * still forwards with. A refresh that fails (an `ip` error) changes nothing
 * and is logged; the next one starts from the kernel's state again.
 */
import { nextHopsFor, type NextHop } from '../host/route-lookup.js';
import { mayReresolve, readNeighborTable, reresolveNeighbors, type NeighborEntry, type NeighborTarget } from '../host/neighbor-table.js';
import { ipv4ToNumber } from '../model/ipv4.js';
import type { BackgroundLoop, LoopContext } from './loop-context.js';
import { decideResolution, resolutionChanged, type NeighborObservation, type NeighborResolution } from './neighbor-decision.js';
import type { NeighborMaps } from './neighbor-map.js';

/** The kernel side, replaceable in tests. */
export interface NeighborHost {
  nextHops(addresses: readonly string[]): Promise<ReadonlyMap<string, NextHop>>;
  readTable(): Promise<readonly NeighborEntry[]>;
  /** Broadcast resolution now; resolves to the targets it could not name safely. */
  reresolve(targets: readonly NeighborTarget[]): Promise<readonly NeighborTarget[]>;
}

export const kernelNeighborHost: NeighborHost = {
  nextHops: nextHopsFor,
  readTable: readNeighborTable,
  reresolve: reresolveNeighbors,
};

/**
 * Longest wait for ARP answers before the table is read again (at most a
 * quarter of the interval). LAN answers take well under a millisecond; a
 * later one counts at the next refresh (rule 2 of neighbor-decision.ts).
 */
export const ANSWER_WAIT_MS = 100;

export interface NeighborResolverOptions {
  readonly maps: NeighborMaps;
  readonly context: LoopContext;
  readonly refreshIntervalMs: number;
  /** Addresses whose resolved state or MAC changed in a refresh. */
  readonly onChange: (changed: string[]) => void;
  /** The interface XDP_TX sends on: an address routed out of another is unresolved. Default: any. */
  readonly interface?: string;
  /** Default: kernelNeighborHost. */
  readonly host?: NeighborHost;
  /**
   * Which of these addresses (not in the config) live flows still send to.
   * Default: none, so a removed address loses its entry at once.
   */
  readonly flowsUse?: (addresses: readonly string[]) => Promise<ReadonlySet<string>>;
}

const UNRESOLVED: NeighborResolution = { state: 'unresolved' };

export class NeighborResolver implements BackgroundLoop {
  private readonly maps: NeighborMaps;
  private readonly context: LoopContext;
  private readonly onChange: (changed: string[]) => void;
  private readonly ifname: string | undefined;
  private readonly host: NeighborHost;
  private readonly flowsUse: NeighborResolverOptions['flowsUse'];
  private refreshIntervalMs: number;
  /** The backend addresses of the config; undefined until the first update(). */
  private addresses: Set<string> | undefined;
  /** Addresses out of the config that flows still used at the last look: kept resolved for them. */
  private retained = new Set<string>();
  private readonly resolutions = new Map<string, NeighborResolution>();
  private loop: 'new' | 'running' | 'stopped' = 'new';
  /** The armed timer of the next refresh. */
  private next: { handle: unknown } | undefined;
  /** The wait for ARP answers inside a refresh, which stop() cuts short. */
  private answerWait: { handle: unknown; resolve: () => void } | undefined;
  private pass: Promise<void> | undefined;
  /** update() added addresses during a refresh: run another right after it. */
  private again = false;
  private lastStartNs = 0n;

  constructor(options: NeighborResolverOptions) {
    checkInterval(options.refreshIntervalMs);
    this.maps = options.maps;
    this.context = options.context;
    this.onChange = options.onChange;
    this.ifname = options.interface;
    this.host = options.host ?? kernelNeighborHost;
    this.flowsUse = options.flowsUse;
    this.refreshIntervalMs = options.refreshIntervalMs;
  }

  /** Refreshes at once (if update() has given the addresses), then every interval. */
  start(): void {
    if (this.loop === 'stopped') throw new Error('NeighborResolver cannot start again after stop(): make a new one');
    if (this.loop === 'running') return;
    this.loop = 'running';
    this.refreshNow();
  }

  /** Cancels the timers and resolves once a refresh in progress has ended, without it touching lb_neigh. */
  async stop(): Promise<void> {
    this.loop = 'stopped';
    if (this.next !== undefined) this.context.timers.clearTimeout(this.next.handle);
    this.next = undefined;
    if (this.answerWait !== undefined) {
      this.context.timers.clearTimeout(this.answerWait.handle);
      this.answerWait.resolve();
      this.answerWait = undefined;
    }
    await this.pass;
  }

  /**
   * The backend addresses of the new config (duplicates allowed) and its
   * refresh interval. Returns the addresses it did not have (all of them at
   * the first call): the ones a refresh has yet to resolve.
   */
  update(addresses: Iterable<string>, refreshIntervalMs: number): string[] {
    checkInterval(refreshIntervalMs);
    const wanted = new Set(addresses);
    const previous = this.addresses ?? new Set<string>();
    // Those already known were checked when they came.
    const added: string[] = [];
    for (const address of wanted) {
      if (previous.has(address)) continue;
      if (ipv4ToNumber(address) === undefined) throw new RangeError(`not an IPv4 address: ${JSON.stringify(address)}`);
      added.push(address);
    }
    if (wanted.size !== previous.size || added.length > 0) {
      for (const address of previous) {
        if (wanted.has(address)) continue;
        // Its flows may still need the MAC: the next refresh asks, and forgets it if none does.
        if (this.flowsUse !== undefined) {
          this.retained.add(address);
          continue;
        }
        this.resolutions.delete(address);
        this.maps.deleteNeighbor(address);
      }
    }
    if (this.retained.size > 0) for (const address of wanted) this.retained.delete(address);
    const intervalChanged = refreshIntervalMs !== this.refreshIntervalMs;
    const first = this.addresses === undefined;
    this.addresses = wanted;
    this.refreshIntervalMs = refreshIntervalMs;
    if (this.loop === 'running') {
      if (first || added.length > 0) this.refreshNow();
      else if (intervalChanged && this.next !== undefined) this.arm();
    }
    return added;
  }

  /** What the last refresh concluded; unresolved (without a reason) before the address's first refresh. */
  resolution(address: string): NeighborResolution {
    return this.resolutions.get(address) ?? UNRESOLVED;
  }

  private get stopped(): boolean {
    return this.loop === 'stopped';
  }

  private refreshNow(): void {
    if (this.addresses === undefined) return;
    if (this.pass !== undefined) {
      this.again = true;
      return;
    }
    if (this.next !== undefined) this.context.timers.clearTimeout(this.next.handle);
    this.next = undefined;
    this.pass = this.refreshLogged().finally(() => {
      this.pass = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.refreshNow();
      } else {
        this.arm();
      }
    });
  }

  /** The timer of the next refresh, one interval after the start of the last. */
  private arm(): void {
    if (this.next !== undefined) this.context.timers.clearTimeout(this.next.handle);
    const elapsedMs = Number(this.context.clock() - this.lastStartNs) / 1e6;
    const next = {
      handle: this.context.timers.setTimeout(() => {
        if (this.next !== next) return;
        this.next = undefined;
        this.refreshNow();
      }, Math.max(0, this.refreshIntervalMs - elapsedMs)),
    };
    this.next = next;
  }

  private async refreshLogged(): Promise<void> {
    try {
      await this.refresh();
    } catch (error) {
      this.context.log.warn({ err: error }, 'neighbour refresh failed; lb_neigh left as it was');
    }
  }

  private async refresh(): Promise<void> {
    this.lastStartNs = this.context.clock();
    await this.recheckRetained();
    if (this.stopped) return;
    const addresses = [...this.kept()];
    const hops = await this.host.nextHops(addresses);
    if (this.stopped) return;
    const before = byNeighbor(await this.host.readTable());
    if (this.stopped) return;
    const targets = new Map<string, NeighborTarget>();
    for (const hop of hops.values()) {
      if (!this.sendsOn(hop)) continue;
      const key = neighborKey(hop.nextHop, hop.ifname);
      const entry = before.get(key);
      if (mayReresolve(entry)) targets.set(key, { address: hop.nextHop, dev: hop.ifname, managed: entry?.managed ?? false });
    }
    let after = before;
    if (targets.size > 0) {
      await this.reresolve([...targets.values()]);
      await this.waitForAnswers(Math.min(ANSWER_WAIT_MS, this.refreshIntervalMs / 4));
      if (this.stopped) return;
      after = byNeighbor(await this.host.readTable());
      if (this.stopped) return;
    }
    this.apply(addresses, (address) => {
      const hop = hops.get(address);
      if (hop === undefined) return { route: 'none' };
      if (!this.sendsOn(hop)) return { route: 'other-interface', nextHop: hop.nextHop };
      const key = neighborKey(hop.nextHop, hop.ifname);
      return { route: 'ok', nextHop: hop.nextHop, before: before.get(key), after: after.get(key) };
    });
  }

  /** The config's addresses and those retained for flows: what lb_neigh keeps. */
  private kept(): Set<string> {
    return new Set([...(this.addresses ?? []), ...this.retained]);
  }

  /**
   * Which addresses out of the config flows still use: those retained
   * before, and lb_neigh entries of no configured address (a restarted
   * agent's, or a failed refresh's leftovers). The others are forgotten;
   * apply() deletes their entries.
   */
  private async recheckRetained(): Promise<void> {
    if (this.flowsUse === undefined || this.addresses === undefined) return;
    const candidates = new Set(this.retained);
    for (const address of this.maps.neighbors().keys()) if (!this.addresses.has(address)) candidates.add(address);
    if (candidates.size === 0) return;
    const used = await this.flowsUse([...candidates]);
    // An update() during the scan may have configured some again.
    const configured = this.addresses;
    this.retained = new Set([...used].filter((a) => !configured.has(a)));
    for (const address of candidates) if (!configured.has(address) && !this.retained.has(address)) this.resolutions.delete(address);
  }

  private sendsOn(hop: NextHop): boolean {
    return this.ifname === undefined || hop.ifname === this.ifname;
  }

  /* A failed line (an interface gone) must not cost the others their answers: log, and read the table anyway. */
  private async reresolve(targets: NeighborTarget[]): Promise<void> {
    try {
      const skipped = await this.host.reresolve(targets);
      if (skipped.length > 0) this.context.log.warn({ skipped }, 'neighbours left to the kernel: names unfit for an ip batch line');
    } catch (error) {
      this.context.log.warn({ err: error }, 'resolving some neighbours failed');
    }
  }

  private waitForAnswers(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wait = {
        handle: this.context.timers.setTimeout(() => {
          this.answerWait = undefined;
          resolve();
        }, ms),
        resolve,
      };
      this.answerWait = wait;
    });
  }

  /** Decide every address, make lb_neigh match (strays included), report the changes. */
  private apply(addresses: readonly string[], observe: (address: string) => NeighborObservation): void {
    const live = this.maps.neighbors();
    const now = this.context.clock();
    const wanted = this.kept();
    const changed: string[] = [];
    for (const address of addresses) {
      // Removed by an update() during this refresh (without flowsUse): its entry is gone and must stay gone.
      if (!wanted.has(address)) continue;
      const inMap = live.get(address);
      // A restarted agent adopts the pinned MAC, so its flows keep going while the kernel re-resolves.
      const previous = this.resolutions.get(address) ?? (inMap === undefined ? undefined : { state: 'resolved', mac: inMap });
      const next = decideResolution(previous, observe(address), now);
      this.resolutions.set(address, next);
      if (next.state === 'resolved' && next.mac !== inMap) this.maps.putNeighbor(address, next.mac);
      if (next.state === 'unresolved' && inMap !== undefined) this.maps.deleteNeighbor(address);
      if (resolutionChanged(previous, next)) {
        changed.push(address);
        const { state, mac, nextHop, reason } = next;
        // Debug: at start every backend changes; the agent logs the totals at info.
        this.context.log.debug({ event: 'neighbor', address, state, mac, nextHop, reason }, 'backend neighbour changed');
      }
    }
    for (const address of live.keys()) if (!wanted.has(address)) this.maps.deleteNeighbor(address);
    if (changed.length === 0) return;
    try {
      this.onChange(changed);
    } catch (error) {
      this.context.log.error({ err: error }, 'neighbour onChange failed');
    }
  }
}

function checkInterval(ms: number): void {
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`refreshIntervalMs must be a positive number, not ${ms}`);
}

function neighborKey(address: string, dev: string): string {
  return `${address}%${dev}`;
}

function byNeighbor(entries: readonly NeighborEntry[]): Map<string, NeighborEntry> {
  return new Map(entries.map((e) => [neighborKey(e.address, e.dev), e]));
}
