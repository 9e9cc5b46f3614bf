/*
 * Per-CPU traffic counters of every service and backend, summed over CPUs,
 * read at scrape time: one batch walk of lb_svc_stats and one of
 * lb_be_stats (arrays indexed by datapath id), up to the highest id in use.
 */
import type { LbTraffic } from '../datapath/codecs.js';
import type { DatapathMaps } from '../datapath/datapath-maps.js';

export interface TrafficReader {
  service(serviceId: number): LbTraffic;
  backend(backendId: number): LbTraffic;
}

/** Every id up to the highest given (-1: none), read now. */
export function readTraffic(maps: DatapathMaps, maxServiceId: number, maxBackendId: number): TrafficReader {
  const services = maps.serviceTrafficUpTo(maxServiceId);
  const backends = maps.backendTrafficUpTo(maxBackendId);
  const at = (table: readonly LbTraffic[], id: number, what: string): LbTraffic => {
    const traffic = table[id];
    if (traffic === undefined) throw new RangeError(`${what} ${id} is beyond the traffic read`);
    return traffic;
  };
  return {
    service: (id) => at(services, id, 'service id'),
    backend: (id) => at(backends, id, 'backend id'),
  };
}
