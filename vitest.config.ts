import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'cri-api/**/*.test.ts', 'test/deploy/**/*.test.ts', 'test/conformance/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // e2e files share host resources (bridge, iptables, registry ports): one file at a time.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // Crash/restart, concurrency, fuzzing, hostile registry, disk full, security (issue 9).
          // Short by default (inside `make test`); `make test-reliability` sets NEXCAGE_RELIABILITY=full.
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          fileParallelism: false,
          // After unit + e2e (group 0), not beside them: crash/concurrency timings on 2 shared cores.
          sequence: { groupOrder: 1 },
          testTimeout: 600_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
