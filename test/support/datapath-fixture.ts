/*
 * The built datapath object, loaded (not attached) for BPF_PROG_TEST_RUN,
 * with a base scenario helpers can fill: one balancer NIC, clients, two or
 * more backends, a SNAT pool.
 */
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { BpfObject } from '../../src/kernel/bpf-object.js';
import { testRun } from '../../src/kernel/prog-test-run.js';
import { DatapathMaps } from '../../src/datapath/datapath-maps.js';
import { buildSchedulerTable } from '../../src/sched/index.js';
import { IPPROTO_TCP, IPPROTO_UDP, LbAddrRole, type SchedulerName } from '../../src/datapath/codecs.js';

export const OBJECT_PATH = fileURLToPath(new URL('../../../build/bpf/xdp4slb.bpf.o', import.meta.url));

export const XDP_VERDICTS = ['ABORTED', 'DROP', 'PASS', 'TX', 'REDIRECT'] as const;
export type XdpVerdict = (typeof XDP_VERDICTS)[number];

export const LB_MAC = '02:00:5e:00:00:01';
export const SNAT_IP = '198.18.0.5';
export const VIP = '198.18.0.10';

export interface TestBackend {
  id: number;
  ip: string;
  port: number;
  mac: string;
}

export const RS1: TestBackend = { id: 1, ip: '198.18.0.2', port: 8080, mac: '02:00:5e:00:01:02' };
export const RS2: TestBackend = { id: 2, ip: '198.18.0.3', port: 8080, mac: '02:00:5e:00:01:03' };
export const RS3: TestBackend = { id: 3, ip: '198.18.0.4', port: 8080, mac: '02:00:5e:00:01:04' };

export interface TestClient {
  ip: string;
  mac: string;
}

export const CLIENT: TestClient = { ip: '198.18.1.1', mac: '02:00:5e:00:02:01' };
export const CLIENT2: TestClient = { ip: '198.18.1.2', mac: '02:00:5e:00:02:02' };

export interface RunResult {
  verdict: XdpVerdict;
  out: Buffer;
}

/** Small map sizes keep loading fast; tests that need scale pass their own. */
export const TEST_MAP_SIZES: Record<string, number> = {
  lb_services: 64,
  lb_sched: 64,
  lb_rr: 64,
  lb_svc_stats: 64,
  lb_backends: 1024,
  lb_be_stats: 1024,
  lb_ct: 262144,
  lb_snat: 262144,
};

export class LoadedDatapath {
  readonly maps: DatapathMaps;
  readonly progFd: number;

  private constructor(private readonly obj: BpfObject) {
    this.maps = DatapathMaps.fromObject(obj);
    this.progFd = obj.program('lb_xdp').fd;
  }

  static load(maxEntries: Record<string, number> = TEST_MAP_SIZES): LoadedDatapath {
    if (!existsSync(OBJECT_PATH)) throw new Error(`${OBJECT_PATH} is missing: run \`npm run build\` first`);
    const obj = BpfObject.open(OBJECT_PATH, { maxEntries });
    try {
      obj.load();
      return new LoadedDatapath(obj);
    } catch (err) {
      obj.close();
      throw err;
    }
  }

  /** One run, on a private copy of the frame (the kernel copies it in anyway). */
  run(frame: Buffer): RunResult {
    const res = testRun(this.progFd, frame);
    const verdict = XDP_VERDICTS[res.retval];
    if (verdict === undefined) throw new Error(`unexpected XDP verdict ${res.retval}`);
    return { verdict, out: Buffer.from(res.dataOut) };
  }

  /** A service with a scheduler table over the given backends, each with its MAC resolved. */
  addService(opts: {
    id: number;
    vip?: string;
    port?: number;
    proto?: 'tcp' | 'udp';
    scheduler?: SchedulerName;
    backends: readonly TestBackend[];
    weights?: readonly number[];
    resolveMacs?: boolean;
  }): void {
    const vip = opts.vip ?? VIP;
    this.maps.putAddress(vip, LbAddrRole.VIP);
    this.maps.putService(
      { vip, port: opts.port ?? 80, proto: opts.proto === 'udp' ? IPPROTO_UDP : IPPROTO_TCP },
      opts.id,
    );
    for (const be of opts.backends) {
      this.maps.putBackend(be.id, { ip: be.ip, port: be.port });
      if (opts.resolveMacs ?? true) this.maps.putNeighbor(be.ip, be.mac);
    }
    this.setBackends(opts.id, opts.scheduler ?? 'round_robin', opts.backends, opts.weights);
  }

  setBackends(
    serviceId: number,
    scheduler: SchedulerName,
    backends: readonly TestBackend[],
    weights?: readonly number[],
  ): void {
    const table = buildSchedulerTable(
      scheduler,
      backends.map((be, i) => ({ id: be.id, key: `${be.ip}:${be.port}`, weight: weights?.[i] ?? 1 })),
    );
    this.maps.putSchedulerTable(serviceId, table);
  }

  setSnatPool(opts: { addrs?: string[]; portMin?: number; portMax?: number; reuseAfterNs?: bigint } = {}): void {
    const addrs = opts.addrs ?? [SNAT_IP];
    for (const ip of addrs) this.maps.putAddress(ip, LbAddrRole.SNAT);
    this.maps.putSnatPool({
      addrs,
      portMin: opts.portMin ?? 10000,
      portMax: opts.portMax ?? 32767,
      reuseAfterNs: opts.reuseAfterNs ?? 1_000_000_000n,
    });
  }

  close(): void {
    this.obj.close();
  }
}
