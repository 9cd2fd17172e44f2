import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { criProtoPath } from '../../cri/grpc/proto.js';
import { messageEncoder } from './proto-encoder.js';

// Every check decodes our bytes with protobufjs and compares with what protobufjs' own
// fromObject + encode gives for the same input: the reference the daemon used before.
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, bytes: String };

function reference(t: protobuf.Type, value: object): Buffer {
  return t.encode(t.fromObject(value)).finish() as Buffer;
}

function decoded(t: protobuf.Type, bytes: Uint8Array): object {
  return t.toObject(t.decode(bytes), TO_OBJECT);
}

const SCHEMA = `
syntax = "proto3";
package t;
enum Color { RED = 0; GREEN = 1; BLUE = 2; NEGATIVE = -3; }
message Inner { string s = 1; int64 n = 2; Inner child = 3; repeated Inner kids = 4; }
message All {
  string s = 1; bytes b = 2; bool t = 3; int32 i32 = 4; uint32 u32 = 5; sint32 s32 = 6;
  int64 i64 = 7; uint64 u64 = 8; sint64 s64 = 9; fixed32 f32 = 10; sfixed32 sf32 = 11;
  fixed64 f64 = 12; sfixed64 sf64 = 13; double d = 14; float f = 15; Color color = 16;
  Inner inner = 17; repeated string names = 18; repeated int64 longs = 19; repeated Inner inners = 20;
  map<string, string> labels = 21; map<int32, Inner> byNumber = 22; repeated Color colors = 23;
  map<string, Color> paint = 24; map<bool, int64> flags = 2000; repeated sint64 zig = 536870911;
}
`;

function schema(): { all: protobuf.Type; inner: protobuf.Type } {
  const root = protobuf.parse(SCHEMA, { keepCase: true }).root;
  root.resolveAll();
  return { all: root.lookupType('t.All'), inner: root.lookupType('t.Inner') };
}

function label(v: object): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)).slice(0, 80);
}

const MAX_U64 = '18446744073709551615';
const MIN_I64 = '-9223372036854775808';

describe('messageEncoder', () => {
  const { all, inner } = schema();
  const encode = messageEncoder(all);

  it('encodes every scalar kind, at its limits, as protobufjs decodes it', () => {
    const values: object[] = [
      {
        s: 'plain', b: Buffer.from([0, 1, 2, 255]), t: true, i32: -1, u32: 4294967295, s32: -2147483648,
        i64: MIN_I64, u64: MAX_U64, s64: MIN_I64, f32: 4294967295, sf32: -5, f64: MAX_U64, sf64: '-2',
        d: -1.5e300, f: 0.25, color: 'BLUE',
      },
      {
        s: 'ünïcödé 🚀'.repeat(3), i32: 2147483647, s32: 2147483647, i64: '9223372036854775807', s64: '9223372036854775807',
        u64: '1733240000000000000', d: Number.MIN_VALUE, color: 'NEGATIVE',
      },
      { i64: 1, u64: 2 ** 53 - 1, s64: -1, i32: 300, u32: 16384, color: 2, sf64: -(2 ** 40) },
      { i64: 123n, u64: -1n, s64: '-12345678901234' },
      { i64: { low: -1, high: 2147483647 }, b: 'AAEC/w==' },
      { s: 'x'.repeat(127) }, { s: 'x'.repeat(128) }, { s: `${'x'.repeat(126)}é` }, { s: 'y'.repeat(70000) },
      { d: -0 }, { d: Number.NaN }, { f: Infinity },
    ];
    for (const v of values) expect(decoded(all, encode(v)), label(v)).toEqual(decoded(all, reference(all, v)));
  });

  it('writes nested and repeated messages of every length class (1-, 2- and 3-byte lengths)', () => {
    const deep = { s: 'root', child: { s: 'a', child: { s: 'b', n: '-7', kids: [{ s: 'k1' }, {}, { n: 5 }] } } };
    const values: object[] = [
      { inner: {} },
      { inner: deep },
      { inner: { s: 'z'.repeat(200), kids: [{ s: 'q'.repeat(20000) }, { s: 'r'.repeat(100) }] } },
      { inners: [{}, deep, { s: 'w'.repeat(3_000_000) }] },
      { names: ['a', '', 'ü'.repeat(200)], longs: ['1', '-1', MAX_U64, 0, '0'], colors: ['RED', 'BLUE', 1, 'NEGATIVE'] },
      { zig: ['-1', '1', MIN_I64, '9223372036854775807', 0] },
      { labels: { a: '1', '': 'empty key', 'ü': '' }, byNumber: { '-5': deep, '7': {} }, paint: { x: 'GREEN', y: 'RED' }, flags: { true: '-1' } },
    ];
    for (const v of values) expect(decoded(all, encode(v)), label(v)).toEqual(decoded(all, reference(all, v)));
    // protobufjs writes every bool key given as a string as true; a "false" key stays false here.
    expect(decoded(all, encode({ flags: { true: '-1', false: '9' } }))).toMatchObject({ flags: { true: '-1', false: '9' } });
  });

  it('gives the same bytes as protobufjs when no field holds its default', () => {
    const v = {
      s: 'id', b: Buffer.from('xyz'), t: true, i32: -2, u32: 7, s32: -9, i64: '1733240000000000000', u64: '3', s64: '-4',
      f32: 1, sf32: -1, f64: '2', sf64: '-3', d: 2.5, f: 1.5, color: 'GREEN', inner: { s: 'in', n: '1', child: { s: 'c' } },
      names: ['a', 'b'], longs: ['1', '2'], inners: [{ s: 'one' }, { s: 'two'.repeat(100) }], labels: { k: 'v', k2: 'v2' }, byNumber: { 3: { s: 'three' } },
    };
    expect(encode(v).equals(reference(all, v))).toBe(true);
  });

  it('leaves out fields holding their default, as Go does', () => {
    expect(encode({ s: '', i32: 0, i64: '0', t: false, color: 'RED', d: 0, b: Buffer.alloc(0), names: [], labels: {} }).length).toBe(0);
    // A present message is written even when empty: its presence is what it says.
    expect([...encode({ inner: {} })]).toEqual([(17 << 3) | 2, 1, 0]);
    // An enum name the type does not have is left out, as protobufjs' fromObject leaves it.
    expect(encode({ color: 'PURPLE' }).length).toBe(0);
  });

  it('names the field when a value has the wrong shape', () => {
    expect(() => encode({ inner: 'text' })).toThrow(/t\.All\.inner: object expected/);
    expect(() => encode({ names: 'a' })).toThrow(/t\.All\.names: array expected/);
    expect(() => encode({ i64: 'twelve' })).toThrow(/t\.All\.i64: integer expected, got "twelve"/);
    expect(() => encode({ i64: 1.5 })).toThrow(/t\.All\.i64: integer expected/);
    expect(() => encode({ inners: [null] })).toThrow(/t\.All\.inners: object expected/);
    expect(() => encode([] as unknown as object)).toThrow(/t\.All: object expected/);
  });

  it('keeps working after a failed encode and after one big message', () => {
    expect(() => encode({ inner: { kids: 5 } })).toThrow();
    const big = encode({ s: 'b'.repeat(1 << 20) });
    expect(big.length).toBe(1 + 3 + (1 << 20));
    const v = { s: 'small', inner: { s: 'x' } };
    expect(encode(v).equals(reference(all, v))).toBe(true);
    // Answers are copies: the next encode does not change one already returned.
    const first = encode({ s: 'first' });
    encode({ s: 'second' });
    expect(decoded(all, first)).toMatchObject({ s: 'first' });
  });

  it('refuses types it cannot encode as protobufjs would', () => {
    const root = protobuf.parse('syntax = "proto3"; message O { optional string s = 1; } message P { oneof k { string a = 1; int32 b = 2; } }', { keepCase: true }).root;
    root.resolveAll();
    expect(() => messageEncoder(root.lookupType('O'))).toThrow(/O\.s: fields with presence/);
    expect(() => messageEncoder(root.lookupType('P'))).toThrow(/P\.a: fields with presence/);
    expect(messageEncoder(inner)({ s: 'ok' }).length).toBe(4);
  });
});

