// Decodes the resize stream: JSON objects {"Width":W,"Height":H} one after another (client-go
// writes them with a JSON encoder, newline separated; WebSocket clients send one per message).
import type { ResizeSource, TerminalSize } from './backend.js';

const MAX_BUFFER = 4096;

export class ResizeChannel implements ResizeSource {
  latest: TerminalSize | undefined;
  private readonly listeners = new Set<(size: TerminalSize) => void>();
  private text = '';

  feed(chunk: Buffer | string): void {
    this.text += chunk.toString();
    for (;;) {
      const end = objectEnd(this.text);
      if (end < 0) break;
      const raw = this.text.slice(0, end + 1);
      this.text = this.text.slice(end + 1);
      this.apply(raw);
    }
    // A client that sends garbage without ever closing a brace must not grow this forever.
    if (this.text.length > MAX_BUFFER) this.text = '';
  }

  subscribe(listener: (size: TerminalSize) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private apply(raw: string): void {
    let v: unknown;
    try {
      v = JSON.parse(raw.trim());
    } catch {
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    const { Width, Height } = v as { Width?: unknown; Height?: unknown };
    if (!isDimension(Width) || !isDimension(Height)) return;
    const size = { width: Width, height: Height };
    this.latest = size;
    for (const l of this.listeners) l(size);
  }
}

function isDimension(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff;
}

/** Index of the `}` closing the first top-level JSON object in `s`, or -1. */
function objectEnd(s: string): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && depth > 0 && --depth === 0) return i;
  }
  return -1;
}
