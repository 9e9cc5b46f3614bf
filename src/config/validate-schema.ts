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
import { CONFIG_SCHEMA } from './config-schema.js';
import { describeSchemaError } from './describe-schema-error.js';

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled === undefined) {
    const ajv = new Ajv2020({ allErrors: true, useDefaults: true, verbose: true, strict: true });
    addFormats.default(ajv, ['ipv4']);
    compiled = ajv.compile(CONFIG_SCHEMA);
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
