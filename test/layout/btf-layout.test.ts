/*
 * C and TypeScript cannot drift: every codec's size, field offsets and
 * field sizes are checked against the BTF of the built object, and the
 * constants mirrored in codecs.ts against bpf/lb_consts.h.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as codecs from '../../src/datapath/codecs.js';
import { OBJECT_PATH } from '../support/datapath-fixture.js';

interface BtfMember {
  name: string;
  type_id: number;
  bits_offset: number;
}
interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: BtfMember[];
}

function loadBtf(): Map<number, BtfType> {
  const json = execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', OBJECT_PATH], { encoding: 'utf8' });
  const types = (JSON.parse(json) as { types: BtfType[] }).types;
  return new Map(types.map((t) => [t.id, t]));
}

function sizeOf(btf: Map<number, BtfType>, id: number): number {
  const t = btf.get(id);
  assert.ok(t, `BTF type ${id} missing`);
  switch (t.kind) {
    case 'INT':
    case 'STRUCT':
    case 'UNION':
    case 'ENUM':
      return t.size!;
    case 'TYPEDEF':
    case 'CONST':
    case 'VOLATILE':
      return sizeOf(btf, t.type_id!);
    case 'ARRAY':
      return t.nr_elems! * sizeOf(btf, t.type_id!);
    default:
      throw new Error(`unexpected BTF kind ${t.kind} for type ${id}`);
  }
}

describe('codec layouts match the BTF of the built object', () => {
  const btf = loadBtf();
  const structs = new Map([...btf.values()].filter((t) => t.kind === 'STRUCT' && t.name).map((t) => [t.name!, t]));

  for (const codec of codecs.STRUCT_CODECS) {
    it(`struct ${codec.name}`, () => {
      const st = structs.get(codec.name);
      assert.ok(st, `struct ${codec.name} is not in the object's BTF`);
      assert.equal(codec.size, st.size, `sizeof(struct ${codec.name})`);
      const inBtf: Record<string, [number, number]> = {};
      for (const m of st.members!) {
        assert.equal(m.bits_offset % 8, 0, `${codec.name}.${m.name} is a bitfield`);
        inBtf[m.name] = [m.bits_offset / 8, sizeOf(btf, m.type_id)];
      }
      const inCodec: Record<string, [number, number]> = {};
      for (const [name, offset] of Object.entries(codec.fields)) inCodec[name] = [offset, codec.fieldSizes[name]!];
      for (const [name, offset] of Object.entries(codec.padding)) inCodec[name] = [offset, inBtf[name]?.[1] ?? -1];
      assert.deepEqual(inCodec, inBtf, `[offset, size] of every member of struct ${codec.name}`);
    });
  }
});

describe('constants mirrored in codecs.ts match bpf/lb_consts.h', () => {
  const header = readFileSync(fileURLToPath(new URL('../../../bpf/lb_consts.h', import.meta.url)), 'utf8');
  const cValues = new Map<string, number>();
  const evalC = (expr: string): number | undefined => {
    const e = expr.trim().replace(/u$/i, '');
    const shift = /^(\d+)\s*<<\s*(\d+)$/.exec(e);
    if (shift) return Number(shift[1]) << Number(shift[2]);
    const n = /^(0x[0-9a-f]+|\d+)u?$/i.exec(e);
    return n ? Number(n[1]) : undefined;
  };
  for (const m of header.matchAll(/^#define\s+(LB_\w+)\s+(\S+)/gm)) {
    const v = evalC(m[2]!);
    if (v !== undefined) cValues.set(m[1]!, v);
  }
  for (const m of header.matchAll(/^\s+(LB_\w+)\s*=\s*([^,]+),/gm)) {
    const v = evalC(m[2]!);
    if (v !== undefined) cValues.set(m[1]!, v);
  }

  const mirrored: Record<string, number> = {
    LB_MAX_SNAT_ADDRS: codecs.LB_MAX_SNAT_ADDRS,
    LB_MAGLEV_TABLE_SIZE: codecs.LB_MAGLEV_TABLE_SIZE,
    LB_SCHED_HDR_LEN_MASK: codecs.LB_SCHED_HDR_LEN_MASK,
    LB_SCHED_HDR_SCHED_SHIFT: codecs.LB_SCHED_HDR_SCHED_SHIFT,
    LB_PICK_ATTEMPTS: codecs.LB_PICK_ATTEMPTS,
    LB_SNAT_ATTEMPTS: codecs.LB_SNAT_ATTEMPTS,
    LB_DEFAULT_MAX_SERVICES: codecs.LB_DEFAULT_MAX_SERVICES,
    LB_DEFAULT_MAX_BACKENDS: codecs.LB_DEFAULT_MAX_BACKENDS,
    LB_DEFAULT_MAX_FLOWS: codecs.LB_DEFAULT_MAX_FLOWS,
    LB_DEFAULT_MAX_NEIGHBORS: codecs.LB_DEFAULT_MAX_NEIGHBORS,
    LB_DEFAULT_MAX_ADDRS: codecs.LB_DEFAULT_MAX_ADDRS,
    LB_CNT_MAX: codecs.LB_CNT_MAX,
    LB_SERVICE_NAME_LEN: codecs.LB_SERVICE_NAME_LEN,
    LB_IFNAME_LEN: codecs.LB_IFNAME_LEN,
  };
  const prefixed = (prefix: string, values: Record<string, number>): void => {
    for (const [name, v] of Object.entries(values)) mirrored[`${prefix}${name}`] = v;
  };
  prefixed('LB_SCHED_', codecs.LbScheduler);
  prefixed('LB_ADDR_', codecs.LbAddrRole);
  prefixed('LB_CT_', codecs.LbConnState);
  prefixed('LB_CNT_', codecs.LbCounter);
  const upper = (values: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.entries(values).map(([k, v]) => [k.toUpperCase(), v]));
  prefixed('LB_BE_', upper(codecs.LbBackendAdmin));
  prefixed('LB_XDP_', upper(codecs.LbXdpMode));
  prefixed('LB_HEALTH_', upper(codecs.LbHealth));
  prefixed('LB_RES_', upper(codecs.LbResolution));
  prefixed('LB_RELOAD_', upper(codecs.LbReloadResult));

  it('every mirrored constant has the C value', () => {
    const fromC = Object.fromEntries(Object.keys(mirrored).map((name) => [name, cValues.get(name)]));
    assert.deepEqual(mirrored, fromC);
  });

  it('every C enum member and limit is mirrored', () => {
    const missing = [...cValues.keys()].filter((name) => !(name in mirrored) && name !== 'LB_CT_CLOSING_MASK');
    assert.deepEqual(missing, []);
  });

  it('counter names cover every counter', () => {
    assert.equal(codecs.COUNTER_NAMES.length, codecs.LB_CNT_MAX);
  });
});
