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
import { type Stack, startStack, waitJob } from '../support/stack.ts';
import { makeTalkerImage } from '../support/talker.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = resolve(root, 'node_modules/.bin/provisioner');

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
let stack: Stack;
let images: ImageServer;
const good = uniqueName('tiny');
const missing = uniqueName('gone');
const talker = uniqueName('talker');
const made: string[] = [];

/**
 * What the talker guest writes to its serial console: a clipboard write (OSC 52, BEL- and ST-terminated),
 * a window title, a screen clear, a DCS, 8-bit C1 forms (UTF-8 encoded), BEL and backspace, between plain text.
 */
const GUEST_SAYS =
  'console-start\r\n\x1b]52;c;cHduZWQ=\x07\x1b]0;pwned-title\x07\x1b[2J\x1b[Hmid\x1b]52;c;c3Q=\x1b\\\x1bP$q"p\x1b\\' +
  '\u009b31m\u009d0;c1-title\u009cbell\x07\x08end\r\nconsole-end\r\n';
/** The same as a terminal must receive it: the text, nothing a terminal acts on. */
const GUEST_SHOWN = 'console-start\nmidbellend\nconsole-end\n';
/** Control characters and C1 code points, `\n` and `\t` aside. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;

beforeAll(async () => {
  const dir = makeImages([{ name: 'tiny.qcow2', sizeMiB: 16 }]);
  makeTalkerImage(dir, 'talker.qcow2', GUEST_SAYS);
  images = await startImageServer(dir);
  stack = await startStack({
    host,
    images: {
      [good]: { url: images.url('tiny.qcow2') },
      [missing]: { url: images.url('no-such-file.qcow2') },
      [talker]: { url: images.url('talker.qcow2') },
    },
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
function cli(args: string[], opts: { tty?: boolean } = {}): Promise<Run & { ms: number }> {
  const t0 = Date.now();
  const env = { ...process.env, PROVISIONER_URL: stack.url, PROVISIONER_TOKEN: stack.tokens.write, PROVISIONER_REGION: 'r1' };
  // `script` gives the CLI a terminal (to see the live bar); its output then comes on stdout.
  const [cmd, argv] = opts.tty ? ['script', ['-qec', [BIN, ...args].map((a) => `'${a}'`).join(' '), '/dev/null']] : [BIN, args];
  const child = spawn(cmd as string, argv as string[], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((r) => child.on('close', (code) => r({ code, stdout, stderr, ms: Date.now() - t0 })));
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

    // list shows the type and image; tags set/rm change some tags and keep the others.
    expect((await cli(['list', '--tag', 'owner=cli'])).stdout).toMatch(
      new RegExp(`^NAME +REGION +HOST +STATE +ADDRESS +TYPE +IMAGE +TAGS\n(.*\n)*${name} +r1 +h1 +running +- +tiny +${good} +`, 'm'),
    );
    const set = await cli(['tags', 'set', name, 'team=web', 'env=prod', '--wait']);
    expect(set.code, set.stderr).toBe(0);
    const rm = await cli(['tags', 'rm', `r1/${name}`, 'team', '--wait']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(JSON.parse((await cli(['get', name, '-o', 'json'])).stdout).tags).toEqual({ owner: 'cli', env: 'prod' });
    expect((await cli(['tags', 'rm', name, 'team'])).stdout).toBe(`r1/${name}: tags unchanged\n`);
    // jobs list with the API's filters: this VM's edit-tags jobs, newest first.
    const jobs = await cli(['jobs', 'list', '--vm', `r1/${name}`, '--kind', 'edit-tags', '--state', 'succeeded', '--limit', '2', '-o', 'json']);
    expect(jobs.code, jobs.stderr).toBe(0);
    const page = JSON.parse(jobs.stdout) as { jobs: Array<{ kind: string; target: { vm_name: string } }>; next_offset: number | null };
    expect(page.jobs.map((j) => [j.kind, j.target.vm_name])).toEqual([
      ['edit-tags', name],
      ['edit-tags', name],
    ]);
    expect(page.next_offset).toBe(2);
    const rest = await cli(['jobs', 'list', '--vm', name, '--kind', 'edit-tags', '--offset', '2']);
    expect(rest.stdout.trim().split('\n')).toHaveLength(2);
    // The catalog and the regions with their instance types.
    expect((await cli(['regions'])).stdout).toMatch(/^r1 +yes +tiny +1 +64 MiB +256 MiB$/m);
    expect((await cli(['images'])).stdout).toContain(good);
  }, 240_000);

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
      /^error: unknown image: --image must be one of [^(]+ \(VALIDATION, HTTP 422, request req_[a-f0-9]{32}\)\n {2}--image: must be one of [^(]+ \(GET \/v1\/images\)/,
    );
    const json = await cli(['create', uniqueName('cli'), '--type', 'tiny', '--image', 'no-such-image', '--json']);
    expect(json.code).toBe(2);
    // --json keeps the API's own words (its field names) for scripts.
    expect(JSON.parse(json.stdout)).toMatchObject({
      error: { status: 422, code: 'VALIDATION', message: expect.stringMatching(/^unknown image: image must be one of /) },
    });
    const type = await cli(['create', uniqueName('cli'), '--type', 'huge', '--image', good]);
    expect(type.code).toBe(2);
    expect(type.stderr).toMatch(/^error: --type must be one of tiny, small /);
    expect(type.stderr).not.toContain('instance_type');
    const denied = await cli(['list', '--token', 'not-a-valid-token-at-all']);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toContain('Invalid or missing API Token (UNAUTHORIZED, HTTP 401');
  });
});

/** What a terminal received (`script` gives the CLI a pty): its line discipline turns `\n` into `\r\n`. */
const screen = (r: Run) => r.stdout.replace(/\r\n/g, '\n');

