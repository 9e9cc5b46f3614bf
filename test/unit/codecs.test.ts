import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  COUNTER_NAMES,
  LB_CNT_MAX,
  LB_CT_CLOSING_MASK,
  LB_MAGLEV_TABLE_SIZE,
  LB_MAX_SNAT_ADDRS,
  LbConnState,
  LbCounter,
  LbScheduler,
  SCHEDULER_IDS,
  STRUCT_CODECS,
  addTraffic,
  decodeIpv4Key,
  decodePerCpu,
  decodePerCpuTrafficSum,
  decodePerCpuU64Sum,
  decodeU32,
  encodeIpv4Key,
  encodePerCpu,
  encodeU32,
  encodeU64,
  ipv4ToUint32,
  lbBackend,
  lbConn,
  lbFlowKey,
  lbNeigh,
  lbService,
  lbServiceKey,
  lbSnatPool,
  lbTraffic,
  lbServiceMeta,
  lbAgentRecord,
  perCpuStride,
  sumPerCpuTraffic,
  uint32ToIpv4,
  type LbConn,
  type StructCodec,
  type LbTraffic,
} from '../../src/datapath/codecs.js';

const hex = (s: string): string => s.replace(/\s+/g, '');

describe('struct descriptors', () => {
  // Expected layouts worked out by hand from bpf/lb_structs.h (natural
  // alignment, explicit padding). test/layout checks the same against BTF.
  const expected: Record<string, { size: number; fields: Record<string, number> }> = {
    lb_service_key: { size: 8, fields: { vip: 0, port: 4, proto: 6 } },
    lb_service: { size: 4, fields: { id: 0 } },
    lb_backend: { size: 8, fields: { ip: 0, port: 4 } },
    lb_neigh: { size: 8, fields: { mac: 0 } },
    lb_flow_key: { size: 16, fields: { src_ip: 0, dst_ip: 4, src_port: 8, dst_port: 10, proto: 12 } },
    lb_conn: {
      size: 64,
      fields: {
        last_seen_ns: 0,
        created_ns: 8,
        client_ip: 16,
        vip: 20,
        backend_ip: 24,
        snat_ip: 28,
        client_port: 32,
        vport: 34,
        backend_port: 36,
        snat_port: 38,
        client_mac: 40,
        proto: 46,
        service_id: 48,
        backend_id: 52,
        state: 56,
      },
    },
    lb_snat_pool: { size: 272, fields: { addrs: 0, addr_count: 256, port_min: 260, port_max: 262, reuse_after_ns: 264 } },
    lb_traffic: { size: 40, fields: { packets_in: 0, bytes_in: 8, packets_out: 16, bytes_out: 24, new_flows: 32 } },
    lb_service_meta: {
      size: 88,
      fields: { vip: 0, port: 4, proto: 6, scheduler: 7, table_map_id: 8, table_digest: 16, name: 24 },
    },
    lb_backend_meta: { size: 16, fields: { ip: 0, port: 4, weight: 6, service_id: 8, admin: 12 } },
    lb_announced: { size: 8, fields: { ifindex: 0 } },
    lb_agent_record: { size: 24, fields: { ifname: 0, ifindex: 16, xdp_mode: 20, attached_mode: 21 } },
    lb_backend_runtime: { size: 16, fields: { changed_ns: 0, active_conns: 8, health: 12, resolution: 13 } },
    lb_agent_run: {
      size: 104,
      fields: {
        started_ns: 0,
        proc_start_ticks: 8,
        pid: 16,
        reload_result: 20,
        reload_ns: 24,
        applied_ns: 32,
        config_digest: 40,
        reload_operations: 48,
        reloads_applied: 52,
        reloads_rejected: 56,
        reloads_failed: 60,
        gc_passes: 64,
        gc_ns: 72,
        gc_duration_ns: 80,
        gc_scanned: 88,
        gc_expired: 92,
        gc_removed: 96,
        gc_entries: 100,
      },
    },
  };

  it('covers every struct of lb_structs.h', () => {
    assert.deepEqual(STRUCT_CODECS.map((c) => c.name).sort(), Object.keys(expected).sort());
  });

  for (const [name, want] of Object.entries(expected)) {
    it(`${name}: size and offsets`, () => {
      const d = STRUCT_CODECS.find((c) => c.name === name);
      assert.ok(d);
      assert.equal(d.size, want.size);
      assert.deepEqual({ ...d.fields }, want.fields);
      // fields + padding tile the struct
      const covered = Object.entries(d.fieldSizes).reduce((s, [, n]) => s + n, 0);
      const pads = Object.keys(d.padding).length;
      assert.ok(covered <= d.size && (covered === d.size || pads > 0));
    });
  }

  it('records array and MAC sizes', () => {
    assert.equal(lbSnatPool.fieldSizes['addrs'], 4 * LB_MAX_SNAT_ADDRS);
    assert.equal(lbConn.fieldSizes['client_mac'], 6);
    assert.deepEqual({ ...lbConn.padding }, { pad: 47, pad2: 60 });
  });
});

