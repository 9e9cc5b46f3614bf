/*
 * Per-CPU traffic counters of every service and backend, summed over CPUs,
 * read at scrape time. The one place that decides how lb_svc_stats and
 * lb_be_stats are read, so that a faster reader replaces it alone.
 */
import type { LbTraffic } from '../datapath/codecs.js';
import type { DatapathMaps } from '../datapath/datapath-maps.js';

export interface TrafficReader {
  service(serviceId: number): LbTraffic;
  backend(backendId: number): LbTraffic;
}

/** Reads each id when asked (one lookup per id: ~1 µs each). */
export function readTraffic(maps: DatapathMaps): TrafficReader {
  return {
    service: (id) => maps.serviceTraffic(id),
    backend: (id) => maps.backendTraffic(id),
  };
}