describe('provisioner CLI and what a guest or a user can make it print', () => {
  const name = uniqueName('talk');
  const tags = { owner: 'cli-talk', note: 'tag\u009b2J\u009d0;t\u009cx', rtl: '\u202egnp.exe' };

  beforeAll(async () => {
    made.push(name);
    const r = await stack.fetch('/v1/vms', {
      method: 'POST',
      body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image: talker, tags }),
    });
    expect(r.status, await r.clone().text()).toBe(202);
    expect((await waitJob(stack, ((await r.json()) as { id: string }).id)).state).toBe('succeeded');
    // SeaBIOS boots the sector in about a second under emulation.
    const end = Date.now() + 60_000;
    for (;;) {
      const text = await (await stack.fetch(`/v1/vms/r1/${name}/console`)).text();
      if (text.includes('console-end')) break;
      if (Date.now() > end) throw new Error(`the talker said nothing: ${JSON.stringify(text)}`);
      await new Promise((res) => setTimeout(res, 500));
    }
  }, 180_000);

  it('console: a terminal gets the guest’s text without its escapes; a pipe gets the bytes unchanged; --raw opts in', async () => {
    const api = await (await stack.fetch(`/v1/vms/r1/${name}/console`)).text();
    expect(api).toContain(GUEST_SAYS);

    const tty = await cli(['console', name], { tty: true });
    expect(tty.code, tty.stdout).toBe(0);
    expect(screen(tty)).toContain(GUEST_SHOWN);
    expect(screen(tty)).not.toMatch(CONTROLS);
    expect(tty.stdout).not.toContain('pwned-title');

    const piped = await cli(['console', name]);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout).toBe(api);

    const raw = await cli(['console', name, '--raw'], { tty: true });
    expect(raw.code, raw.stdout).toBe(0);
    expect(raw.stdout).toContain('\x1b]52;c;cHduZWQ=\x07');
    expect(raw.stdout).toContain('\x1b]0;pwned-title\x07');
  });

  it('tags in list and get: escapes removed on a terminal (columns still aligned), as they are in a pipe; --json escapes them', async () => {
    const list = await cli(['list', '--tag', 'owner=cli-talk'], { tty: true });
    expect(list.code, list.stdout).toBe(0);
    expect(screen(list)).not.toMatch(CONTROLS);
    const lines = screen(list).trimEnd().split('\n');
    const row = lines.find((l) => l.startsWith(name)) ?? '';
    expect(row).toContain('note=tagx');
    expect(row).toContain('rtl=gnp.exe');
    // The TAGS column starts where its header does.
    expect(row.indexOf('owner=') === lines[0]?.indexOf('TAGS') || row.indexOf('note=') === lines[0]?.indexOf('TAGS')).toBe(true);

    const got = await cli(['get', `r1/${name}`], { tty: true });
    expect(screen(got)).not.toMatch(CONTROLS);
    expect(screen(got)).toMatch(/^tags: +.*note=tagx/m);

    const piped = await cli(['list', '--tag', 'owner=cli-talk']);
    expect(piped.stdout).toContain(`note=${tags.note}`);
    expect(piped.stdout).toContain(`rtl=${tags.rtl}`);

    // JSON on a terminal: the same value, its C1 and bidi characters written as \u escapes.
    const json = await cli(['get', `r1/${name}`, '--json'], { tty: true });
    expect(screen(json)).not.toMatch(CONTROLS);
    expect(json.stdout).toContain('\\u009b2J');
    expect((JSON.parse(screen(json)) as { tags: Record<string, string> }).tags).toEqual(tags);
  });

  it('stop and reboot honour --timeout-ms; --wait shows the countdown and how the stop ended', async () => {
    // The talker halts with interrupts off: it never acts on the shutdown request, so each stop is forced
    // once its timeout ends. The stack's default is 2 s (worker.stop_timeout_ms), so 5 s shows it was sent.
    const stop = await cli(['stop', name, '--timeout-ms', '5000', '--wait']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stderr).toMatch(/ running step=stop \d+% graceful shutdown; forcing in [345] s\n/);
    expect(stop.stdout).toMatch(
      new RegExp(`stop r1/${name}: succeeded \\(job job_[a-f0-9]+\\); forced: the guest did not shut down within 5000 ms and was powered off\\n$`),
    );
    expect(stop.ms).toBeGreaterThanOrEqual(5000);
    expect(await hv.domainState(name)).toBe('shut off');
    const job = /\(job (job_[a-f0-9]+)\)/.exec(stop.stdout)?.[1] ?? '';
    expect(((await (await stack.fetch(`/v1/jobs/${job}`)).json()) as { result: unknown }).result).toMatchObject({ stopped: 'forced' });

    expect((await cli(['start', name, '--wait'])).code).toBe(0);
    const reboot = await cli(['reboot', name, '--timeout-ms', '4000', '--wait'], { tty: true });
    expect(reboot.code, reboot.stdout).toBe(0);
    // On a terminal: the step's countdown, redrawn in place (80 columns: without the bar, which does not fit beside it).
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the erase-line escape is what is looked for
    expect(reboot.stdout).toMatch(/\r\x1b\[2Kreboot r1\/\S+\s+\d+% stop: graceful shutdown; forcing in [34] s/);
    expect(screen(reboot)).toContain(`; forced: the guest did not shut down within 4000 ms and was powered off\n`);
    expect(reboot.ms).toBeGreaterThanOrEqual(4000);
    expect(await hv.domainState(name)).toBe('running');

    // An option the command does not take is refused, naming it, and nothing is queued.
    const refused = await cli(['start', name, '--timeout-ms', '1000']);
    expect(refused).toMatchObject({ code: 2, stderr: expect.stringContaining('start does not take --timeout-ms') });
  }, 120_000);

  it('speaks in flags when the API refuses a field it sent (409: rebuild of a VM with snapshots)', async () => {
    expect((await cli(['stop', name, '--force', '--wait'])).code).toBe(0);
    const snap = await cli(['snapshot', 'create', name, 'before', '--wait']);
    expect(snap.code, snap.stderr).toBe(0);
    const r = await cli(['rebuild', name]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('pass --delete-snapshots');
    expect(r.stderr).not.toContain('delete_snapshots');
    const del = await cli(['delete', name, '--wait']);
    expect(del.code, del.stderr).toBe(0);
  }, 120_000);
});