describe('struct codecs: bytes', () => {
  it('lb_service_key: address and port in network order', () => {
    const b = lbServiceKey.encode({ vip: '198.18.0.10', port: 80, proto: 6 });
    assert.equal(b.toString('hex'), hex('c612000a 0050 06 00'));
    assert.deepEqual(lbServiceKey.decode(b), { vip: '198.18.0.10', port: 80, proto: 6 });
  });

  it('lb_service: host-order (little-endian) id', () => {
    assert.equal(lbService.encode({ id: 0x01020304 }).toString('hex'), '04030201');
  });

  it('lb_backend', () => {
    const b = lbBackend.encode({ ip: '198.18.0.2', port: 8080 });
    assert.equal(b.toString('hex'), hex('c6120002 1f90 0000'));
    assert.deepEqual(lbBackend.decode(b), { ip: '198.18.0.2', port: 8080 });
  });

  it('lb_neigh: MAC as lowercase string', () => {
    const b = lbNeigh.encode({ mac: 'AA:bb:cc:00:00:02' });
    assert.equal(b.toString('hex'), 'aabbcc0000020000');
    assert.deepEqual(lbNeigh.decode(b), { mac: 'aa:bb:cc:00:00:02' });
  });

  it('lb_flow_key', () => {
    const k = { srcIp: '198.18.0.1', dstIp: '198.18.0.10', srcPort: 40000, dstPort: 80, proto: 17 };
    const b = lbFlowKey.encode(k);
    assert.equal(b.toString('hex'), hex('c6120001 c612000a 9c40 0050 11 000000'));
    assert.deepEqual(lbFlowKey.decode(b), k);
  });

  it('lb_conn round trip and byte placement', () => {
    const c: LbConn = {
      lastSeenNs: 0x0102030405060708n,
      createdNs: 5n,
      clientIp: '198.18.0.1',
      vip: '198.18.0.10',
      backendIp: '198.18.0.2',
      snatIp: '198.18.0.5',
      clientPort: 40000,
      vport: 80,
      backendPort: 8080,
      snatPort: 10000,
      clientMac: 'aa:bb:cc:00:00:01',
      proto: 6,
      serviceId: 7,
      backendId: 9,
      state: LbConnState.SYN_SEEN | LbConnState.ESTABLISHED,
    };
    const b = lbConn.encode(c);
    assert.equal(b.length, 64);
    assert.equal(
      b.toString('hex'),
      hex(
        '0807060504030201 0500000000000000' +
          'c6120001 c612000a c6120002 c6120005' +
          '9c40 0050 1f90 2710' +
          'aabbcc000001 06 00' +
          '07000000 09000000 05000000 00000000',
      ),
    );
    assert.deepEqual(lbConn.decode(b), c);
  });

  it('lb_snat_pool: addresses, count, host-order ports', () => {
    const p = { addrs: ['198.18.0.5', '198.18.0.6'], portMin: 10000, portMax: 32767, reuseAfterNs: 2_000_000_000n };
    const b = lbSnatPool.encode(p);
    assert.equal(b.length, 272);
    assert.equal(b.subarray(0, 12).toString('hex'), hex('c6120005 c6120006 00000000'));
    assert.equal(b.subarray(256, 272).toString('hex'), hex('02000000 1027 ff7f 0094357700000000'));
    assert.deepEqual(lbSnatPool.decode(b), p);
    assert.throws(() => lbSnatPool.encode({ ...p, addrs: Array.from({ length: 65 }, () => '198.18.0.5') }), { code: 'ERR_CODEC_VALUE' });
  });

  it('char arrays: NUL-padded UTF-8 strings that must leave room for the NUL', () => {
    const meta = { vip: '198.18.0.10', port: 80, proto: 6, scheduler: 2, tableMapId: 7, tableDigest: 0x0102030405060708n, name: 'web' };
    const b = lbServiceMeta.encode(meta);
    assert.equal(b.subarray(24, 28).toString('hex'), hex('77656200'));
    assert.ok(b.subarray(27, 88).every((x) => x === 0));
    assert.deepEqual(lbServiceMeta.decode(b), meta);
    assert.deepEqual(lbServiceMeta.decode(lbServiceMeta.encode({ ...meta, name: 'x'.repeat(63) })).name, 'x'.repeat(63));
    assert.throws(() => lbServiceMeta.encode({ ...meta, name: 'x'.repeat(64) }), { code: 'ERR_CODEC_VALUE' });
    assert.throws(() => lbServiceMeta.encode({ ...meta, name: 'a\0b' }), { code: 'ERR_CODEC_VALUE' });
    // A full-length field without NUL (written by something else) still decodes.
    const rec = lbAgentRecord.encode({ ifname: 'eth0', ifindex: 3, xdpMode: 0, attachedMode: 1 });
    rec.fill(0x61, 0, 16);
    assert.equal(lbAgentRecord.decode(rec).ifname, 'a'.repeat(16));
  });

  it('lb_traffic round trip', () => {
    const t: LbTraffic = { packetsIn: 1n, bytesIn: 2n, packetsOut: 3n, bytesOut: 4n, newFlows: 0xffffffffffffffffn };
    assert.deepEqual(lbTraffic.decode(lbTraffic.encode(t)), t);
  });

  it('encodeInto writes at an offset and zeroes padding', () => {
    const buf = Buffer.alloc(24, 0xff);
    lbFlowKey.encodeInto({ srcIp: '1.2.3.4', dstIp: '5.6.7.8', srcPort: 1, dstPort: 2, proto: 6 }, buf, 8);
    assert.equal(buf.toString('hex'), 'ff'.repeat(8) + hex('01020304 05060708 0001 0002 06 000000'));
    assert.deepEqual(lbFlowKey.decode(buf, 8).srcIp, '1.2.3.4');
  });

  it('decodes from a Uint8Array view', () => {
    const b = lbBackend.encode({ ip: '198.18.0.2', port: 80 });
    const u8 = new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
    assert.deepEqual(lbBackend.decode(u8), { ip: '198.18.0.2', port: 80 });
  });

  it('rejects bad values and short buffers with coded errors', () => {
    assert.throws(() => lbServiceKey.encode({ vip: '198.18.0.300', port: 80, proto: 6 }), { code: 'ERR_CODEC_VALUE', message: /lb_service_key\.vip/ });
    assert.throws(() => lbServiceKey.encode({ vip: '198.18.00.1', port: 80, proto: 6 }), { code: 'ERR_CODEC_VALUE' });
    assert.throws(() => lbServiceKey.encode({ vip: '198.18.0.1', port: 65536, proto: 6 }), { code: 'ERR_CODEC_VALUE', message: /port/ });
    assert.throws(() => lbNeigh.encode({ mac: 'aa:bb:cc:00:00' }), { code: 'ERR_CODEC_VALUE' });
    assert.throws(() => lbConn.decode(Buffer.alloc(63)), { code: 'ERR_CODEC_BUFFER' });
    assert.throws(() => lbFlowKey.encodeInto({ srcIp: '1.2.3.4', dstIp: '5.6.7.8', srcPort: 1, dstPort: 2, proto: 6 }, Buffer.alloc(16), 1), {
      code: 'ERR_CODEC_BUFFER',
    });
  });
});

