import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { kubeStatus, statusBytes } from './kube-status.js';
import { validateAttach, validateExec, validatePortForward } from './requests.js';
import { ResizeChannel } from './resize-channel.js';

const exec = { kind: 'exec' as const, containerId: 'c1', cmd: ['sh'], tty: false, stdin: false, stdout: true, stderr: false };

describe('CRI validation of streaming requests', () => {
  it('needs one of stdin/stdout/stderr', () => {
    expect(() => validateExec({ ...exec, stdout: false })).toThrow(InvalidArgumentError);
    expect(() => validateAttach({ kind: 'attach', containerId: 'c', tty: false, stdin: true, stdout: false, stderr: false })).not.toThrow();
  });
  it('refuses tty together with stderr', () => {
    expect(() => validateExec({ ...exec, tty: true, stderr: true })).toThrow(/tty and stderr/);
  });
  it('needs a container id and a command', () => {
    expect(() => validateExec({ ...exec, containerId: '' })).toThrow(/container_id/);
    expect(() => validateExec({ ...exec, cmd: [] })).toThrow(/cmd is required/);
  });
  it('checks port numbers of a port forward', () => {
    expect(() => validatePortForward({ kind: 'portforward', sandboxId: 'p', ports: [0] })).toThrow(/port 0/);
    expect(() => validatePortForward({ kind: 'portforward', sandboxId: '', ports: [] })).toThrow(/pod_sandbox_id/);
  });
});

describe('the exit status on the error stream', () => {
  it('is a metav1.Status that client-go turns into an exit code', () => {
    expect(kubeStatus({ kind: 'success' })).toEqual({ metadata: {}, status: 'Success' });
    const s = kubeStatus({ kind: 'exit', code: 42, cmd: ['false'] });
    expect(s).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '42' }] } });
    expect(s.message).toMatch(/^command terminated with non-zero exit code/);
  });
  it('is plain text for protocols before v4, and empty on success', () => {
    expect(statusBytes({ kind: 'success' }, false).length).toBe(0);
    expect(statusBytes({ kind: 'error', message: 'boom' }, false).toString()).toBe('Internal error occurred: boom');
  });
});

describe('ResizeChannel', () => {
  it('decodes concatenated and split JSON resize events and keeps the latest', () => {
    const r = new ResizeChannel();
    const seen: string[] = [];
    r.subscribe((s) => seen.push(`${s.width}x${s.height}`));
    r.feed('{"Width":80,"Height":24}\n{"Wid');
    r.feed('th":100,"Height":30}');
    r.feed('{"Width":-1,"Height":2}');
    expect(seen).toEqual(['80x24', '100x30']);
    expect(r.latest).toEqual({ width: 100, height: 30 });
  });
});
