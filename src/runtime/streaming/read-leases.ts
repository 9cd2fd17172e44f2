// Reference counts on the client connection's read buffers, so that the last holder of a piece of
// one frees its memory at once instead of leaving it to a GC. Node reads an upgraded socket into a
// fresh 64 KiB buffer each time; port-forward hands the pieces of it (DATA payloads, views, never
// copies) to the pod socket, after which nothing needs them. But the zero-copy path allocates
// little heap, so GCs are rare, and their external memory piled up meanwhile: tens of MiB of
// buffers that glibc either got back one munmap at a time (MALLOC_MMAP_THRESHOLD_) or kept.
//
// Protocol: whoever takes a read from the socket leases it (one reference, its own); a view handed
// on carries one reference that its receiver must pass on or release; a receiver that simply
// drops a view (a stream destroyed with data buffered, a consumer that knows nothing of leases)
// keeps the buffer alive until the GC, as without leases. The last release detaches the buffer
// (ArrayBuffer.prototype.transfer(0)), which frees its memory there and then: never call release
// before the memory is no longer read, e.g. before a socket's write callback.

const refs = new WeakMap<ArrayBufferLike, number>();

/**
 * Starts counting references to `chunk`'s buffer, with one held by the caller. Only for a chunk
 * that is the one view of a buffer nobody else has seen (a TCP socket's read, not a pooled or
 * shared buffer); anything else is left alone. False when not leased.
 */
export function leaseRead(chunk: Uint8Array): boolean {
  const ab = chunk.buffer;
  if (!(ab instanceof ArrayBuffer) || chunk.byteOffset !== 0 || chunk.byteLength !== ab.byteLength || ab.byteLength === 0 || refs.has(ab)) return false;
  refs.set(ab, 1);
  return true;
}

/** Whether `view` lies in a leased buffer. */
export function isLeased(view: Uint8Array): boolean {
  return refs.has(view.buffer);
}

/** One more holder of (a view into) a leased buffer; nothing for other buffers. */
export function retain(view: Uint8Array): void {
  const n = refs.get(view.buffer);
  if (n !== undefined) refs.set(view.buffer, n + 1);
}

/** A holder is done with its view; the last one frees the buffer. Nothing for other buffers. */
export function release(view: Uint8Array): void {
  const ab = view.buffer;
  const n = refs.get(ab);
  if (n === undefined) return;
  if (n > 1) {
    refs.set(ab, n - 1);
    return;
  }
  refs.delete(ab);
  (ab as ArrayBuffer).transfer(0);
}
