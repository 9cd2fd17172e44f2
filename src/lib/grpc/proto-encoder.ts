// One protobuf encoder for every message type, driven by a field plan made once per type from
// protobufjs' reflection, writing into one scratch buffer.
//
// Why not protobufjs' own encode: it generates a function per type (fromObject + encode), and a
// daemon runs most of those only when something changes (a container's status after its start),
// so they never leave V8's interpreter: 100-800 us for one ContainerStatus answer. This walker is
// the same code for every type and every call, so it is compiled early and stays compiled.
//
// Input is what protobufjs' fromObject takes with the options the daemon uses (keepCase, longs and
// enums as strings): enum names or numbers, 64-bit integers as decimal strings, numbers or bigints,
// bytes as Uint8Array or base64. Like Go's encoder (and unlike protobufjs) fields holding their
// default value are left out; a decoder cannot tell the difference without presence, which no
// field here has (the plan refuses types that need it).
import type * as Protobuf from 'protobufjs';

const enum Kind {
  String, Bytes, Bool, Int32, Uint32, Sint32, Int64, Uint64, Sint64, Fixed32, Sfixed32, Fixed64, Sfixed64, Double, Float, Enum, Message,
}

const KINDS: Record<string, Kind> = {
  string: Kind.String, bytes: Kind.Bytes, bool: Kind.Bool, int32: Kind.Int32, uint32: Kind.Uint32, sint32: Kind.Sint32,
  int64: Kind.Int64, uint64: Kind.Uint64, sint64: Kind.Sint64, fixed32: Kind.Fixed32, sfixed32: Kind.Sfixed32,
  fixed64: Kind.Fixed64, sfixed64: Kind.Sfixed64, double: Kind.Double, float: Kind.Float,
};

/** The wire type each kind is written with (outside packed runs). */
function wireType(kind: Kind): number {
  switch (kind) {
    case Kind.String: case Kind.Bytes: case Kind.Message: return 2;
    case Kind.Fixed64: case Kind.Sfixed64: case Kind.Double: return 1;
    case Kind.Fixed32: case Kind.Sfixed32: case Kind.Float: return 5;
    default: return 0;
  }
}

interface Value {
  kind: Kind;
  /** Enum: value number by name. */
  enumValues: Readonly<Record<string, number>> | undefined;
  /** Message: its plan (filled after creation, for recursive types). */
  message: Plan | undefined;
}

interface FieldPlan extends Value {
  name: string;
  /** (id << 3 | wire type), for a packed run wire type 2. */
  tag: number;
  repeated: boolean;
  packed: boolean;
  /** Map field: its key (the value is the field's own kind). */
  mapKey: Value | undefined;
  /** Full name, for errors. */
  path: string;
}

interface Plan {
  fields: FieldPlan[];
}

const plans = new WeakMap<Protobuf.Type, Plan>();

function planOf(type: Protobuf.Type): Plan {
  let plan = plans.get(type);
  if (plan) return plan;
  plan = { fields: [] };
  plans.set(type, plan);
  const fields = [...type.fieldsArray].sort((a, b) => a.id - b.id);
  for (const f of fields) {
    f.resolve();
    const path = `${type.fullName}.${f.name}`;
    if (f.partOf || f.hasPresence && !(f.resolvedType && 'fields' in f.resolvedType)) throw new Error(`${path}: fields with presence are not supported by this encoder`);
    const value = valueOf(f.type, f.resolvedType, path);
    const repeated = f.repeated && !f.map;
    const packed = repeated && f.packed && value.kind !== Kind.String && value.kind !== Kind.Bytes && value.kind !== Kind.Message;
    const keyType = f.map ? (f as unknown as Protobuf.MapField).keyType : undefined;
    const keyKind = keyType === undefined ? undefined : KINDS[keyType];
    if (keyType !== undefined && keyKind === undefined) throw new Error(`${path}: map key type ${keyType} is not supported`);
    const mapKey = keyKind === undefined ? undefined : { kind: keyKind, enumValues: undefined, message: undefined };
    plan.fields.push({ ...value, name: f.name, tag: ((f.id << 3) | (packed || f.map ? 2 : wireType(value.kind))) >>> 0, repeated, packed, mapKey, path });
  }
  return plan;
}

function valueOf(typeName: string, resolved: Protobuf.ReflectionObject | null, path: string): Value {
  if (resolved && 'fields' in resolved) return { kind: Kind.Message, enumValues: undefined, message: planOf(resolved as Protobuf.Type) };
  if (resolved && 'values' in resolved) return { kind: Kind.Enum, enumValues: (resolved as Protobuf.Enum).values, message: undefined };
  const kind = KINDS[typeName];
  if (kind === undefined) throw new Error(`${path}: type ${typeName} is not supported`);
  return { kind, enumValues: undefined, message: undefined };
}

