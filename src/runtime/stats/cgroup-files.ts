// Parsers for the few file shapes cgroupfs uses: one number, "key value" lines, nested
// "key k=v k=v" lines (io.stat, PSI). Missing files read as undefined: controllers and kernels
// differ in what they offer, and a cgroup can vanish between two reads.
import { readFile } from 'node:fs/promises';
import { isErrno } from '../../errors.js';
import type { PsiData, PsiStats } from './types.js';

/** Values at or above this are the kernel's "no limit" (v1 writes 2^63 rounded down to a page). */
const UNLIMITED_FLOOR = 2 ** 62;

export async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    // ENOENT: controller or file absent; ENODEV/EINVAL: file present but not supported here;
    // ENOTSUP: e.g. memory.oom_control reads on some kernels.
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENODEV') || isErrno(err, 'EINVAL') || isErrno(err, 'ENOTSUP') || isErrno(err, 'EOPNOTSUPP')) {
      return undefined;
    }
    throw err;
  }
}

/** A file holding one number ("max" counts as unlimited). */
export function parseSingle(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** Like parseSingle, but a value that means "no limit" becomes undefined. */
export function parseLimit(text: string | undefined): number | undefined {
  const n = parseSingle(text);
  return n === undefined || n >= UNLIMITED_FLOOR ? undefined : n;
}

/** "key value" per line (memory.stat, cpu.stat, memory.events, cpuacct.stat). */
export function parseKeyValues(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (text === undefined) return out;
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 2) continue;
    const n = Number(parts[1]);
    if (Number.isFinite(n)) out.set(parts[0] as string, n);
  }
  return out;
}

/** "head k=v k=v ..." per line (io.stat, *.pressure). */
export function parseNestedKeyed(text: string | undefined): { head: string; fields: Map<string, number> }[] {
  const out: { head: string; fields: Map<string, number> }[] = [];
  if (text === undefined) return out;
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 2) continue;
    const fields = new Map<string, number>();
    for (const kv of parts.slice(1)) {
      const i = kv.indexOf('=');
      if (i <= 0) continue;
      const n = Number(kv.slice(i + 1));
      if (Number.isFinite(n)) fields.set(kv.slice(0, i), n);
    }
    out.push({ head: parts[0] as string, fields });
  }
  return out;
}

/** A PSI file: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" (+ "full ..."). total is in microseconds. */
export function parsePsi(text: string | undefined): PsiStats | undefined {
  const lines = parseNestedKeyed(text);
  const data = (head: string): PsiData | undefined => {
    const l = lines.find((x) => x.head === head);
    if (!l) return undefined;
    return {
      totalNs: (l.fields.get('total') ?? 0) * 1000,
      avg10: l.fields.get('avg10') ?? 0,
      avg60: l.fields.get('avg60') ?? 0,
      avg300: l.fields.get('avg300') ?? 0,
    };
  };
  const some = data('some');
  if (!some) return undefined;
  const full = data('full');
  return full ? { some, full } : { some };
}

/** Working set as the kubelet defines it: usage minus inactive page cache, never negative. */
export function workingSet(usage: number, inactiveFile: number): number {
  return Math.max(0, usage - inactiveFile);
}
