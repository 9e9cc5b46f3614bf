import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkSemantics, MAX_BACKENDS_TOTAL, parseConfig } from '../../src/config/index.js';
import { loadDocument } from '../../src/config/load-config.js';
import { parseLoadedConfig } from '../../src/config/parse-config.js';

const ENV = { localPortRange: [32768, 60999] as [number, number] };

describe('checkSemantics on plain data', () => {
  it('limits the backends of all services together to the datapath ids', () => {
    const services = Array.from({ length: 257 }, (_, i) => ({
      name: `s${i}`,
      vip: `198.18.${(i >> 8) + 1}.${i & 255}`,
      port: 80,
      protocol: 'tcp',
      backends: Array.from({ length: 256 }, (_, j) => ({ address: `198.19.${i & 255}.${j}`, port: 80 + (i >> 8) })),
    }));
    const codes = checkSemantics({ services }, ENV).map((f) => [f.code, f.path.join('.'), f.message]);
    assert.deepEqual(codes, [['too-many-backends', 'services', `65792 backends in all; at most ${MAX_BACKENDS_TOTAL} are supported`]]);
  });

  it('never throws, whatever the shape of the data', () => {
    const junk: unknown[] = [null, 0, 'x', [], {}, { services: 'x' }, { services: [null, 1, [], { backends: {} }] }];
    junk.push({ snat: { addresses: [1, null, {}], ports: 5 }, services: [{ backends: [null, 1, { address: 2 }] }] });
    junk.push({ services: [{ health_check: [] }, { health_check: { interval: 1, timeout: {} } }], conntrack: [] });
    for (const value of junk) assert.doesNotThrow(() => checkSemantics(value, ENV), JSON.stringify(value));
  });
});

describe('parseConfig never throws', () => {
  it('on random text made of YAML punctuation and config words, and gives what the yaml document API would', () => {
    const pieces = ['\n', ' ', '  ', '- ', ': ', '{', '}', '[', ']', ',', '"', "'", '&a ', '*a', '!!str ', '#', '---', '...', '|', '>',
      'interface', 'snat', 'addresses', 'services', 'backends', 'port', 'vip', '198.18.0.5', '80', '2s', 'null', 'true', '\t'];
    let seed = 12345;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let round = 0; round < 2000; round++) {
      let text = '';
      const length = 1 + next(40);
      for (let k = 0; k < length; k++) text += pieces[next(pieces.length)];
      const result = parseConfig(text, 'f.yaml', ENV);
      assert.deepEqual(result, parseLoadedConfig(loadDocument(text, 'f.yaml'), 'f.yaml', ENV), JSON.stringify(text));
      if (!result.ok) {
        for (const issue of result.issues) {
          assert.ok(issue.line !== null && issue.line >= 1 && issue.col !== null && issue.col >= 1, JSON.stringify({ text, issue }));
        }
      }
    }
  });
});
