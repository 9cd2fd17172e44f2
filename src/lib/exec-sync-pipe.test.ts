import { describe, expect, it } from 'vitest';
import { run } from './exec.js';

describe('run() with a sync pipe (programs that daemonize, like conmon)', () => {
  it('settles on the first message even though a surviving grandchild keeps the pipe and stdio open', async () => {
    const started = Date.now();
    // The child forks a long-lived grandchild that inherits fd 3 and stdout, then reports and exits.
    const res = await run('sh', ['-c', '(sleep 3 &) ; echo "{\\"data\\": 42}" >&$SYNC ; echo to-stdout'], { syncPipe: { env: 'SYNC', lines: 1 }, timeoutMs: 10_000 });
    expect(Date.now() - started).toBeLessThan(2500);
    expect(res.exitCode).toBe(0);
    expect(res.sync).toEqual(['{"data": 42}']);
    expect(res.stdout).toContain('to-stdout');
  });

  it('settles when the pipe closes without a message, carrying the output for the error', async () => {
    const res = await run('sh', ['-c', 'echo "bad flag" >&2; exit 3'], { syncPipe: { env: 'SYNC', lines: 1 }, allowFailure: true });
    expect(res.exitCode).toBe(3);
    expect(res.sync).toEqual([]);
    expect(res.stderr).toContain('bad flag');
    await expect(run('sh', ['-c', 'exit 4'], { syncPipe: { env: 'SYNC', lines: 1 } })).rejects.toThrow(/exit code 4/);
  });
});
