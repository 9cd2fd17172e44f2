// Outgoing against a socket fake that keeps what it is given and completes writes only when told:
// the bytes of every flush must reach the socket in order and stay intact however long the socket
// holds them, while the staging buffers are reused.
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FrameType } from './frames.js';
import { Outgoing, STAGE_BYTES } from './outgoing.js';

class HeldSocket {
  writes: { data: Buffer; done: (() => void) | undefined }[] = [];
  backlog = 0;
  corked = 0;
  get writableLength(): number {
    return this.backlog;
  }
  write(data: Buffer, done?: () => void): boolean {
    this.writes.push({ data, done });
    return true;
  }
  cork(): void {
    this.corked++;
  }
  uncork(): void {}
  /** What the socket was given so far, joined (the buffers as they are now, not as they were). */
  bytes(): Buffer {
    return Buffer.concat(this.writes.map((w) => w.data));
  }
  /** The kernel took the bytes (a copy is kept here): the writes' callbacks run. */
  complete(): void {
    for (const w of this.writes) w.data = Buffer.from(w.data);
    for (const w of this.writes) w.done?.();
    for (const w of this.writes) w.done = undefined;
  }
}

const asSocket = (s: HeldSocket) => s as unknown as Socket;

/** The DATA frames of `payload` in pieces of `frame` bytes, as the wire should carry them. */
function dataFrames(id: number, payload: Buffer, frame: number): Buffer {
  const parts: Buffer[] = [];
  for (let off = 0; off < payload.length; off += frame) {
    const piece = payload.subarray(off, off + frame);
    const h = Buffer.alloc(9);
    h.writeUIntBE(piece.length, 0, 3);
    h[3] = FrameType.DATA;
    h.writeUInt32BE(id, 5);
    parts.push(h, piece);
  }
  return Buffer.concat(parts);
}

function stageData(out: Outgoing, id: number, payload: Buffer, frame: number): void {
  for (let off = 0; off < payload.length; off += frame) {
    const end = Math.min(off + frame, payload.length);
    out.frameHeader(end - off, FrameType.DATA, 0, id);
    out.bytes(payload, off, end);
  }
}

describe('Outgoing', () => {
  it('writes frame headers and payloads in order, byte-exact, for flushes below, inside and past one staging buffer', () => {
    for (const size of [10, 5000, 16 * 1024 + 1, 161 * 1024, STAGE_BYTES + 12345, 3 * STAGE_BYTES]) {
      const socket = new HeldSocket();
      const out = new Outgoing();
      const payload = randomBytes(size);
      stageData(out, 7, payload, 16 * 1024);
      expect(out.length).toBe(size + 9 * Math.ceil(size / (16 * 1024)));
      out.writeTo(asSocket(socket));
      expect(out.length).toBe(0);
      expect(socket.bytes().equals(dataFrames(7, payload, 16 * 1024))).toBe(true);
      socket.complete();
    }
  });

  it('keeps the bytes of a flush the socket still holds intact while later flushes are staged', () => {
    const socket = new HeldSocket();
    const out = new Outgoing();
    const expected: Buffer[] = [];
    // Big and small flushes, none completed: a reused stage would overwrite what the socket holds.
    for (const size of [100 * 1024, 200, 150 * 1024, 3000, 64 * 1024, STAGE_BYTES * 2]) {
      const payload = randomBytes(size);
      stageData(out, 1, payload, 16 * 1024);
      out.writeTo(asSocket(socket));
      expected.push(dataFrames(1, payload, 16 * 1024));
    }
    expect(socket.bytes().equals(Buffer.concat(expected))).toBe(true);
    // Completed, the stages go back and the next flushes write over them.
    const before = socket.bytes();
    socket.complete();
    const later = randomBytes(120 * 1024);
    stageData(out, 3, later, 16 * 1024);
    out.writeTo(asSocket(socket));
    expect(socket.bytes().equals(Buffer.concat([before, dataFrames(3, later, 16 * 1024)]))).toBe(true);
  });

  it('writes a payload of half a stage or more as it is, between staged frames, in order', () => {
    const socket = new HeldSocket();
    const out = new Outgoing();
    const big = randomBytes(STAGE_BYTES);
    out.frameHeader(big.length, FrameType.DATA, 0, 5);
    out.bytes(big);
    out.frameU32(FrameType.WINDOW_UPDATE, 0, 0, 65535);
    out.writeTo(asSocket(socket));
    expect(socket.writes.some((w) => w.data === big)).toBe(true);
    const wire = socket.bytes();
    expect(wire.readUIntBE(0, 3)).toBe(STAGE_BYTES);
    expect(wire.subarray(9, 9 + big.length).equals(big)).toBe(true);
    const wu = wire.subarray(9 + big.length);
    expect([wu.readUIntBE(0, 3), wu[3], wu.readUInt32BE(5), wu.readUInt32BE(9)]).toEqual([4, FrameType.WINDOW_UPDATE, 0, 65535]);
  });

  it('copies a big flush to a socket that is backed up rather than handing it a staging buffer', () => {
    const socket = new HeldSocket();
    socket.backlog = 1;
    const out = new Outgoing();
    const payload = randomBytes(100 * 1024);
    stageData(out, 9, payload, 16 * 1024);
    out.writeTo(asSocket(socket));
    expect(socket.writes).toHaveLength(1);
    expect(socket.writes[0]?.done).toBeUndefined();
    expect(socket.writes[0]?.data.length).toBe(socket.writes[0]?.data.buffer.byteLength);
    expect(socket.bytes().equals(dataFrames(9, payload, 16 * 1024))).toBe(true);
  });

  it('drops what is staged when disposed', () => {
    const socket = new HeldSocket();
    const out = new Outgoing();
    stageData(out, 1, randomBytes(5000), 16 * 1024);
    out.dispose();
    expect(out.length).toBe(0);
    out.writeTo(asSocket(socket));
    expect(socket.writes).toHaveLength(0);
  });
});
