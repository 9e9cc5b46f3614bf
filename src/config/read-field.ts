/**
 * Typed reads from config data that may not have passed the schema: each
 * returns undefined when the value is missing or of another type, so the
 * semantic checks can run on a partly invalid file and still report
 * everything they can. Pure.
 */

export type Fields = Readonly<Record<string, unknown>>;

export function asFields(value: unknown): Fields | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Fields) : undefined;
}

export function asList(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function asInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}

/** `value[key]` of a mapping, undefined for anything else. */
export function field(value: unknown, key: string): unknown {
  return asFields(value)?.[key];
}
