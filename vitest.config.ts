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
          globalSetup: ['test/setup/loopback-host.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          // Integration files share one loopback host: run them one at a time, tests inside in order.
          fileParallelism: false,
        },
      },
    ],
  },
});
