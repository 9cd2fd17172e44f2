// Stands in for systemd's NOTIFY_SOCKET in tests: a unix datagram socket read by socat (Node
// cannot receive datagrams on unix sockets), collecting every KEY=value the daemon sends.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface NotifyReceiver {
  path: string;
  /** Everything received so far (datagrams concatenated). */
  text(): string;
  /** Stops socat and, once it is gone (it unlinks its socket on the way out), removes the dir. */
  close(): Promise<void>;
}

export async function notifyReceiver(): Promise<NotifyReceiver> {
  const dir = mkdtempSync('/tmp/nexcage-sdnotify-');
  const path = join(dir, 'notify.sock');
  const p = spawn('socat', ['-u', `UNIX-RECV:${path}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  for (let i = 0; i < 500 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 10));
  if (!existsSync(path)) throw new Error(`socat did not create ${path}`);
  return {
    path,
    text: () => out,
    close: async () => {
      const exited = p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : once(p, 'exit');
      p.kill();
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