/** A deterministic value for every field of a type, from reflection (a few levels deep). */
function sample(t: protobuf.Type, seed: number, depth = 0): Record<string, unknown> {
  let x = seed;
  const next = (): number => (x = (x * 1103515245 + 12345) % 2147483648);
  const scalar = (type: string, resolved: protobuf.ReflectionObject | null): unknown => {
    if (resolved instanceof protobuf.Enum) {
      const names = Object.keys(resolved.values);
      return names[next() % names.length];
    }
    if (resolved instanceof protobuf.Type) return depth < 3 ? sample(resolved, next(), depth + 1) : {};
    const n = next();
    switch (type) {
      case 'string': return n % 5 === 0 ? '' : `v${n}${n % 7 === 0 ? '-ü' : ''}${n % 11 === 0 ? 'x'.repeat(300) : ''}`;
      case 'bool': return n % 2 === 0;
      case 'bytes': return Buffer.from(String(n));
      case 'double': return n % 3 === 0 ? 0 : n / 7;
      case 'int64': return n % 4 === 0 ? '0' : n % 4 === 1 ? `-${n}` : `${n}${n}`;
      case 'uint64': return `${n}${n}`;
      case 'int32': return n % 2 === 0 ? -n : n;
      default: return n % 3 === 0 ? 0 : n;
    }
  };
  const out: Record<string, unknown> = {};
  for (const f of t.fieldsArray) {
    f.resolve();
    if (next() % 6 === 0) continue;
    if (f.map) out[f.name] = Object.fromEntries([0, 1, 2].slice(0, next() % 4).map((i) => [`k${i}`, scalar(f.type, f.resolvedType)]));
    else if (f.repeated) out[f.name] = [0, 1, 2].slice(0, next() % 4).map(() => scalar(f.type, f.resolvedType));
    else out[f.name] = scalar(f.type, f.resolvedType);
  }
  return out;
}

describe('messageEncoder on the CRI messages', () => {
  const root = new protobuf.Root();
  root.loadSync(criProtoPath(), { keepCase: true });
  root.resolveAll();
  const types: protobuf.Type[] = [];
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const o of ns.nestedArray) {
      if (o instanceof protobuf.Type) types.push(o);
      if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) walk(o);
    }
  };
  walk(root);

  it('encodes every CRI message type as protobufjs does, on varied values', () => {
    expect(types.length).toBeGreaterThan(150);
    for (const t of types) {
      const encode = messageEncoder(t);
      for (let seed = 1; seed <= 8; seed++) {
        const v = sample(t, seed * 7919 + t.name.length);
        expect(decoded(t, encode(v)), `${t.fullName} seed ${seed}`).toEqual(decoded(t, reference(t, v)));
      }
    }
  });
});
