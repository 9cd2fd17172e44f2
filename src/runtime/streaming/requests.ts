// The three streaming requests as the domain sees them, and the CRI's validation rules for them.
import { InvalidArgumentError } from '../../lib/errors.js';

export interface StdioFlags {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export interface ExecRequest extends StdioFlags {
  kind: 'exec';
  containerId: string;
  cmd: string[];
}

export interface AttachRequest extends StdioFlags {
  kind: 'attach';
  containerId: string;
}

export interface PortForwardRequest {
  kind: 'portforward';
  sandboxId: string;
  /** Ports named in the CRI request; WebSocket clients that give no `port` query use these. */
  ports: number[];
}

export type StreamRequest = ExecRequest | AttachRequest | PortForwardRequest;

/** CRI: one of stdin/stdout/stderr must be set; with a TTY stderr must be false (it is merged). */
export function validateStdio(what: string, f: StdioFlags): void {
  if (!f.stdin && !f.stdout && !f.stderr) throw new InvalidArgumentError(`${what}: one of stdin, stdout and stderr must be true`);
  if (f.tty && f.stderr) throw new InvalidArgumentError(`${what}: tty and stderr cannot both be true (a terminal merges stderr into stdout)`);
}

export function validateExec(r: ExecRequest): void {
  if (r.containerId === '') throw new InvalidArgumentError('exec: container_id is required');
  if (r.cmd.length === 0 || r.cmd[0] === '') throw new InvalidArgumentError(`exec in container "${r.containerId}": cmd is required`);
  validateStdio(`exec in container "${r.containerId}"`, r);
}

export function validateAttach(r: AttachRequest): void {
  if (r.containerId === '') throw new InvalidArgumentError('attach: container_id is required');
  validateStdio(`attach to container "${r.containerId}"`, r);
}

export function validatePortForward(r: PortForwardRequest): void {
  if (r.sandboxId === '') throw new InvalidArgumentError('port forward: pod_sandbox_id is required');
  for (const p of r.ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new InvalidArgumentError(`port forward to pod "${r.sandboxId}": port ${p} is not between 1 and 65535`);
  }
}
