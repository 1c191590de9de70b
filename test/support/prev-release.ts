/**
 * An earlier release of this repository, checked out once per machine for upgrade tests: the commit's
 * files (`git archive`, no worktree registered) with its own `npm ci`, kept under
 * `/var/cache/provisioner-test/prev-release/COMMIT` (`PROVISIONER_GUEST_CACHE`, the guest image's cache) and
 * reused by later runs, clean clones included (CI pays the `npm ci` once per machine, not once per run).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Why `commit` cannot be checked out here (no git history, or a shallow clone that lacks it), or null when it
 * can. Throws when a full history lacks it: that is a wrong commit, not a missing checkout.
 */
export function releaseUnavailable(commit: string): string | null {
  if (spawnSync('git', ['cat-file', '-e', `${commit}^{commit}`], { cwd: root }).status === 0) return null;
  const shallow = spawnSync('git', ['rev-parse', '--is-shallow-repository'], { cwd: root, encoding: 'utf8' });
  if (shallow.status !== 0) return `release ${commit} cannot be checked out: ${root} is not a git checkout`;
  if (shallow.stdout.trim() === 'true') return `release ${commit} is not in this shallow clone's history (fetch with --unshallow to run the upgrade test)`;
  throw new Error(`release ${commit} is not in this repository's history`);
}

/** The directory of `commit`'s checkout with its dependencies installed; prepares it the first time (minutes). */
export function prepareRelease(commit: string): string {
  const dir = join(process.env.PROVISIONER_GUEST_CACHE || '/var/cache/provisioner-test', 'prev-release', commit);
  if (existsSync(join(dir, '.ready'))) return dir;
  // Prepared aside and renamed into place: a run stopped halfway leaves no checkout that looks ready.
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const archive = execFileSync('git', ['archive', '--format=tar', commit], { cwd: root, maxBuffer: 1 << 30 });
    execFileSync('tar', ['-x', '-C', tmp], { input: archive });
    execFileSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: tmp, stdio: ['ignore', 'ignore', 'inherit'], timeout: 900_000 });
    writeFileSync(join(tmp, '.ready'), `${commit}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return dir;
}
