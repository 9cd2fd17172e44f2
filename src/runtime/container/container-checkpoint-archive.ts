// A container checkpoint archive: an uncompressed tar in the layout CRI-O writes and checkpointctl
// reads, plus one file of nexcage's own:
//   checkpoint/        CRIU's images (runc checkpoint --image-path)
//   dump.log, stats-dump   CRIU's log and timing of the dump
//   config.dump        checkpointctl's ContainerConfig (id, name, rootfs image, runtime, times)
//   spec.dump          the container's OCI spec (config.json) as it ran
//   rootfs-diff.tar, deleted.files   the writable layer's changes (container-checkpoint-rootfs.ts)
//   bind.mounts        the bind mounts' sources and types, as CRI-O records them
//   container.log      the CRI log up to the checkpoint (nexcage.dump says how many bytes)
//   nexcage.dump       what a restore needs: the CRI container config, the image, the architecture
// Reading one back (for a restore) checks it is whole and of this node's architecture, by the
// archive's own word and by CRIU's core images.
import { open, readdir, readFile, writeFile } from 'node:fs/promises';
import { arch } from 'node:process';
import { join } from 'node:path';
import { InvalidArgumentError, errorMessage } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';
import type { ContainerConfig } from './container-config.js';
import type { ContainerImageRef } from './container-record.js';

export const CHECKPOINT_DIR = 'checkpoint';
export const CONFIG_DUMP = 'config.dump';
export const SPEC_DUMP = 'spec.dump';
export const NEXCAGE_DUMP = 'nexcage.dump';
export const BIND_MOUNTS = 'bind.mounts';
export const CONTAINER_LOG = 'container.log';
export const DUMP_LOG = 'dump.log';
export const STATS_DUMP = 'stats-dump';

/** checkpointctl's lib.ContainerConfig (config.dump), field names as its JSON tags. */
export interface ConfigDump {
  id: string;
  name: string;
  rootfsImage: string;
  rootfsImageRef: string;
  rootfsImageName: string;
  runtime: string;
  createdTime: string;
  checkpointedTime: string;
  restoredTime: string;
  restored: boolean;
}

export interface NexcageDump {
  version: 1;
  /** Go's name for the architecture the checkpoint was made on (amd64, arm64, ...). */
  architecture: string;
  containerId: string;
  /** The CRI config the container was created from (a restored container's: its restored config). */
  config: ContainerConfig;
  image: ContainerImageRef;
  runtimeHandler: string;
  pod: { id: string; name: string; namespace: string; uid: string };
  /** The CRI log and its size at the checkpoint; container.log holds those bytes. */
  log: { path: string; bytes: number };
  criu: { version: string; tcpEstablished: boolean; fileLocks: boolean };
  createdAt: string;
  checkpointedAt: string;
}

/** Go's GOARCH for Node's process.arch: the name checkpointctl, CRI-O and image indexes use. */
export function goArch(nodeArch: string = arch): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips64el: 'mips64le' };
  return map[nodeArch] ?? nodeArch;
}

/** CRIU's CoreEntry.mtype (images/core.proto `march`) as a GOARCH name. */
const CRIU_MARCH: Record<number, string> = { 1: 'amd64', 2: 'arm', 3: 'arm64', 4: 'ppc64le', 5: 's390x', 6: 'mips64le', 7: 'loong64', 8: 'riscv64' };

