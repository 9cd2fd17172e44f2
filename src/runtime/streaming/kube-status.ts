// How a finished exec/attach is reported on the error stream: protocol v4+ sends a Kubernetes
// metav1.Status as JSON (Success, or Failure with reason NonZeroExitCode and an ExitCode cause
// that client-go turns into the exit code); older protocols send only the message text, and
// nothing on success.

export type Outcome = { kind: 'success' } | { kind: 'exit'; code: number; cmd: readonly string[] } | { kind: 'error'; message: string };

export interface KubeStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: { reason?: string; message: string }[] };
  code?: number;
}

export function kubeStatus(o: Outcome): KubeStatus {
  switch (o.kind) {
    case 'success':
      return { metadata: {}, status: 'Success' };
    case 'exit':
      return {
        metadata: {},
        status: 'Failure',
        message: `command terminated with non-zero exit code: command ${JSON.stringify(o.cmd)} exited with ${o.code}`,
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: String(o.code) }] },
      };
    case 'error':
      return {
        metadata: {},
        status: 'Failure',
        message: `Internal error occurred: ${o.message}`,
        reason: 'InternalError',
        details: { causes: [{ message: o.message }] },
        code: 500,
      };
  }
}

/** The error stream's bytes for this protocol generation (v4+ JSON, older plain text). */
export function statusBytes(o: Outcome, structured: boolean): Buffer {
  if (structured) return Buffer.from(JSON.stringify(kubeStatus(o)));
  if (o.kind === 'success') return Buffer.alloc(0);
  return Buffer.from(kubeStatus(o).message ?? '');
}
