/**
 * Schema validation: the config data against schemas/config.schema.json, with
 * ajv compiled once (draft 2020-12, all errors, ipv4 from ajv-formats). The
 * schema's `default`s are written into the data as it is validated
 * (`useDefaults`), so the schema stays the one source of defaults. Pure,
 * apart from that deliberate mutation of the data it is given.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { ConfigFinding } from './config-issue.js';
import { CONFIG_SCHEMA, type SchemaNode } from './config-schema.js';
import { describeSchemaError } from './describe-schema-error.js';

let compiled: ValidateFunction | undefined;

const DEFS_REF = '#/$defs/';

/**
 * The schema with each `$ref` to a definition replaced by an `allOf` of
 * that definition (beside the annotations the reference carries, which
 * are only `description` and `default`). ajv compiles a definition that
 * has a `$ref` inside into a function of its own, called with a fresh
 * context object and path string for every value checked against it: for
 * the 16,000 backends of a large config, that was half the time of the
 * validation and 2 MB of garbage per reload. Inlined, the checks and their
 * errors are the same. Nodes with no `$ref` below them are kept as they
 * are (describe-schema-error.ts knows some of them by identity); a
 * recursive definition would keep its `$ref`.
 */
function inlineDefinitions(root: SchemaNode): SchemaNode {
  const inlined = new Map<string, unknown>();
  const visit = (node: unknown, open: ReadonlySet<string>): unknown => {
    if (Array.isArray(node)) {
      const items = node.map((item) => visit(item, open));
      return items.every((item, i) => item === node[i]) ? node : items;
    }
    if (node === null || typeof node !== 'object') return node;
    const { $ref, ...rest } = node as SchemaNode;
    const fields = Object.entries(rest).map(([key, value]) => [key, visit(value, open)] as const);
    const changed = fields.some(([key, value]) => value !== (rest as Record<string, unknown>)[key]);
    if (typeof $ref === 'string' && $ref.startsWith(DEFS_REF) && !open.has($ref)) {
      const name = $ref.slice(DEFS_REF.length);
      if (!inlined.has(name)) inlined.set(name, visit(root.$defs?.[name], new Set([...open, $ref])));
      return { ...Object.fromEntries(fields), allOf: [inlined.get(name)] };
    }
    return changed ? { ...(typeof $ref === 'string' ? { $ref } : {}), ...Object.fromEntries(fields) } : node;
  };
  return visit(root, new Set()) as SchemaNode;
}

function validator(): ValidateFunction {
  if (compiled === undefined) {
    const ajv = new Ajv2020({ allErrors: true, useDefaults: true, verbose: true, strict: true });
    addFormats.default(ajv, ['ipv4']);
    compiled = ajv.compile(inlineDefinitions(CONFIG_SCHEMA));
  }
  return compiled;
}

/**
 * Validates `data` in place (missing fields get their defaults) and returns
 * one finding per problem, in the order ajv found them.
 */
export function validateSchema(data: unknown): ConfigFinding[] {
  const validate = validator();
  if (validate(data)) return [];
  const errors: readonly ErrorObject[] = validate.errors ?? [];
  const findings: ConfigFinding[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    const found = describeSchemaError(error, data);
    if (found === undefined) continue;
    const key = `${found.path.join('\u0000')}\u0001${found.anchor}\u0001${found.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    findings.push(found);
  }
  return findings;
}
