/**
 * Semantic checks: the rules of DESIGN.md §2 that a JSON Schema cannot
 * express (uniqueness across entries, relations between fields, the
 * kernel's local port range). They read the data through read-field.ts, so
 * they also run on a file with schema errors and report what they can; a
 * finding on a value the schema already rejected is dropped by the caller.
 * Pure: the local port range is an input (read-local-port-range.ts reads it).
 */
import { ipv4ToNumber, nonUnicastReasonOf } from '../model/ipv4.js';
import { backendId, endpointKey, serviceId, type Protocol } from '../model/desired-state.js';
import { finding, type ConfigFinding } from './config-issue.js';
import { formatJsonPath, type PathSegment } from './format-json-path.js';
import { MAX_DURATION_MS, parseDuration } from './parse-duration.js';
import { parseListenAddress } from './parse-listen-address.js';
import { parsePortRange, rangesOverlap } from './parse-port-range.js';
import { asFields, asInteger, asList, asString, field } from './read-field.js';

export interface SemanticEnv {
  /** net.ipv4.ip_local_port_range of the network namespace the agent runs in, inclusive. */
  readonly localPortRange: readonly [number, number];
}

/** Backend ids the datapath has (lb_backends, LB_DEFAULT_MAX_BACKENDS), over all services. */
export const MAX_BACKENDS_TOTAL = 65536;

const CONNTRACK_TIMEOUTS = ['tcp_syn', 'tcp_established', 'tcp_closing', 'udp'] as const;

export function checkSemantics(data: unknown, env: SemanticEnv): ConfigFinding[] {
  const out: ConfigFinding[] = [];
  const uses = checkServices(data, out);
  checkSnat(data, env, uses, out);
  checkDurations(data, out);
  checkMetrics(data, out);
  return out;
}

interface VipUse {
  readonly name: string;
  readonly index: number;
}

/** Addresses the services use, for the checks against the SNAT pool. */
interface AddressUses {
  /** VIP -> the first service with it. */
  readonly vips: ReadonlyMap<string, VipUse>;
}

/**
 * Every backend address of the file, with the indexes of its service and
 * of it in that service, read from the data again when asked: a large file
 * has tens of thousands of backends, and a list of them would be garbage
 * made on every reload for checks that find nothing as a rule.
 */
function forEachBackendAddress(data: unknown, visit: (address: string, service: number, backend: number) => void): void {
  const services = asList(field(data, 'services'));
  for (let i = 0; i < services.length; i++) {
    const backends = asList(field(services[i], 'backends'));
    for (let j = 0; j < backends.length; j++) {
      const address = asString(field(backends[j], 'address'));
      if (address !== undefined) visit(address, i, j);
    }
  }
}

/** Paths are made only for findings. */
function addressPath(service: number, backend: number): PathSegment[] {
  return ['services', service, 'backends', backend, 'address'];
}

function protocolOf(value: unknown): Protocol | undefined {
  return value === 'tcp' || value === 'udp' ? value : undefined;
}

/** Why `address` cannot be used as `what`, or undefined when it can (or is not an address: the schema reports that). */
function nonUnicast(address: string | undefined, what: string, n = address === undefined ? undefined : ipv4ToNumber(address)): string | undefined {
  if (address === undefined || n === undefined) return undefined;
  const reason = nonUnicastReasonOf(n);
  return reason === undefined ? undefined : `${what} ${address} ${reason}`;
}

function unicast(address: string | undefined, path: readonly PathSegment[], what: string, out: ConfigFinding[]): void {
  const problem = nonUnicast(address, what);
  if (problem !== undefined) out.push(finding('address-not-unicast', path, problem));
}

