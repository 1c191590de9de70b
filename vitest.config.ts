import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'apps/*/test/unit/**/*.test.ts', 'test/unit/**/*.test.ts'],
          exclude: ['**/*.int.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['packages/*/test/**/*.int.test.ts', 'apps/*/test/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          exclude: ['test/guest/**'],
          globalSetup: ['test/setup/loopback-host.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          // Integration files share one loopback host: run them one at a time, tests inside in order.
          fileParallelism: false,
        },
      },
      {
        test: {
          // Real guests (a Debian cloud image built by scripts/build-guest-image.sh) booted through the
          // service: one shared guest for all files (test/setup/guest.ts). Budget about 5 minutes: image
          // build ≤ 3 min cold (cached by its inputs afterwards), create ≤ 3 min, cloud-init ≤ 4 min.
          name: 'guest',
          include: ['test/guest/**/*.int.test.ts'],
          globalSetup: ['test/setup/loopback-host.ts', 'test/setup/guest.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
