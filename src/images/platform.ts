// The node's platform and how an index entry is chosen for it (os/arch/variant, as containerd does).
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export function hostPlatform(): Platform {
  const architecture = ARCH[process.arch] ?? process.arch;
  const p: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') p.variant = `v${(process.config.variables as { arm_version?: string }).arm_version ?? '7'}`;
  return p;
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Does an index entry's platform run here? arm64 entries without a variant count as v8. */
export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  const hv = have.variant ?? (have.architecture === 'arm64' ? 'v8' : undefined);
  if (want.variant === undefined || hv === undefined) return true;
  if (want.architecture === 'arm') return Number(hv.slice(1)) <= Number(want.variant.slice(1));
  return hv === want.variant;
}