/** RFC 3339 with nanoseconds from decimal epoch nanoseconds (Go's time.Time JSON). */
export function rfc3339FromNs(ns: string): string {
  const n = BigInt(ns === '' ? '0' : ns);
  const iso = new Date(Number(n / 1_000_000n)).toISOString().replace(/\.\d{3}Z$/, '');
  return `${iso}.${(n % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

/** Go's zero time.Time as JSON. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

const IMG_COMMON_MAGIC = 0x54564319;
const IMG_SERVICE_MAGIC = 0x55105940;
const CORE_MAGIC = 0x55053847;
const UTSNS_MAGIC = 0x54473203;

/** The architecture a CRIU core-<pid>.img was dumped on (undefined when the image says none). */
export function criuCoreArch(img: Buffer): string | undefined {
  let off = 0;
  const u32 = (): number => {
    if (off + 4 > img.length) throw new Error('truncated');
    const v = img.readUInt32LE(off);
    off += 4;
    return v;
  };
  let magic = u32();
  if (magic === IMG_COMMON_MAGIC || magic === IMG_SERVICE_MAGIC) magic = u32();
  if (magic !== CORE_MAGIC) throw new Error('not a CRIU core image');
  const size = u32();
  if (off + size > img.length) throw new Error('truncated');
  const end = off + size;
  // The first protobuf entry: CoreEntry; mtype is field 1, a varint.
  while (off < end) {
    const key = varint();
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) {
      const v = varint();
      if (field === 1) return CRIU_MARCH[v] ?? `criu-march-${v}`;
    } else if (wire === 2) {
      const len = varint(); // read before adding: `off += varint()` would add to the old offset
      off += len;
    }
    else if (wire === 1) off += 8;
    else if (wire === 5) off += 4;
    else throw new Error('bad protobuf');
  }
  return undefined;

  function varint(): number {
    let v = 0;
    let shift = 0;
    for (;;) {
      if (off >= end) throw new Error('truncated');
      const b = img[off++] as number;
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
      shift += 7;
      if (shift > 63) throw new Error('bad varint');
    }
  }
}

/**
 * CRIU's UTS namespace image (utsns-<id>.img: UtsnsEntry { nodename = 1; domainname = 2 }) with
 * another nodename. A restore that joins the new pod's UTS namespace still writes the image's
 * hostname into it; rewritten, it writes the pod's own.
 */
export function withUtsNodename(img: Buffer, nodename: string): Buffer {
  if (img.length < 12 || img.readUInt32LE(0) !== IMG_COMMON_MAGIC || img.readUInt32LE(4) !== UTSNS_MAGIC) throw new Error('not a CRIU utsns image');
  const size = img.readUInt32LE(8);
  const payload = img.subarray(12, 12 + size);
  if (payload.length !== size) throw new Error('truncated');
  const kept: Buffer[] = [];
  let off = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      if (off >= payload.length) throw new Error('truncated');
      const b = payload[off++] as number;
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
      shift += 7;
    }
  };
  while (off < payload.length) {
    const start = off;
    const key = varint();
    if ((key & 7) !== 2) throw new Error('unexpected field type');
    const len = varint();
    off += len;
    if (key >>> 3 !== 1) kept.push(payload.subarray(start, off));
  }
  const name = Buffer.from(nodename);
  const entry = Buffer.concat([Buffer.from([0x0a]), encodeVarint(name.length), name, ...kept]);
  const head = Buffer.alloc(12);
  head.writeUInt32LE(IMG_COMMON_MAGIC, 0);
  head.writeUInt32LE(UTSNS_MAGIC, 4);
  head.writeUInt32LE(entry.length, 8);
  return Buffer.concat([head, entry, img.subarray(12 + size)]);
}

function encodeVarint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** Point every UTS namespace image in `imagesDir` at `nodename` (see withUtsNodename). */
export async function setUtsNodename(imagesDir: string, nodename: string): Promise<void> {
  for (const name of (await readdir(imagesDir)).filter((n) => /^utsns-\d+\.img$/.test(n))) {
    const path = join(imagesDir, name);
    await writeFile(path, withUtsNodename(await readFile(path), nodename));
  }
}

/** Why tar failed: its last line naming a problem, not the closing "Exiting with failure status". */
export function tarReason(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return lines.filter((l) => l !== '' && !/Exiting with failure status|Removing leading/.test(l)).at(-1) ?? lines.at(-1) ?? '';
}

export interface ArchiveMetadata {
  nexcage: NexcageDump;
  config: ConfigDump;
}

/**
 * Unpack an archive's metadata (and CRIU's core images) into `dir` and check them: every file a
 * restore needs is there and parses, and the checkpoint was made on this architecture. Anything
 * else is INVALID_ARGUMENT naming the archive and what is wrong.
 */
export async function readArchiveMetadata(archive: string, dir: string, timeoutMs: number): Promise<ArchiveMetadata> {
  const what = `checkpoint archive "${archive}"`;
  const list = await run('tar', ['--list', '--file', archive], { timeoutMs, allowFailure: true });
  if (list.exitCode !== 0) throw new InvalidArgumentError(`${what} is not a readable tar archive: ${tarReason(list.stderr)}`);
  // Member name (without "./" or a trailing "/") -> as the archive spells it.
  const members = new Map(list.stdout.split('\n').filter((m) => m !== '' && m !== './').map((m) => [m.replace(/^\.\//, '').replace(/\/$/, ''), m]));
  for (const need of [CONFIG_DUMP, SPEC_DUMP, CHECKPOINT_DIR]) {
    if (!members.has(need)) throw new InvalidArgumentError(`${what} has no ${need}: not a container checkpoint`);
  }
  if (!members.has(NEXCAGE_DUMP)) throw new InvalidArgumentError(`${what} has no ${NEXCAGE_DUMP}: only checkpoints made by nexcage can be restored`);
  const cores = [...members.keys()].filter((m) => /^checkpoint\/core-\d+\.img$/.test(m));
  if (cores.length === 0) throw new InvalidArgumentError(`${what} has no CRIU core image under ${CHECKPOINT_DIR}/`);
  const wanted = [CONFIG_DUMP, SPEC_DUMP, NEXCAGE_DUMP, ...cores];
  const extract = await run('tar', ['--extract', '--file', archive, '--directory', dir, '--no-same-owner', '--', ...wanted.map((m) => members.get(m) ?? m)], { timeoutMs, allowFailure: true });
  if (extract.exitCode !== 0) throw new InvalidArgumentError(`${what} could not be unpacked: ${tarReason(extract.stderr)}`);
  const nexcage = await readJson<NexcageDump>(dir, NEXCAGE_DUMP, what);
  const config = await readJson<ConfigDump>(dir, CONFIG_DUMP, what);
  await readJson<object>(dir, SPEC_DUMP, what);
  if (nexcage.version !== 1 || typeof nexcage.config?.metadata?.name !== 'string' || typeof nexcage.image?.id !== 'string' || typeof nexcage.architecture !== 'string') {
    throw new InvalidArgumentError(`${what}: ${NEXCAGE_DUMP} is not a version 1 record with a container config, image and architecture`);
  }
  const here = goArch();
  if (nexcage.architecture !== here) throw new InvalidArgumentError(`${what} was made on ${nexcage.architecture}; this node is ${here}`);
  for (const core of cores) {
    let dumped: string | undefined;
    try {
      dumped = criuCoreArch(await readPrefix(join(dir, core), 1 << 20));
    } catch (err) {
      throw new InvalidArgumentError(`${what}: ${core} is not a CRIU core image (${errorMessage(err)})`);
    }
    if (dumped !== undefined && dumped !== here) throw new InvalidArgumentError(`${what} holds processes dumped on ${dumped} (${core}); this node is ${here}`);
  }
  return { nexcage, config };
}

async function readJson<T>(dir: string, name: string, what: string): Promise<T> {
  const text = await readFile(join(dir, name), 'utf8').catch((err: unknown) => {
    throw new InvalidArgumentError(`${what}: ${name} cannot be read (${errorMessage(err)})`);
  });
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new InvalidArgumentError(`${what}: ${name} is not JSON`);
  }
}

async function readPrefix(path: string, max: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Unpack the rest a restore uses (CRIU images, rootfs diff, log) into an empty `dir`. */
export async function unpackArchive(archive: string, dir: string, timeoutMs: number): Promise<void> {
  const res = await run('tar', ['--extract', '--file', archive, '--directory', dir, '--no-same-owner', '--exclude', CONFIG_DUMP, '--exclude', SPEC_DUMP], { timeoutMs, allowFailure: true });
  if (res.exitCode !== 0) throw new InvalidArgumentError(`checkpoint archive "${archive}" could not be unpacked: ${tarReason(res.stderr)}`);
  if ((await readdir(join(dir, CHECKPOINT_DIR)).catch(() => [])).length === 0) throw new InvalidArgumentError(`checkpoint archive "${archive}" has no CRIU images`);
}
