import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const ROOT = new URL('../../../', import.meta.url);

function imports(dir: string): { file: string; from: string }[] {
  const url = new URL(`${dir}/`, ROOT);
  return readdirSync(url)
    .filter((name) => name.endsWith('.ts'))
    .flatMap((file) =>
      [...readFileSync(new URL(file, url), 'utf8').matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gms)].map((m) => ({
        file: `${dir}/${file}`,
        from: m[1] ?? '',
      })),
    );
}

describe('import graph of src/config and src/model', () => {
  it('src/model is a leaf: plain data and pure functions, no node: modules, no other stage', () => {
    for (const { file, from } of imports('src/model')) assert.match(from, /^\.\/[a-z0-9-]+\.js$/, `${file} imports ${from}`);
  });

  it('src/config is pure except its two readers; it uses only model, yaml and ajv', () => {
    const allowedNode: Record<string, string[]> = {
      'src/config/read-config-file.ts': ['node:fs/promises'],
      'src/config/read-local-port-range.ts': ['node:fs/promises'],
      // loads schemas/config.schema.json as a module (require of JSON), no file I/O of its own
      'src/config/config-schema.ts': ['node:module'],
    };
    const found = imports('src/config');
    assert.ok(found.length > 40, `only ${found.length} imports found: the scan is broken`);
    for (const { file, from } of found) {
      if (from.startsWith('node:')) {
        assert.ok(allowedNode[file]?.includes(from), `${file} imports ${from}`);
      } else {
        assert.match(from, /^(\.\/[a-z0-9-]+\.js|\.\.\/model\/[a-z0-9-]+\.js|yaml|ajv\/dist\/2020\.js|ajv-formats)$/, `${file} imports ${from}`);
      }
    }
  });

  it('the barrel does not pull in the readers', () => {
    const barrel = imports('src/config').filter((i) => i.file === 'src/config/index.ts').map((i) => i.from);
    assert.ok(!barrel.includes('./read-config-file.js') && !barrel.includes('./read-local-port-range.js'));
  });
});
