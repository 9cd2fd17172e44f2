// The configured OCI runtimes (RuntimeClass handlers): where each binary is and what it supports.
// Resolved once at start-up; `available()` re-checks the binary so Status notices it vanishing.
import { findExecutable } from '../../lib/fsutil.js';
import { run } from '../../lib/exec.js';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';

export interface RuntimeHandlerSpec {
  name: string;
  path: string;
  root: string;
  systemdCgroup: boolean;
}

export interface HandlerFeatures {
  recursiveReadOnlyMounts: boolean;
  userNamespaces: boolean;
}

export interface RuntimeHandler extends RuntimeHandlerSpec {
  /** The executable found for `path`, or undefined when it is missing. */
  binary: string | undefined;
  features: HandlerFeatures;
  /** Why `features.userNamespaces` is false (verbose Status, refusals), when it is. */
  usernsUnsupported?: string;
}

const NO_FEATURES: HandlerFeatures = { recursiveReadOnlyMounts: false, userNamespaces: false };

/** What `<runtime> features` prints (OCI runtime-spec features.md), the parts we read. */
interface RuntimeFeaturesJson {
  mountOptions?: string[];
  linux?: { namespaces?: string[]; mountExtensions?: { idmap?: { enabled?: boolean } } };
}

/**
 * Parse `features` output; recursive read-only needs runtime support ("rro") and kernel >= 5.12.
 * User namespaces need only the runtime to create and join them (the "user" namespace, or idmap
 * support, which implies it): nexcage makes the idmapped mounts itself. The host's part is
 * checked once at start (userns-support.ts, applied by restrictUserNamespaces).
 */
export function parseFeatures(json: string, kernelRelease: string): HandlerFeatures {
  let f: RuntimeFeaturesJson;
  try {
    f = JSON.parse(json) as RuntimeFeaturesJson;
  } catch {
    return NO_FEATURES;
  }
  const [major = 0, minor = 0] = kernelRelease.split(/[.-]/).map(Number);
  const kernelRro = major > 5 || (major === 5 && minor >= 12);
  return {
    recursiveReadOnlyMounts: kernelRro && (f.mountOptions ?? []).includes('rro'),
    userNamespaces: (f.linux?.namespaces ?? []).includes('user') || f.linux?.mountExtensions?.idmap?.enabled === true,
  };
}

export class RuntimeHandlers {
  private constructor(
    private readonly handlers: Map<string, RuntimeHandler>,
    readonly defaultName: string,
  ) {}

  static async resolve(specs: RuntimeHandlerSpec[], defaultName: string, kernelRelease: string, log: Logger): Promise<RuntimeHandlers> {
    const map = new Map<string, RuntimeHandler>();
    for (const spec of specs) {
      const binary = await findExecutable(spec.path);
      let features = NO_FEATURES;
      let usernsUnsupported: string | undefined = `runtime "${spec.path}" not found`;
      if (binary) {
        const out = await run(binary, ['features'], { timeoutMs: 5000, allowFailure: true }).catch(() => undefined);
        if (out?.exitCode === 0) features = parseFeatures(out.stdout, kernelRelease);
        usernsUnsupported =
          out?.exitCode !== 0
            ? `\`${binary} features\` failed: the runtime cannot say whether it supports user namespaces`
            : features.userNamespaces
              ? undefined
              : `${binary} does not list the user namespace in its \`features\``;
      } else {
        log.warn({ handler: spec.name, path: spec.path }, 'runtime handler binary not found');
      }
      map.set(spec.name, { ...spec, binary, features: { ...features }, ...(usernsUnsupported ? { usernsUnsupported } : {}) });
    }
    return new RuntimeHandlers(map, defaultName);
  }

  /** The host cannot run user-namespaced pods (`reason`): no handler offers them. */
  restrictUserNamespaces(reason: string | undefined): void {
    if (reason === undefined) return;
    for (const h of this.handlers.values()) {
      if (h.features.userNamespaces) h.usernsUnsupported = reason;
      h.features.userNamespaces = false;
    }
  }

  list(): RuntimeHandler[] {
    return [...this.handlers.values()];
  }

  /** The handler for a RuntimeClass name; '' means the default. Unknown names are the caller's error. */
  get(name: string): RuntimeHandler {
    const h = this.handlers.get(name === '' ? this.defaultName : name);
    if (!h) throw new InvalidArgumentError(`runtime handler "${name}" is not configured (known: ${[...this.handlers.keys()].join(', ')})`);
    return h;
  }

  /** Re-resolve the binary: Status must notice a runtime that was removed or installed since start. */
  async available(name: string): Promise<string | undefined> {
    const h = this.get(name);
    h.binary = await findExecutable(h.path);
    return h.binary;
  }
}
