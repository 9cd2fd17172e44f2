import { describe, expect, it } from 'vitest';
import { criuCoreArch, goArch, rfc3339FromNs, withUtsNodename } from './container-checkpoint-archive.js';

/** A CRIU image: common magic, the image's magic, one length-prefixed protobuf entry. */
function image(magic: number, entry: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt32LE(0x54564319, 0);
  head.writeUInt32LE(magic, 4);
  head.writeUInt32LE(entry.length, 8);
  return Buffer.concat([head, entry]);
}

describe('CRIU core image architecture', () => {
  it('reads CoreEntry.mtype as a GOARCH name', () => {
    // mtype = 1 (X86_64), then a length-delimited field (tc) that must be skipped over unread.
    expect(criuCoreArch(image(0x55053847, Buffer.from([0x08, 0x01, 0x12, 0x02, 0xaa, 0xbb])))).toBe('amd64');
    expect(criuCoreArch(image(0x55053847, Buffer.from([0x12, 0x01, 0x00, 0x08, 0x03])))).toBe('arm64');
    expect(criuCoreArch(image(0x55053847, Buffer.from([0x08, 0x63])))).toBe('criu-march-99');
  });

  it('refuses what is not a core image or is cut short', () => {
    expect(() => criuCoreArch(image(0x54473203, Buffer.from([0x08, 0x01])))).toThrow('not a CRIU core image');
    expect(() => criuCoreArch(image(0x55053847, Buffer.from([0x08, 0x01])).subarray(0, 13))).toThrow('truncated');
    expect(() => criuCoreArch(Buffer.from('garbage'))).toThrow();
  });
});

describe('UTS namespace image', () => {
  it('gets the new hostname and keeps the domain name', () => {
    // As CRIU 4.1 wrote it for a pod named cpod1: nodename "cpod1", domainname "(none)".
    const before = Buffer.from('1943565403324754' + '0f000000' + '0a05' + Buffer.from('cpod1').toString('hex') + '1206' + Buffer.from('(none)').toString('hex'), 'hex');
    const after = withUtsNodename(before, 'restored-pod-name');
    expect(after.readUInt32LE(8)).toBe(after.length - 12);
    const entry = after.subarray(12);
    expect(entry[0]).toBe(0x0a);
    expect(entry.subarray(2, 2 + (entry[1] as number)).toString()).toBe('restored-pod-name');
    expect(entry.subarray(2 + (entry[1] as number)).toString('hex')).toBe('1206' + Buffer.from('(none)').toString('hex'));
    expect(() => withUtsNodename(Buffer.from('not an image at all'), 'x')).toThrow('not a CRIU utsns image');
  });
});

describe('names and times as checkpointctl reads them', () => {
  it('maps Node architectures to Go', () => {
    expect(goArch('x64')).toBe('amd64');
    expect(goArch('arm64')).toBe('arm64');
    expect(goArch('ppc64')).toBe('ppc64le');
    // An architecture Go has no other name for keeps Node's.
    expect(goArch('sparc')).toBe('sparc');
  });

  it('writes RFC 3339 times with nanoseconds, as Go marshals time.Time', () => {
    expect(rfc3339FromNs('1700000000123456789')).toBe('2023-11-14T22:13:20.123456789Z');
    expect(rfc3339FromNs('1700000000000000001')).toBe('2023-11-14T22:13:20.000000001Z');
    expect(rfc3339FromNs('')).toBe('1970-01-01T00:00:00.000000000Z');
  });
});
