/**
 * One ajv error -> one finding an operator can act on: the path of the
 * offending value (of the key, for an unknown key) and a message in the
 * file's own terms ("unknown key", "a list", "a duration like 2s") rather
 * than JSON Schema's. Pure.
 */
import type { ErrorObject } from 'ajv/dist/2020.js';
import { finding, type ConfigFinding } from './config-issue.js';
import { CONFIG_SCHEMA, schemaDef, type SchemaNode } from './config-schema.js';
import { parseJsonPointer } from './format-json-path.js';

/**
 * What a value of these (sub)schemas should look like; used for type,
 * pattern and format errors on them, so a duration written as `2` and one
 * written as `2 s` get the same message.
 */
const EXPECTATIONS: ReadonlyMap<unknown, string> = (() => {
  const props = (node: SchemaNode | undefined): Readonly<Record<string, SchemaNode>> => node?.properties ?? {};
  return new Map<unknown, string>([
    [schemaDef('duration'), 'expected a duration like 2s or 1.5s'],
    [schemaDef('ipv4'), 'expected an IPv4 address like 198.18.0.10'],
    [schemaDef('interfaceName'), 'expected an interface name: 1 to 15 characters, no "/", ":" or whitespace'],
    [props(CONFIG_SCHEMA.properties?.snat)['ports'], 'expected a port range like "10000-32767"'],
    [props(CONFIG_SCHEMA.properties?.metrics)['listen'], 'expected IPv4ADDRESS:PORT like 127.0.0.1:9740'],
    [
      props(schemaDef('service'))['name'],
      'expected a name of letters, digits, "_", "." and "-", starting with a letter or digit, at most 63 characters',
    ],
    [props(schemaDef('healthCheck'))['path'], 'expected an HTTP path starting with "/" (printable ASCII, no spaces)'],
  ]);
})();

const TYPE_NAMES: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  null: 'nothing',
};

/** A value as the operator wrote it, briefly. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value;
    return JSON.stringify(shown);
  }
  return String(value);
}

function list(values: readonly unknown[]): string {
  return values.map((v) => String(v)).join(', ');
}

/** Damerau-Levenshtein (optimal string alignment) distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  const lower = key.toLowerCase().replace(/-/g, '_');
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of allowed) {
    const distance = editDistance(lower, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(key.length / 3)));
  if (best !== undefined && bestDistance <= limit) return `unknown key ${JSON.stringify(key)} (did you mean "${best}"?)`;
  if (allowed.length === 0) return `unknown key ${JSON.stringify(key)}`;
  return `unknown key ${JSON.stringify(key)}; expected one of ${list(allowed)}`;
}

function rangeMessage(schema: SchemaNode | undefined): string | undefined {
  const min = schema?.minimum;
  const max = schema?.maximum;
  if (min !== undefined && max !== undefined) return `must be between ${min} and ${max}`;
  if (min !== undefined) return `must be at least ${min}`;
  if (max !== undefined) return `must be at most ${max}`;
  return undefined;
}

/** The finding for one ajv error (ajv run with `verbose`), or undefined for errors that only repeat another. */
export function describeSchemaError(error: ErrorObject, data: unknown): ConfigFinding | undefined {
  const path = parseJsonPointer(error.instancePath, data);
  const parent = error.parentSchema as SchemaNode | undefined;
  const params = error.params as Record<string, unknown>;
  const expectation = EXPECTATIONS.get(parent);

  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params['additionalProperty']);
      const allowed = Object.keys(parent?.properties ?? {});
      return finding('unknown-key', [...path, key], unknownKeyMessage(key, allowed), { anchor: 'key' });
    }
    case 'required': {
      const key = String(params['missingProperty']);
      return finding('required', [...path, key], 'required key is missing');
    }
    case 'type': {
      if (expectation !== undefined) return finding('type', path, expectation);
      const wanted = String(params['type']);
      return finding('type', path, `expected ${TYPE_NAMES[wanted] ?? wanted}, got ${describeValue(error.data)}`);
    }
    case 'pattern':
      return finding('pattern', path, expectation ?? `must match the pattern ${String(params['pattern'])}`);
    case 'format':
      return finding('format', path, expectation ?? `must be a valid ${String(params['format'])}`);
    case 'enum':
      return finding('enum', path, `must be one of ${list((params['allowedValues'] as unknown[] | undefined) ?? [])}`);
    case 'const':
      return finding('const', path, `must be ${JSON.stringify(params['allowedValue'])}`);
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return finding('range', path, rangeMessage(parent) ?? `must be ${String(params['comparison'])} ${String(params['limit'])}`);
    case 'maxItems':
      return finding(
        'too-many',
        path,
        `at most ${String(params['limit'])} entries allowed, got ${Array.isArray(error.data) ? error.data.length : '?'}`,
      );
    case 'minItems':
      return finding('too-few', path, `at least ${String(params['limit'])} ${params['limit'] === 1 ? 'entry' : 'entries'} required`);
    case 'if':
      // "must match then schema": the failing keyword inside `then` is reported on its own.
      return undefined;
    default:
      return finding('schema', path, error.message ?? `fails the schema's "${error.keyword}" rule`);
  }
}