const SCRATCH_BYTES = 8192;
/** A scratch buffer grown past this for one big message is dropped after it. */
const KEEP_SCRATCH_BYTES = 64 * 1024;
const TWO_32 = 4294967296;

/** Writes into one growing buffer; message lengths are patched in after their content. */
class Writer {
  buf = Buffer.allocUnsafe(SCRATCH_BYTES);
  pos = 0;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  /** An unsigned varint of at most 32 bits. */
  uint32(v: number): void {
    this.ensure(5);
    const buf = this.buf;
    let pos = this.pos;
    while (v > 127) {
      buf[pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  /** A varint of a 64-bit value given as its two 32-bit halves (unsigned). */
  varint64(lo: number, hi: number): void {
    if (hi === 0) return this.uint32(lo);
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (hi !== 0) {
      buf[pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 127) {
      buf[pos++] = (lo & 127) | 128;
      lo >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  fixed32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  fixed64(lo: number, hi: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE(lo, this.pos);
    this.buf.writeUInt32LE(hi, this.pos + 4);
    this.pos += 8;
  }

  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  float(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.pos);
    this.pos += 4;
  }

  string(s: string): void {
    const n = s.length;
    if (n < 128) {
      // Short ASCII (ids, names, paths) is copied by hand: cheaper than a call into C++.
      this.ensure(1 + n);
      const buf = this.buf;
      const start = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 127) break;
        buf[start + i] = c;
      }
      if (i === n) {
        buf[this.pos] = n;
        this.pos = start + n;
        return;
      }
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.uint32(bytes);
    this.ensure(bytes);
    this.buf.write(s, this.pos, bytes, 'utf8');
    this.pos += bytes;
  }

  bytes(b: Uint8Array): void {
    this.uint32(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Reserves one byte for a length; `end` writes it (moving the content if it needs more). */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  end(at: number): void {
    const len = this.pos - at - 1;
    if (len < 128) {
      this.buf[at] = len;
      return;
    }
    const size = len < 1 << 14 ? 2 : len < 1 << 21 ? 3 : len < 1 << 28 ? 4 : 5;
    this.ensure(size - 1);
    this.buf.copyWithin(at + size, at + 1, this.pos);
    this.pos += size - 1;
    const saved = this.pos;
    this.pos = at;
    this.uint32(len);
    this.pos = saved;
  }
}

const writer = new Writer();

/** The halves split64 leaves: module state rather than a pair per 64-bit field written. */
let lo32 = 0;
let hi32 = 0;

/** A 64-bit integer from any accepted form into lo32 / hi32: unsigned 32-bit halves (two's complement). */
function split64(v: unknown, path: string): void {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new TypeError(`${path}: integer expected, got ${v}`);
    if (v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
      lo32 = v % TWO_32;
      hi32 = Math.floor(v / TWO_32);
      return;
    }
    v = BigInt(v);
  } else if (typeof v === 'string') {
    // Up to 15 digits is a safe integer; the common case (timestamps in ns have 19) goes through BigInt.
    const text = v;
    if (text.length <= 15 && /^[0-9]+$/.test(text)) return split64(Number(text), path);
    try {
      v = BigInt(text);
    } catch {
      throw new TypeError(`${path}: integer expected, got ${JSON.stringify(text.slice(0, 40))}`);
    }
  } else if (typeof v === 'object' && v !== null && typeof (v as { low?: unknown }).low === 'number') {
    const l = v as { low: number; high: number };
    lo32 = l.low >>> 0;
    hi32 = l.high >>> 0;
    return;
  }
  if (typeof v !== 'bigint') throw new TypeError(`${path}: integer expected, got ${typeof v}`);
  const u = BigInt.asUintN(64, v);
  lo32 = Number(u & 0xffffffffn);
  hi32 = Number(u >> 32n);
}

function isDefault(v: unknown): boolean {
  // -0 is not the default: its bits are not zero (Go writes it too).
  return (v === 0 && Object.is(v, 0)) || v === '' || v === false || v === '0' || v === 0n || (v instanceof Uint8Array && v.length === 0);
}

/** Writes one value (no tag); enums come as numbers. */
function writeValue(w: Writer, f: Value, v: unknown, path: string): void {
  switch (f.kind) {
    case Kind.String:
      w.string(typeof v === 'string' ? v : String(v));
      return;
    case Kind.Bool:
      w.uint32(v ? 1 : 0);
      return;
    case Kind.Int32:
    case Kind.Enum: {
      const n = Number(v) | 0;
      if (n >= 0) w.uint32(n);
      else w.varint64(n >>> 0, 0xffffffff);
      return;
    }
    case Kind.Uint32:
      w.uint32(Number(v) >>> 0);
      return;
    case Kind.Sint32: {
      const n = Number(v) | 0;
      w.uint32(((n << 1) ^ (n >> 31)) >>> 0);
      return;
    }
    case Kind.Int64:
    case Kind.Uint64: {
      split64(v, path);
      w.varint64(lo32, hi32);
      return;
    }
    case Kind.Sint64: {
      split64(v, path);
      const sign = hi32 >> 31;
      w.varint64(((lo32 << 1) ^ sign) >>> 0, (((hi32 << 1) | (lo32 >>> 31)) ^ sign) >>> 0);
      return;
    }
    case Kind.Fixed32:
    case Kind.Sfixed32:
      w.fixed32(Number(v));
      return;
    case Kind.Fixed64:
    case Kind.Sfixed64: {
      split64(v, path);
      w.fixed64(lo32, hi32);
      return;
    }
    case Kind.Double:
      w.double(Number(v));
      return;
    case Kind.Float:
      w.float(Number(v));
      return;
    case Kind.Bytes:
      w.bytes(typeof v === 'string' ? Buffer.from(v, 'base64') : v instanceof Uint8Array ? v : Uint8Array.from(v as ArrayLike<number>));
      return;
    case Kind.Message: {
      if (typeof v !== 'object' || v === null) throw new TypeError(`${path}: object expected`);
      const at = w.begin();
      writeMessage(w, f.message as Plan, v as Record<string, unknown>);
      w.end(at);
      return;
    }
  }
}

/** An enum given by name as its number; undefined for a name the enum does not have. */
function enumNumber(f: Value, v: unknown): unknown {
  return typeof v === 'string' ? (f.enumValues as Record<string, number>)[v] : v;
}

function writeMessage(w: Writer, plan: Plan, m: Record<string, unknown>): void {
  const fields = plan.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as FieldPlan;
    let v = m[f.name];
    if (v === undefined || v === null) continue;
    if (f.mapKey !== undefined) {
      if (typeof v !== 'object') throw new TypeError(`${f.path}: object expected`);
      const entries = v as Record<string, unknown>;
      const keys = Object.keys(entries);
      const key = f.mapKey;
      const keyKind = key.kind;
      for (let k = 0; k < keys.length; k++) {
        const name = keys[k] as string;
        let value = entries[name];
        if (f.kind === Kind.Enum) value = enumNumber(f, value);
        if (value === undefined || value === null) continue;
        w.uint32(f.tag);
        const at = w.begin();
        w.uint32((1 << 3) | wireType(keyKind));
        writeValue(w, key, keyKind === Kind.Bool ? name === 'true' : name, f.path);
        w.uint32((2 << 3) | wireType(f.kind));
        writeValue(w, f, value, f.path);
        w.end(at);
      }
    } else if (f.repeated) {
      if (!Array.isArray(v)) throw new TypeError(`${f.path}: array expected`);
      if (v.length === 0) continue;
      if (f.packed) {
        w.uint32(f.tag);
        const at = w.begin();
        for (let k = 0; k < v.length; k++) writeValue(w, f, f.kind === Kind.Enum ? (enumNumber(f, v[k]) ?? 0) : v[k], f.path);
        w.end(at);
      } else {
        for (let k = 0; k < v.length; k++) {
          const item: unknown = v[k];
          if (f.kind === Kind.Message && (item === null || item === undefined)) throw new TypeError(`${f.path}: object expected`);
          w.uint32(f.tag);
          writeValue(w, f, item, f.path);
        }
      }
    } else {
      if (f.kind === Kind.Enum) {
        v = enumNumber(f, v);
        if (v === undefined) continue;
      }
      if (f.kind !== Kind.Message && isDefault(v)) continue;
      w.uint32(f.tag);
      writeValue(w, f, v, f.path);
    }
  }
}

/** The encoder of one message type: a plain object (fromObject's input) to its wire bytes. */
export function messageEncoder(type: Protobuf.Type): (value: object) => Buffer {
  const plan = planOf(type);
  return (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${type.fullName}: object expected`);
    const w = writer;
    w.pos = 0;
    try {
      writeMessage(w, plan, value as Record<string, unknown>);
      const out = Buffer.allocUnsafe(w.pos);
      w.buf.copy(out, 0, 0, w.pos);
      return out;
    } finally {
      if (w.buf.length > KEEP_SCRATCH_BYTES) w.buf = Buffer.allocUnsafe(SCRATCH_BYTES);
    }
  };
}
