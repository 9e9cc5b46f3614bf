// The live config's digest (src/agent/config-digest.ts) is the SHA-256 of
// the DesiredState's JSON, hashed a service at a time: the pieces must make
// exactly the bytes JSON.stringify makes, for a small state and a large one
// with health checks (optional fields) in it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { configDigest } from '../../src/agent/config-digest.js';
import { parseConfig } from '../../src/config/index.js';
import type { DesiredState } from '../../src/model/index.js';
import { generateConfig } from '../../bench/support/generate-config.js';
import { desiredState } from '../support/desired-config.js';

function digestOfJson(state: DesiredState): bigint {
  return createHash('sha256').update(JSON.stringify(state)).digest().readBigUInt64BE(0);
}

describe('configDigest', () => {
  it('is the first 64 bits of the SHA-256 of the JSON of a state without services', () => {
    const state = desiredState({ services: [] });
    assert.equal(configDigest(state), digestOfJson(state));
  });

  it('is the same for 1,000 services with health checks, and changes with one weight', () => {
    const parse = (text: string): DesiredState => {
      const result = parseConfig(text, 'large.yaml', { localPortRange: [32768, 60999] });
      if (!result.ok) assert.fail(result.issues[0]?.message);
      return result.state;
    };
    const state = parse(generateConfig({ services: 1000, backendsPerService: 16 }));
    assert.equal(configDigest(state), digestOfJson(state));
    const edited = parse(generateConfig({ services: 1000, backendsPerService: 16, editWeight: { service: 501, backend: 3, weight: 7 } }));
    assert.notEqual(configDigest(edited), configDigest(state));
  });
});
