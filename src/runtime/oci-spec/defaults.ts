// Security and mount defaults of a CRI container, chosen to match what containerd gives a pod's
// containers (so workloads behave the same when moved to nexcage). Our own data; every function
// returns a fresh copy so a builder can change it without touching the defaults.
import type { LinuxDeviceCgroup, Mount, Rlimit } from './types.js';

export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The capability set a non-privileged container starts with (containerd's / docker's default 14). */
const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
] as const;

/** Every capability Linux knows, by number (index = capability number, 0..40). */
const ALL_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;

export function defaultCapabilities(): string[] {
  return [...DEFAULT_CAPABILITIES];
}

/**
 * All capabilities the host kernel knows (privileged containers get these). `lastCap` is
 * /proc/sys/kernel/cap_last_cap; runc rejects names the kernel does not know, so newer ones are cut.
 */
export function allCapabilities(lastCap: number = ALL_CAPABILITIES.length - 1): string[] {
  return ALL_CAPABILITIES.slice(0, Math.max(0, lastCap + 1));
}

/** True for a name Linux knows, in CAP_ form. */
export function isKnownCapability(name: string): boolean {
  return (ALL_CAPABILITIES as readonly string[]).includes(name);
}

/** Paths hidden from a non-privileged container (bind of /dev/null or an empty ro tmpfs by runc). */
export function defaultMaskedPaths(): string[] {
  return [
    '/proc/acpi',
    '/proc/asound',
    '/proc/interrupts',
    '/proc/kcore',
    '/proc/keys',
    '/proc/latency_stats',
    '/proc/timer_list',
    '/proc/timer_stats',
    '/proc/sched_debug',
    '/proc/scsi',
    '/sys/firmware',
    '/sys/devices/virtual/powercap',
  ];
}

/** Paths remounted read-only in a non-privileged container. */
export function defaultReadonlyPaths(): string[] {
  return ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
}

/**
 * The kernel filesystems every container gets. /sys and /sys/fs/cgroup are read-only here; the
 * builder makes them rw for privileged containers. No /run tmpfs (CRI containers do not get one).
 */
export function defaultMounts(): Mount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

/**
 * Device cgroup rules: deny everything, then allow mknod of any node plus read/write/mknod on the
 * standard character devices, ptys, the console and /dev/net/tun (containerd's allowed list).
 */
export function defaultDeviceCgroupRules(): LinuxDeviceCgroup[] {
  const allow = (type: 'c' | 'b', major: number | undefined, minor: number | undefined, access: string): LinuxDeviceCgroup => {
    const rule: LinuxDeviceCgroup = { allow: true, type };
    if (major !== undefined) rule.major = major;
    if (minor !== undefined) rule.minor = minor;
    rule.access = access;
    return rule;
  };
  return [
    { allow: false, access: 'rwm' },
    allow('c', undefined, undefined, 'm'),
    allow('b', undefined, undefined, 'm'),
    allow('c', 1, 3, 'rwm'), // null
    allow('c', 1, 5, 'rwm'), // zero
    allow('c', 1, 7, 'rwm'), // full
    allow('c', 1, 8, 'rwm'), // random
    allow('c', 1, 9, 'rwm'), // urandom
    allow('c', 5, 0, 'rwm'), // tty
    allow('c', 5, 1, 'rwm'), // console
    allow('c', 5, 2, 'rwm'), // ptmx
    allow('c', 136, undefined, 'rwm'), // pts/*
    allow('c', 10, 200, 'rwm'), // net/tun
  ];
}

/** The device cgroup rule of a privileged container: everything allowed. */
export function privilegedDeviceCgroupRules(): LinuxDeviceCgroup[] {
  return [{ allow: true, access: 'rwm' }];
}

/**
 * Default process rlimits: nofile soft 1024 / hard 524288 (systemd's and containerd 2's default).
 * The builder clamps every hard limit to the daemon's own (runc cannot raise it without
 * CAP_SYS_RESOURCE).
 */
export function defaultRlimits(): Rlimit[] {
  return [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 524288 }];
}
