import { defineConfig } from 'vitest/config';

/**
 * Three projects, run in this order (docs/testing.md has the figures behind each choice):
 * - unit: pure code and the stores against real Redis, two files at a time (vitest's default here, with
 *   2 cores, would be one);
 * - integration: files against the loopback host, three at a time: most of their time is spent waiting
 *   (a VM's graceful stop, a throttled download, a lock expiring), not computing. Each file has its own
 *   queue prefix, VM and image names, and a file that needs a libvirt of its own has one (a session
 *   libvirt of its own user: resize, drift, placement), so files share the host safely;
 * - exclusive: files that restart a shared daemon (libvirtd) or time lock expiry, one at a time, last;
 * - guest: the real guest, one file at a time (they share one guest and a snapshot revert changes it).
 *   Its global setup submits the guest's create at the start of the run, so the guest boots while the
 *   other projects run.
 */
const EXCLUSIVE = ['test/chaos/faults-round3.int.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'apps/*/test/unit/**/*.test.ts', 'test/unit/**/*.test.ts'],
          exclude: ['**/*.int.test.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['packages/*/test/**/*.int.test.ts', 'apps/*/test/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          exclude: ['test/guest/**', ...EXCLUSIVE],
          globalSetup: ['test/setup/loopback-host.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          // Files share the loopback host, each with names of its own: three at a time (most of it is waiting).
          maxWorkers: Number(process.env.PROVISIONER_TEST_INTEGRATION_WORKERS ?? 3),
          // A failed test runs once more before it fails the run: a stopgap for the timing flakes docs/testing.md
          // lists as not yet understood (a VM missing from its host's inventory just after its create succeeded,
          // seen in clean-clone runs). PROVISIONER_TEST_RETRY=0 turns it off, to hunt them.
          retry: Number(process.env.PROVISIONER_TEST_RETRY ?? 1),
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          // Files that disturb the shared host for everyone (scenario 12 restarts libvirtd) or whose timing
          // is the point (scenario 11's lock expiry): alone, after the integration files.
          name: 'exclusive',
          include: EXCLUSIVE,
          globalSetup: ['test/setup/loopback-host.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          sequence: { groupOrder: 2 },
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
