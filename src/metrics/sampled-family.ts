/*
 * Metric families whose series are all computed at scrape time from one
 * sample, handed to prom-client's exposition writer as they are.
 *
 * prom-client's own path for this — collect() calling set()/inc() per
 * series — keeps a hash map keyed by each series' label values, which at
 * 16,000 backends (160,000 series) cost about as much again as writing the
 * exposition itself. These families override get(), the method the
 * registry calls at scrape time, and return the series directly: prom-client
 * still names, types, escapes and formats everything.
 */
import { Counter, Gauge, type LabelValues, type Registry } from 'prom-client';

export interface Series<N extends string> {
  readonly labels: LabelValues<N>;
  readonly value: number;
}

export interface SampledConfig<N extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly N[];
  readonly registers: Registry[];
  /** The family's series at this scrape. */
  readonly series: () => Series<N>[];
}

/* What Registry.metrics() reads from get(); prom-client's typings declare `type` as a numeric enum, the runtime uses these strings. */
type Exposed = Awaited<ReturnType<Gauge['get']>>;

function exposed(config: SampledConfig<string>, type: 'gauge' | 'counter'): Exposed {
  return { name: config.name, help: config.help, type, aggregator: 'sum', values: config.series() } as unknown as Exposed;
}

export class SampledGauge<N extends string> extends Gauge<N> {
  constructor(private readonly config: SampledConfig<N>) {
    super({ name: config.name, help: config.help, labelNames: config.labelNames, registers: config.registers });
  }

  override async get(): Promise<Exposed> {
    return exposed(this.config, 'gauge');
  }
}

export class SampledCounter<N extends string> extends Counter<N> {
  constructor(private readonly config: SampledConfig<N>) {
    super({ name: config.name, help: config.help, labelNames: config.labelNames, registers: config.registers });
  }

  override async get(): Promise<Exposed> {
    return exposed(this.config, 'counter');
  }
}
