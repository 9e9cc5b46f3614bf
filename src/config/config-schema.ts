/**
 * The JSON Schema of the config file, schemas/config.schema.json: the one
 * source of field names, types, limits, descriptions and defaults (DESIGN.md
 * §2). Loaded as a module (JSON through `require`, cached by Node), so this
 * stage does no file I/O of its own. The path is relative to the compiled file,
 * dist/src/config/config-schema.js, and to src/config/config-schema.ts alike.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A (sub)schema, as far as this code reads it. */
export interface SchemaNode {
  readonly description?: string;
  readonly type?: string;
  readonly enum?: readonly unknown[];
  readonly default?: unknown;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly pattern?: string;
  readonly required?: readonly string[];
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly items?: SchemaNode;
  readonly $ref?: string;
  readonly $defs?: Readonly<Record<string, SchemaNode>>;
  readonly [keyword: string]: unknown;
}

function loadSchema(): SchemaNode {
  for (const candidate of ['../../../schemas/config.schema.json', '../../schemas/config.schema.json']) {
    try {
      return require(candidate) as SchemaNode;
    } catch (error) {
      if ((error as { code?: string }).code !== 'MODULE_NOT_FOUND') throw error;
    }
  }
  throw new Error('schemas/config.schema.json not found next to the agent (expected at the package root)');
}

export const CONFIG_SCHEMA: SchemaNode = loadSchema();

/** A named definition of the schema ($defs), e.g. 'duration'. */
export function schemaDef(name: string): SchemaNode {
  const def = CONFIG_SCHEMA.$defs?.[name];
  if (def === undefined) throw new Error(`config schema has no $defs/${name}`);
  return def;
}