describe('struct codecs: fields read in place', () => {
  it('each field reads what decode gives for it, at any offset', () => {
    for (const codec of STRUCT_CODECS as readonly StructCodec<object>[]) {
      const at = 8;
      const buf = Buffer.from(Array.from({ length: at + codec.size }, (_, i) => (i * 37 + 11) & 0xff));
      // A pool lists at most LB_MAX_SNAT_ADDRS addresses (decode refuses more).
      if (codec.name === 'lb_snat_pool') buf.writeUInt32LE(3, at + codec.fields['addr_count']!);
      const decoded = codec.decode(buf, at) as Record<string, unknown>;
      const read = codec.read as Record<string, (b: Buffer, offset: number) => unknown>;
      assert.deepEqual(Object.keys(read).sort(), Object.keys(decoded).sort(), codec.name);
      for (const [key, value] of Object.entries(decoded)) assert.deepEqual(read[key]!(buf, at), value, `${codec.name}.${key}`);
    }
  });
});

describe('small values', () => {
  it('formats addresses as dotted quads', () => {
    for (const n of [0, 1, 0xc612000a, 0xc6123f7f, 0x7f000001, 0xffffffff]) {
      assert.equal(uint32ToIpv4(n), `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`);
      assert.equal(ipv4ToUint32(uint32ToIpv4(n)), n);
    }
  });

  it('u32/u64 host order, IPv4 keys network order', () => {
    assert.equal(encodeU32(0x01020304).toString('hex'), '04030201');
    assert.equal(decodeU32(Buffer.from('04030201', 'hex')), 0x01020304);
    assert.equal(encodeU64(1n).toString('hex'), '0100000000000000');
    assert.equal(encodeIpv4Key('198.18.0.2').toString('hex'), 'c6120002');
    assert.equal(decodeIpv4Key(Buffer.from('c6120002', 'hex')), '198.18.0.2');
    assert.equal(ipv4ToUint32('255.255.255.255'), 0xffffffff);
  });
});

