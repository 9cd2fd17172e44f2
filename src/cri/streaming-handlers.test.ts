import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import { RuncExecBackend } from '../runtime/streaming/runc-exec.js';
import { StreamingService } from '../runtime/streaming/streaming-service.js';
import { exec } from './container-exec.js';
import type { Services } from './services.js';
import { toServiceError } from './grpc/status-map.js';
import { streamingHandlers } from './streaming-handlers.js';

const log = silentLogger();
// Only lookups happen here (no process runs): the locator knows one container.
const execBackend = new RuncExecBackend(
  {
    locate: async (id) => {
      if (id !== 'c1') throw new NotFoundError(`container "${id}" not found`);
      return { runtimePath: 'runc', runtimeArgs: [], bundle: '/nonexistent' };
    },
  },
  { workDir: '/nonexistent', log },
);
const streaming = new StreamingService({ address: '127.0.0.1', port: 0, tlsCert: '', tlsKey: '', idleTimeoutMs: 0 }, { exec: execBackend }, log);
beforeAll(() => streaming.start());
afterAll(() => streaming.stop());

const ctx = { log };
const req = { container_id: 'c1', cmd: ['ls'], tty: false, stdin: false, stdout: true, stderr: true };

describe('Exec/Attach/PortForward registration', () => {
  it('registers nothing without a streaming service, so the RPCs stay UNIMPLEMENTED', () => {
    expect(Object.keys(streamingHandlers(ctx, {} as Pick<Services, 'streaming'> as Services))).toEqual([]);
  });

  it('registers only the calls that have a backend', () => {
    expect(Object.keys(streamingHandlers(ctx, { streaming } as Pick<Services, 'streaming'> as Services))).toEqual(['Exec']);
  });
});

describe('Exec', () => {
  it('returns a URL on the streaming server with a one-use token', async () => {
    const { url } = await exec(streaming)(req);
    expect(url).toMatch(new RegExp(`^${streaming.baseUrl}/exec/[A-Za-z0-9_-]{20,}$`));
  });

  it('maps CRI rule violations and unknown containers to INVALID_ARGUMENT and NOT_FOUND', async () => {
    const code = async (r: typeof req): Promise<status> => exec(streaming)(r).then(() => status.OK, (e: unknown) => toServiceError(e).code);
    expect(await code({ ...req, tty: true })).toBe(status.INVALID_ARGUMENT);
    expect(await code({ ...req, stdout: false, stderr: false })).toBe(status.INVALID_ARGUMENT);
    expect(await code({ ...req, container_id: 'nope' })).toBe(status.NOT_FOUND);
  });
});