/** Checks services and their backends; returns the addresses they use. */
function checkServices(data: unknown, out: ConfigFinding[]): AddressUses {
  const services = asList(field(data, 'services'));
  const names = new Map<string, number>();
  const identities = new Map<string, number>();
  const vips = new Map<string, VipUse>();
  let totalBackends = 0;

  services.forEach((service, i) => {
    const at = (...rest: PathSegment[]): PathSegment[] => ['services', i, ...rest];
    const name = asString(field(service, 'name'));
    const vip = asString(field(service, 'vip'));
    const port = asInteger(field(service, 'port'));
    const protocol = protocolOf(field(service, 'protocol'));
    const label = (): string => (name === undefined ? formatJsonPath(at()) : `"${name}"`);

    if (name !== undefined) {
      const first = names.get(name);
      if (first === undefined) names.set(name, i);
      else {
        const message = `duplicate service name "${name}": already used by services[${first}]`;
        out.push(finding('duplicate-service-name', at('name'), message));
      }
    }
    unicast(vip, at('vip'), 'VIP', out);
    if (vip !== undefined && !vips.has(vip)) vips.set(vip, { name: name ?? formatJsonPath(at()), index: i });
    if (vip !== undefined && port !== undefined && protocol !== undefined) {
      const id = serviceId(vip, port, protocol);
      const first = identities.get(id);
      if (first === undefined) identities.set(id, i);
      else {
        const firstName = asString(field(services[first], 'name'));
        const by = firstName === undefined ? `services[${first}]` : `services[${first}] ("${firstName}")`;
        out.push(finding('duplicate-service', at(), `duplicate service ${id}: already defined by ${by}`));
      }
    }

    const backendsValue = field(service, 'backends');
    const backends = asList(backendsValue);
    totalBackends += backends.length;
    if (Array.isArray(backendsValue) && backends.length === 0) {
      out.push(
        finding('empty-backends', at('backends'), `service ${label()} has no backends: its new flows will be dropped`, {
          severity: 'warning',
        }),
      );
    }
    // Backends by endpointKey (a number, not a string per backend) -> first index.
    const seen = new Map<number | string, number>();
    let warnedWeights = false;
    const scheduler = asString(field(service, 'scheduler'));
    for (let j = 0; j < backends.length; j++) {
      const backend = asFields(backends[j]);
      const address = asString(backend?.['address']);
      const portValue = backend?.['port'];
      const backendPort = portValue === undefined ? port : asInteger(portValue);
      // Parsed once for both checks below: this loop runs for every backend of the file.
      const n = address === undefined ? undefined : ipv4ToNumber(address);
      const problem = nonUnicast(address, 'backend address', n);
      if (problem !== undefined) out.push(finding('address-not-unicast', at('backends', j, 'address'), problem));
      if (address !== undefined && backendPort !== undefined) {
        const key = endpointKey(address, backendPort, n);
        const first = seen.get(key);
        if (first === undefined) seen.set(key, j);
        else {
          const message = `duplicate backend ${backendId(address, backendPort)} in service ${label()}: already listed as backends[${first}]`;
          out.push(finding('duplicate-backend', at('backends', j), message));
        }
      }
      const weight = asInteger(backend?.['weight']);
      if (scheduler === 'round_robin' && weight !== undefined && weight > 1 && !warnedWeights) {
        warnedWeights = true;
        out.push(
          finding(
            'weights-ignored',
            at('backends', j, 'weight'),
            'round_robin ignores weights (only 0 excludes a backend); use weighted_round_robin for shares by weight',
            { severity: 'warning' },
          ),
        );
      }
    }

    checkHealthCheck(field(service, 'health_check'), at, out);
  });

  if (totalBackends > MAX_BACKENDS_TOTAL) {
    out.push(finding('too-many-backends', ['services'], `${totalBackends} backends in all; at most ${MAX_BACKENDS_TOTAL} are supported`));
  }
  forEachBackendAddress(data, (address, i, j) => {
    const use = vips.get(address);
    if (use !== undefined) {
      const message = `backend address ${address} is the VIP of service "${use.name}": a backend must be another host`;
      out.push(finding('backend-is-local', addressPath(i, j), message));
    }
  });
  // SNAT addresses as backends are reported by checkSnat, which knows the pool.
  return { vips };
}

/** `serviceAt(...rest)`: a path under the service, made only for a finding. */
function checkHealthCheck(value: unknown, serviceAt: (...rest: PathSegment[]) => PathSegment[], out: ConfigFinding[]): void {
  const check = asFields(value);
  if (check === undefined) return;
  const path = (key: string): PathSegment[] => serviceAt('health_check', key);
  const type = asString(check['type']);
  if (type !== undefined && type !== 'http') {
    for (const key of ['path', 'expect_status']) {
      if (key in check) {
        out.push(
          finding('http-only', path(key), `"${key}" applies to http health checks only (type is ${type})`, { anchor: 'key' }),
        );
      }
    }
  }
  const intervalText = asString(check['interval']);
  const timeoutText = asString(check['timeout']);
  const interval = intervalText === undefined ? undefined : parseDuration(intervalText);
  const timeout = timeoutText === undefined ? undefined : parseDuration(timeoutText);
  if (interval !== undefined && timeout !== undefined && interval > 0 && timeout >= interval) {
    out.push(
      finding('health-timeout', path('timeout'), `timeout (${timeoutText}) must be shorter than interval (${intervalText})`),
    );
  }
}

