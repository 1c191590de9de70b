/**
 * The `provisioner` CLI as a user runs it: a real process (the npm bin) against the real API and
 * worker processes and the loopback host. `--wait` follows the job's event stream and the exit code
 * says how it ended; API errors are shown with the API's message.
 */
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type Stack, startStack } from '../support/stack.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = resolve(root, 'node_modules/.bin/provisioner');

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
let stack: Stack;
let images: ImageServer;
const good = uniqueName('tiny');
const missing = uniqueName('gone');
const made: string[] = [];

beforeAll(async () => {
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 16 }]));
  stack = await startStack({
    host,
    images: { [good]: { url: images.url('tiny.qcow2') }, [missing]: { url: images.url('no-such-file.qcow2') } },
  });
});

afterAll(async () => {
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await stack?.stop();
  await images?.close();
  await hv.close();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the installed bin with the stack's URL and write token in the environment (as a user would). */
function cli(args: string[], opts: { tty?: boolean } = {}): Promise<Run> {
  const env = { ...process.env, PROVISIONER_URL: stack.url, PROVISIONER_TOKEN: stack.tokens.write, PROVISIONER_REGION: 'r1' };
  // `script` gives the CLI a terminal (to see the live bar); its output then comes on stdout.
  const [cmd, argv] = opts.tty ? ['script', ['-qec', [BIN, ...args].map((a) => `'${a}'`).join(' '), '/dev/null']] : [BIN, args];
  const child = spawn(cmd as string, argv as string[], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((r) => child.on('close', (code) => r({ code, stdout, stderr })));
}

describe('provisioner CLI', () => {
  it('creates a VM with --wait (plain step lines when stderr is not a terminal) and exits 0; get, list and jobs get show it', async () => {
    const name = uniqueName('cli');
    made.push(name);
    const r = await cli(['create', name, '--type', 'tiny', '--image', good, '--tag', 'owner=cli', '--wait']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`create r1/${name}: succeeded`);
    expect(r.stderr).toMatch(/ queued 0%\n/);
    // One line per step seen (a fast step may pass between two events), in the create's order.
    const seen = [...r.stderr.matchAll(/ running step=(\S+) /g)].map((m) => m[1] ?? '');
    const order = ['fetch-image', 'create-disk', 'create-seed', 'define', 'start'];
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.map((s) => order.indexOf(s))).toEqual(seen.map((s) => order.indexOf(s)).sort((a, b) => a - b));
    expect(seen.every((s) => order.includes(s))).toBe(true);
    expect(r.stderr).toMatch(/ succeeded 100%\n/);
    expect(r.stderr).not.toContain('\x1b');

    const got = await cli(['get', `r1/${name}`, '--json']);
    expect(got.code, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ vm_name: name, region_name: 'r1', state: 'running', tags: { owner: 'cli' } });
    const list = await cli(['list', '--tag', 'owner=cli']);
    expect(list.stdout).toMatch(new RegExp(`^${name}\\s+r1\\s+h1\\s+running\\s`, 'm'));

    // Without --wait: the job at once; `wait` and `jobs get` follow it up.
    const retag = await cli(['retag', name, '--tag', 'owner=cli', '--tag', 'env=test', '--json']);
    expect(retag.code, retag.stderr).toBe(0);
    const job = JSON.parse(retag.stdout) as { id: string; kind: string };
    expect(job.kind).toBe('edit-tags');
    const waited = await cli(['wait', job.id]);
    expect(waited.code, waited.stderr).toBe(0);
    const shown = await cli(['jobs', 'get', job.id, '--json']);
    const view = JSON.parse(shown.stdout) as { created_at: string; started_at: string; finished_at: string };
    expect(view).toMatchObject({ id: job.id, state: 'succeeded' });
    // The text form shows when it ran and what it returned.
    const text = await cli(['jobs', 'get', job.id]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`created:   ${view.created_at}\n`);
    expect(text.stdout).toContain(`started:   ${view.started_at}\n`);
    expect(text.stdout).toContain(`finished:  ${view.finished_at}\n`);
    expect(text.stdout).toMatch(/^result: {4}\{.*\}$/m);
  });

  it('draws a live progress bar on a terminal, and deletes with --wait', async () => {
    const name = uniqueName('cli');
    made.push(name);
    const created = await cli(['create', name, '--type', 'tiny', '--image', good, '--json']);
    expect(created.code, created.stderr).toBe(0);
    const reboot = await cli(['reboot', name, '--wait']);
    expect(reboot.code, reboot.stderr).toBe(0);
    expect(reboot.stdout).toContain(`reboot r1/${name}: succeeded`);
    expect(await hv.domainState(name)).toBe('running');
    const r = await cli(['delete', name, '--wait'], { tty: true });
    expect(r.code, r.stdout).toBe(0);
    // Redrawn in place (carriage return, erase line), a bar, and the step while it runs.
    expect(r.stdout).toContain('\r\x1b[2K');
    expect(r.stdout).toMatch(/delete r1\/\S+ \[#{24}\] 100% succeeded/);
    expect(r.stdout).toMatch(/\[[#-]{24}\]\s+\d+% delete/);
    expect(r.stdout).toContain(`delete r1/${name}: succeeded`);
    expect(await hv.domainState(name).catch((e: Error) => e.name)).toBe('DomainNotFoundError');
  });

  it('exits 1 with the job’s error when the image download fails', async () => {
    const name = uniqueName('cli');
    made.push(name);
    const r = await cli(['create', name, '--type', 'tiny', '--image', missing, '--wait']);
    expect(r.code, r.stderr).toBe(1);
    const jobId = /\(job (job_[a-f0-9]{32})\)/.exec(r.stderr)?.[1] ?? '';
    const job = (await (await stack.fetch(`/v1/jobs/${jobId}`)).json()) as { state: string; error: { code: string; message: string } };
    expect(job.state).toBe('failed');
    expect(job.error.message).toContain('HTTP 404');
    expect(r.stderr).toContain(`error: create r1/${name} failed (job ${jobId}): ${job.error.code}: ${job.error.message}`);
  });

  it('names a missing --user-data file and exits 2 (not 1, which says a job failed), creating nothing', async () => {
    const name = uniqueName('cli');
    const r = await cli(['create', name, '--type', 'tiny', '--image', good, '--user-data', 'missing.yaml', '--wait']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("provisioner: cannot read --user-data missing.yaml: no such file\nRun 'provisioner --help' for usage.\n");
    expect((await stack.fetch(`/v1/vms/r1/${name}`)).status).toBe(404);
  });

  it('shows the API’s error for an unknown image and exits 2, without a job', async () => {
    const r = await cli(['create', uniqueName('cli'), '--type', 'tiny', '--image', 'no-such-image', '--wait']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^error: unknown image: image must be one of [^(]+ \(VALIDATION, HTTP 422, request req_[a-f0-9]{32}\)\n {2}image: must be one of [^(]+ \(GET \/v1\/images\)/,
    );
    const json = await cli(['create', uniqueName('cli'), '--type', 'tiny', '--image', 'no-such-image', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({
      error: { status: 422, code: 'VALIDATION', message: expect.stringMatching(/^unknown image: image must be one of /) },
    });
    const denied = await cli(['list', '--token', 'not-a-valid-token-at-all']);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toContain('Invalid or missing API Token (UNAUTHORIZED, HTTP 401');
  });
});
