// A real registry for tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with a
// random free port and a temp storage dir, optionally behind htpasswd basic auth. Stopped (and
// its storage removed) by stop().
import bcrypt from 'bcryptjs';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface RegistryOptions {
  /** htpasswd users (basic auth); none = anonymous. */
  users?: Record<string, string>;
  /** Parent for the temp dir (default /tmp). */
  parent?: string;
  /** Serve HTTPS with this PEM certificate and key (see makeTestCa). */
  tls?: { cert: string; key: string };
  /** Serve the storage of another registry (e.g. an HTTPS front for images pushed over HTTP). */
  storageOf?: TestRegistry;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export class TestRegistry {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly output: string[] = [];

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly users: Record<string, string> | undefined,
    readonly tls: { cert: string; key: string } | undefined,
    readonly dataDir: string,
  ) {}

  /** host:port, as written in image references. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }
  get url(): string {
    return `${this.tls ? 'https' : 'http'}://${this.host}`;
  }
  /** Push target with the first user's credentials when auth is on. */
  get pushTarget(): { url: string; username?: string; password?: string } {
    const first = this.users ? Object.entries(this.users)[0] : undefined;
    return first ? { url: this.url, username: first[0], password: first[1] } : { url: this.url };
  }

  static async start(opts: RegistryOptions = {}): Promise<TestRegistry> {
    const dir = await mkdtemp(join(opts.parent ?? '/tmp', 'nexcage-registry-'));
    for (let attempt = 0; ; attempt++) {
      const reg = new TestRegistry(dir, await freePort(), opts.users, opts.tls, opts.storageOf?.dataDir ?? join(dir, 'data'));
      try {
        await reg.launch();
        return reg;
      } catch (err) {
        await reg.kill();
        if (attempt >= 2) {
          await rm(dir, { recursive: true, force: true });
          throw err;
        }
      }
    }
  }

  private async launch(): Promise<void> {
    let auth = '';
    if (this.users) {
      const lines = Object.entries(this.users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4)}`);
      await writeFile(join(this.dir, 'htpasswd'), lines.join('\n') + '\n');
      auth = `auth:\n  htpasswd:\n    realm: nexcage-test\n    path: ${join(this.dir, 'htpasswd')}\n`;
    }
    const config = [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${this.dataDir}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${this.port}`,
      ...(this.tls ? ['  tls:', `    certificate: ${this.tls.cert}`, `    key: ${this.tls.key}`] : []),
      auth,
    ].join('\n');
    await writeFile(join(this.dir, 'config.yml'), config);
    const proc = spawn('docker-registry', ['serve', join(this.dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir });
    this.proc = proc;
    this.exited = new Promise((r) => proc.on('exit', () => r()));
    const collect = (b: Buffer): void => {
      this.output.push(...b.toString().split('\n').filter(Boolean));
      if (this.output.length > 500) this.output.splice(0, this.output.length - 500);
    };
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
    let dead = false;
    void this.exited.then(() => (dead = true));
    const deadline = Date.now() + 20_000;
    for (let delay = 20; ; delay = Math.min(delay * 2, 200)) {
      if (dead) throw new Error(`docker-registry exited before serving:\n${this.output.join('\n')}`);
      try {
        if (this.tls) {
          // Up once the port accepts connections (fetch would refuse the test CA).
          await new Promise<void>((resolve, reject) => {
            const c = connect(this.port, '127.0.0.1', () => {
              c.destroy();
              resolve();
            });
            c.on('error', reject);
          });
          return;
        }
        const res = await fetch(`${this.url}/v2/`);
        if (res.status === 200 || res.status === 401) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`docker-registry did not serve on ${this.url}:\n${this.output.join('\n')}`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  private async kill(): Promise<void> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc?.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl), in `dir`. */
export function makeTestCa(dir: string): { ca: string; cert: string; key: string } {
  const p = (n: string): string => join(dir, n);
  const ssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=nexcage test CA']);
  ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(p('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl(['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.pem'), '-days', '2', '-extfile', p('san.ext')]);
  return { ca: p('ca.pem'), cert: p('server.pem'), key: p('server.key') };
}