function checkSnat(data: unknown, env: SemanticEnv, uses: AddressUses, out: ConfigFinding[]): void {
  const snat = field(data, 'snat');
  const seen = new Map<string, number>();
  asList(field(snat, 'addresses')).forEach((value, k) => {
    const address = asString(value);
    if (address === undefined) return;
    const path = ['snat', 'addresses', k];
    unicast(address, path, 'SNAT address', out);
    const first = seen.get(address);
    if (first !== undefined) {
      out.push(finding('duplicate-snat-address', path, `duplicate SNAT address ${address}: already listed as snat.addresses[${first}]`));
      return;
    }
    seen.set(address, k);
    const vip = uses.vips.get(address);
    if (vip !== undefined) out.push(finding('snat-is-vip', path, `SNAT address ${address} is also the VIP of service "${vip.name}"`));
  });
  if (seen.size > 0) {
    forEachBackendAddress(data, (address, i, j) => {
      if (seen.has(address)) {
        const message = `backend address ${address} is a SNAT address of this balancer: a backend must be another host`;
        out.push(finding('backend-is-local', addressPath(i, j), message));
      }
    });
  }

  const portsText = asString(field(snat, 'ports'));
  const ports = portsText === undefined ? undefined : parsePortRange(portsText);
  if (ports === undefined) return;
  const path = ['snat', 'ports'];
  if (ports.low < 1 || ports.high > 65535) {
    out.push(finding('range', path, `ports must be between 1 and 65535, got ${portsText}`));
  } else if (ports.low > ports.high) {
    out.push(finding('snat-ports-order', path, `the low port ${ports.low} is above the high port ${ports.high}`));
  } else {
    const [low, high] = env.localPortRange;
    if (rangesOverlap(ports, { low, high })) {
      out.push(
        finding(
          'snat-local-port-overlap',
          path,
          `SNAT ports ${portsText} overlap the kernel's local port range ${low}-${high} ` +
            '(net.ipv4.ip_local_port_range); choose ports outside it',
        ),
      );
    }
  }
}

interface DurationField {
  readonly path: PathSegment[];
  readonly zeroAllowed: boolean;
}

const GLOBAL_DURATIONS: readonly DurationField[] = [
  { path: ['snat', 'reuse_after'], zeroAllowed: true },
  ...CONNTRACK_TIMEOUTS.map((key) => ({ path: ['conntrack', 'timeouts', key], zeroAllowed: false })),
  { path: ['conntrack', 'gc_interval'], zeroAllowed: false },
  { path: ['neighbors', 'refresh_interval'], zeroAllowed: false },
];

const HEALTH_CHECK_DURATIONS = ['interval', 'timeout'] as const;

function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let node = data;
  for (const segment of path) node = typeof segment === 'number' ? asList(node)[segment] : field(node, segment);
  return node;
}

/** A duration's bounds; `path` is made only for a finding. */
function checkDuration(value: unknown, zeroAllowed: boolean, path: () => PathSegment[], out: ConfigFinding[]): void {
  const text = asString(value);
  const ms = text === undefined ? undefined : parseDuration(text);
  if (ms === undefined) return;
  if (ms > MAX_DURATION_MS) out.push(finding('duration-too-long', path(), `must be at most ${MAX_DURATION_MS / 3_600_000}h`));
  else if (ms === 0 && !zeroAllowed) out.push(finding('duration-zero', path(), 'must be at least 1ms'));
}

function checkDurations(data: unknown, out: ConfigFinding[]): void {
  for (const { path, zeroAllowed } of GLOBAL_DURATIONS) checkDuration(valueAt(data, path), zeroAllowed, () => [...path], out);
  asList(field(data, 'services')).forEach((service, i) => {
    const check = field(service, 'health_check');
    for (const key of HEALTH_CHECK_DURATIONS) checkDuration(field(check, key), false, () => ['services', i, 'health_check', key], out);
  });

  const gcText = asString(valueAt(data, ['conntrack', 'gc_interval']));
  const gc = gcText === undefined ? undefined : parseDuration(gcText);
  if (gc === undefined) return;
  let shortest: { key: string; text: string; ms: number } | undefined;
  for (const key of CONNTRACK_TIMEOUTS) {
    const text = asString(valueAt(data, ['conntrack', 'timeouts', key]));
    const ms = text === undefined ? undefined : parseDuration(text);
    if (text !== undefined && ms !== undefined && ms > 0 && (shortest === undefined || ms < shortest.ms)) shortest = { key, text, ms };
  }
  if (shortest !== undefined && gc > shortest.ms) {
    out.push(
      finding(
        'gc-interval',
        ['conntrack', 'gc_interval'],
        `gc_interval (${gcText}) is longer than the shortest conntrack timeout (${shortest.key}: ${shortest.text}): ` +
          'expired flows stay up to gc_interval longer',
        { severity: 'warning' },
      ),
    );
  }
}

function checkMetrics(data: unknown, out: ConfigFinding[]): void {
  const listen = asString(field(field(data, 'metrics'), 'listen'));
  if (listen === undefined) return;
  const parsed = parseListenAddress(listen);
  if ('problem' in parsed) out.push(finding('listen-address', ['metrics', 'listen'], parsed.problem));
}