describe('per-CPU values', () => {
  it('slots are roundup(size, 8) apart', () => {
    assert.equal(perCpuStride(4), 8);
    assert.equal(perCpuStride(8), 8);
    assert.equal(perCpuStride(40), 40);
    assert.equal(perCpuStride(12), 16);
  });

  it('decodes and sums lb_traffic over CPUs', () => {
    const cpus = 3;
    const buf = Buffer.alloc(40 * cpus);
    for (let cpu = 0; cpu < cpus; cpu++) {
      const n = BigInt(cpu + 1);
      lbTraffic.encodeInto({ packetsIn: n, bytesIn: n * 100n, packetsOut: n * 2n, bytesOut: n * 200n, newFlows: 1n }, buf, cpu * 40);
    }
    const per = decodePerCpu(buf, lbTraffic.size, cpus, lbTraffic.decode);
    assert.equal(per.length, 3);
    assert.equal(per[2]?.bytesIn, 300n);
    assert.deepEqual(decodePerCpuTrafficSum(buf, cpus), { packetsIn: 6n, bytesIn: 600n, packetsOut: 12n, bytesOut: 1200n, newFlows: 3n });
    assert.deepEqual(decodePerCpu(buf, lbTraffic.size, cpus, lbTraffic.decode, addTraffic), decodePerCpuTrafficSum(buf, cpus));
    // In place, at an entry's offset in a batch read's values (here the second of two entries).
    const batch = Buffer.concat([Buffer.alloc(40 * cpus, 0xff), buf]);
    assert.deepEqual(sumPerCpuTraffic(batch, 40 * cpus, cpus), decodePerCpuTrafficSum(buf, cpus));
  });

  it('uses the padded stride for 4-byte values', () => {
    const buf = Buffer.alloc(16);
    buf.writeUInt32LE(7, 0);
    buf.writeUInt32LE(0xdeadbeef, 4); // padding, must be skipped
    buf.writeUInt32LE(5, 8);
    assert.deepEqual(
      decodePerCpu(buf, 4, 2, (b, o) => decodeU32(b, o)),
      [7, 5],
    );
  });

  it('sums u64 counters and encodes per-CPU values', () => {
    const buf = encodePerCpu({ id: 3 }, lbService.size, 4, lbService.encodeInto);
    assert.equal(buf.length, 32);
    assert.deepEqual(decodePerCpu(buf, 4, 4, lbService.decode), [{ id: 3 }, { id: 3 }, { id: 3 }, { id: 3 }]);
    const c = Buffer.concat([encodeU64(1n), encodeU64(2n), encodeU64(40n)]);
    assert.equal(decodePerCpuU64Sum(c, 3), 43n);
    assert.throws(() => decodePerCpuU64Sum(c, 4), { code: 'ERR_CODEC_BUFFER' });
  });
});

describe('constants mirrored from lb_consts.h', () => {
  it('has the values of the header', () => {
    assert.equal(LB_MAGLEV_TABLE_SIZE, 16381);
    assert.equal(LB_MAX_SNAT_ADDRS, 64);
    assert.deepEqual(LbScheduler, { ROUND_ROBIN: 0, WEIGHTED_ROUND_ROBIN: 1, MAGLEV: 2, SOURCE_HASH: 3 });
    assert.equal(SCHEDULER_IDS.source_hash, 3);
    assert.equal(LbConnState.RELEASED, 64);
    assert.equal(LbConnState.UDP, 128);
    assert.equal(LB_CT_CLOSING_MASK, 8 | 16 | 32);
    assert.equal(LbCounter.PASS_MALFORMED, 6);
    assert.equal(LB_CNT_MAX, 7);
    assert.equal(COUNTER_NAMES.length, LB_CNT_MAX);
    assert.equal(COUNTER_NAMES[LbCounter.DROP_SNAT_EXHAUSTED], 'drop_snat_exhausted');
  });
});
