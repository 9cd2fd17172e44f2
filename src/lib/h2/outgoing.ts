// What one HTTP/2 session writes in one turn of the event loop, staged as wire bytes: frame headers
// are written into a reused buffer and payloads copied after them, then the lot goes out in one
// socket write. A Buffer per frame header and a view per DATA piece, pushed to a list, was most of
// what a big answer allocated (ListContainers of 200: 12 DATA frames, two objects each).
import type { Socket } from 'node:net';
import { FRAME_HEADER_BYTES } from './frames.js';

/** Size of a staging buffer: a 161 KiB answer and its frames fit in one. */
export const STAGE_BYTES = 256 * 1024;
/** Staging buffers kept between turns, for all sessions: one event loop fills them. */
const KEPT_STAGES = 4;
/** A flush up to this size is copied into a buffer of its own (from Node's pool) and the stage kept free. */
const COPIED_FLUSH_BYTES = 4 * 1024;
/** A payload this large is written as it is rather than copied. */
const ZERO_COPY_BYTES = STAGE_BYTES / 2;

/** A staging buffer and the callback, made once, that takes it back once a socket wrote it. */
interface Stage {
  readonly buf: Buffer;
  readonly release: () => void;
}

const stages: Stage[] = [];

function takeStage(): Stage {
  const kept = stages.pop();
  if (kept) return kept;
  const stage: Stage = {
    buf: Buffer.allocUnsafeSlow(STAGE_BYTES),
    release: () => {
      if (stages.length < KEPT_STAGES) stages.push(stage);
    },
  };
  return stage;
}

export class Outgoing {
  private stage: Stage | undefined;
  private used = 0;
  /** Bytes finished before the stage in use: full stages and big payloads, in order. */
  private earlier: { data: Buffer; release: (() => void) | undefined }[] = [];
  private total = 0;

  /** Bytes staged and not yet written. */
  get length(): number {
    return this.total;
  }

  frameHeader(length: number, type: number, flags: number, streamId: number): void {
    const buf = this.room(FRAME_HEADER_BYTES);
    const at = this.used;
    buf[at] = (length >>> 16) & 0xff;
    buf[at + 1] = (length >>> 8) & 0xff;
    buf[at + 2] = length & 0xff;
    buf[at + 3] = type;
    buf[at + 4] = flags;
    buf.writeUInt32BE(streamId >>> 0, at + 5);
    this.used += FRAME_HEADER_BYTES;
    this.total += FRAME_HEADER_BYTES;
  }

  /** A frame with a 4-byte payload (WINDOW_UPDATE, RST_STREAM). */
  frameU32(type: number, flags: number, streamId: number, value: number): void {
    this.frameHeader(4, type, flags, streamId);
    const buf = this.room(4);
    buf.writeUInt32BE(value >>> 0, this.used);
    this.used += 4;
    this.total += 4;
  }

  /** Bytes `start` to `end` of `src`; `src` must not change until written (big payloads are not copied). */
  bytes(src: Buffer, start = 0, end = src.length): void {
    const n = end - start;
    if (n <= 0) return;
    if (n >= ZERO_COPY_BYTES) {
      this.finishStage();
      this.earlier.push({ data: start === 0 && end === src.length ? src : src.subarray(start, end), release: undefined });
    } else {
      const buf = this.room(n);
      src.copy(buf, this.used, start, end);
      this.used += n;
    }
    this.total += n;
  }

  /** Writes everything staged to `socket`, in order. */
  writeTo(socket: Socket): void {
    if (this.total === 0) return;
    const stage = this.stage;
    const used = this.used;
    this.total = 0;
    if (this.earlier.length === 0 && stage) {
      // A stage written to a socket stays with it until the kernel took the bytes: one to a socket
      // still holding earlier bytes (a client that does not read) would stay there, a stage per flush.
      if (used <= COPIED_FLUSH_BYTES || socket.writableLength > 0) {
        const copy = Buffer.allocUnsafe(used);
        stage.buf.copy(copy, 0, 0, used);
        this.stage = undefined;
        this.used = 0;
        stage.release();
        socket.write(copy);
        return;
      }
      this.stage = undefined;
      this.used = 0;
      socket.write(stage.buf.subarray(0, used), stage.release);
      return;
    }
    this.finishStage();
    const parts = this.earlier;
    this.earlier = [];
    socket.cork();
    for (const p of parts) socket.write(p.data, p.release);
    socket.uncork();
  }

  /** Drops what is staged (the connection is gone) and gives the stage back. */
  dispose(): void {
    this.earlier = [];
    this.total = 0;
    this.used = 0;
    const stage = this.stage;
    this.stage = undefined;
    stage?.release();
  }

  /** The stage, with at least `n` bytes free after `used`. */
  private room(n: number): Buffer {
    const stage = this.stage;
    if (stage && this.used + n <= STAGE_BYTES) return stage.buf;
    this.finishStage();
    const fresh = takeStage();
    this.stage = fresh;
    return fresh.buf;
  }

  /** Moves what the stage holds to `earlier`; the stage is released once its bytes are written. */
  private finishStage(): void {
    const stage = this.stage;
    if (!stage) return;
    if (this.used > 0) {
      this.earlier.push({ data: stage.buf.subarray(0, this.used), release: stage.release });
      this.stage = undefined;
    }
    this.used = 0;
  }
}
