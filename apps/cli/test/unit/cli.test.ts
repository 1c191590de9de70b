/**
 * The CLI's pure parts: the progress bar and lines, tag arguments, and usage errors answered without reaching any API.
 */

import type { JobView as Job } from '@provisioner/client';
import { describe, expect, it } from 'vitest';
import { ACCEPTS, COMMON_OPTIONS, EXIT, fieldFlags, inFlags, jobText, main, OPTIONS, parseTags, pathAsFlag, stopOutcome } from '../../src/main.ts';
import { bar, ProgressReporter, progressLine, stepDetail, stepLine } from '../../src/progress.ts';
import { sanitize } from '../../src/sanitize.ts';

const job = (over: Partial<Job> = {}): Job => ({
  id: 'job_1',
  kind: 'create',
  target: { region: 'r1', vm_name: 'vm-1', host: 'h1' },
  state: 'running',
  progress: 42.5,
  step: 'fetch-image',
  steps: [],
  attempts: 0,
  created_at: '2026-01-05T10:15:01.870Z',
  started_at: null,
  finished_at: null,
  error: null,
  result: null,
  request_id: null,
  links: { self: '/v1/jobs/job_1', events: '/v1/jobs/job_1/events', cancel: '/v1/jobs/job_1/cancel' },
  ...over,
});

describe('progress', () => {
  it('draws a bar of the percentage, clamped', () => {
    expect(bar(0, 10)).toBe('[----------]');
    expect(bar(50, 10)).toBe('[#####-----]');
    expect(bar(140, 10)).toBe('[##########]');
  });

  it('shows the step while running, the state otherwise, and the attempt on a retry', () => {
    expect(progressLine(job())).toBe('create r1/vm-1 [##########--------------]  42% fetch-image');
    expect(progressLine(job({ state: 'queued', step: null, progress: 0, attempts: 1 }))).toContain('queued (attempt 2)');
    expect(stepLine(job())).toBe('job_1 running step=fetch-image 42%');
    expect(stepLine(job({ state: 'succeeded', progress: 90 }))).toBe('job_1 succeeded 100%');
  });

  it('redraws in place on a terminal, and writes one line per state or step change otherwise', () => {
    const tty: string[] = [];
    const r1 = new ProgressReporter({ isTTY: true, columns: 80, write: (s: string) => tty.push(s) });
    r1.update(job({ progress: 10 }));
    r1.update(job({ progress: 10 }));
    r1.update(job({ progress: 20 }));
    r1.end();
    expect(tty).toHaveLength(3);
    expect(tty[0]?.startsWith('\r\x1b[2Kcreate r1/vm-1 [')).toBe(true);
    expect(tty[2]).toBe('\n');

    const plain: string[] = [];
    const r2 = new ProgressReporter({ write: (s: string) => plain.push(s) });
    r2.update(job({ state: 'queued', step: null, progress: 0 }));
    r2.update(job({ progress: 10 }));
    r2.update(job({ progress: 30 }));
    r2.update(job({ step: 'define', progress: 80 }));
    r2.update(job({ state: 'succeeded', step: null, progress: 100 }));
    r2.end();
    expect(plain.join('')).toBe('job_1 queued 0%\njob_1 running step=fetch-image 10%\njob_1 running step=define 80%\njob_1 succeeded 100%\n');
    expect(plain.join('')).not.toContain('\x1b');
  });
});

describe('arguments', () => {
  it('parses key=value tags, values may hold =', () => {
    expect(parseTags(['owner=me', 'note=a=b', 'empty='])).toEqual({ owner: 'me', note: 'a=b', empty: '' });
    expect(() => parseTags(['novalue'])).toThrow(/key=value/);
  });

  it('answers usage errors with exit 2 before any request', async () => {
    expect(await run(['--help'])).toMatchObject({ code: EXIT.OK, out: expect.stringContaining('Usage: provisioner') });
    expect(await run(['frobnicate'])).toMatchObject({ code: EXIT.ERROR, err: expect.stringContaining("unknown command 'frobnicate'") });
    expect(await run(['list', '--bogus'])).toMatchObject({ code: EXIT.ERROR, err: expect.stringContaining('--bogus') });
    expect(await run(['list'], {})).toMatchObject({ code: EXIT.ERROR, err: expect.stringContaining('PROVISIONER_TOKEN') });
    expect(await run(['start', 'vm-1'])).toMatchObject({ code: EXIT.ERROR, err: expect.stringContaining('--region') });
    expect(await run(['create', 'r1/vm-1', '--type', 'tiny'])).toMatchObject({ code: EXIT.ERROR, err: expect.stringContaining('--image is required') });
    expect(await run(['retag', 'r1/vm-1'])).toMatchObject({ code: EXIT.ERROR, err: expect.stringContaining('--clear') });
    expect(await run(['list', '--url', 'http://127.0.0.1:9'])).toMatchObject({ code: EXIT.UNREACHABLE, err: expect.stringContaining('cannot reach') });
  });

  it('names a --user-data file it cannot read, exit 2 (not 1, a failed job), no stack trace, nothing sent', async () => {
    // The URL is unreachable: had the create been sent, the exit would be 3.
    const r = await run(['create', 'r1/vm-1', '--type', 't', '--image', 'i', '--user-data', '/nonexistent/missing.yaml', '--url', 'http://127.0.0.1:9']);
    expect(r).toMatchObject({ code: EXIT.ERROR, err: expect.stringContaining('cannot read --user-data /nonexistent/missing.yaml: no such file') });
    expect(r.err).not.toMatch(/\n\s+at /);
    const dir = await run(['create', 'r1/vm-1', '--type', 't', '--image', 'i', '--user-data', '/tmp', '--url', 'http://127.0.0.1:9']);
    expect(dir).toMatchObject({ code: EXIT.ERROR, err: expect.stringContaining('--user-data /tmp: is a directory') });
  });

  it('prints one command’s help with --help after it, and lists reboot', async () => {
    const create = await run(['create', '--help'], {});
    expect(create).toMatchObject({ code: EXIT.OK, err: '' });
    expect(create.out).toMatch(/^Usage: provisioner create NAME --type T --image I/);
    expect(create.out).toContain('--user-data FILE');
    expect(create.out).not.toContain('retag');
    const reboot = await run(['reboot', '-h'], {});
    expect(reboot).toMatchObject({ code: EXIT.OK, out: expect.stringMatching(/^Usage: provisioner reboot NAME/) });
    expect((await run(['jobs', '--help'], {})).out).toContain('timestamps');
    expect((await run(['--help'])).out).toMatch(/^ {2}reboot NAME/m);
    expect(await run(['reboot'])).toMatchObject({ code: EXIT.ERROR, err: expect.stringContaining('which VM?') });
  });
});

describe('jobs get', () => {
  it('shows when the job was created, started and finished, and its result', () => {
    const text = jobText(
      job({
        state: 'succeeded',
        progress: 100,
        step: null,
        created_at: '2024-05-01T10:00:00.000Z',
        started_at: '2024-05-01T10:00:01.000Z',
        finished_at: '2024-05-01T10:00:09.000Z',
        result: { ip: '192.0.2.7' },
      }),
    );
    expect(text).toContain('created:   2024-05-01T10:00:00.000Z\n');
    expect(text).toContain('started:   2024-05-01T10:00:01.000Z\n');
    expect(text).toContain('finished:  2024-05-01T10:00:09.000Z\n');
    expect(text).toContain('result:    {"ip":"192.0.2.7"}\n');
    const queued = jobText(job({ state: 'queued', created_at: '2024-05-01T10:00:00.000Z', started_at: null, finished_at: null }));
    expect(queued).toContain('started:   -\n');
    expect(queued).not.toContain('result:');
  });
});

const run = async (argv: string[], env: Record<string, string> = { PROVISIONER_TOKEN: 't' }, tty = false) => {
  const err: string[] = [];
  const out: string[] = [];
  const code = await main(argv, {
    env,
    stdout: { write: (s: string) => out.push(s), isTTY: tty },
    stderr: { write: (s: string) => err.push(s), isTTY: tty },
  });
  return { code, err: err.join(''), out: out.join('') };
};

/** Every option main parses, with a value when it takes one. */
const ALL: Array<[string, string[]]> = [
  ['region', ['--region', 'r1']],
  ['type', ['--type', 'tiny']],
  ['image', ['--image', 'img']],
  ['tag', ['--tag', 'k=v']],
  ['user-data', ['--user-data', '/dev/null']],
  ['tail-bytes', ['--tail-bytes', '10']],
  ['state', ['--state', 'running']],
  ['force', ['--force']],
  ['delete-snapshots', ['--delete-snapshots']],
  ['clear', ['--clear']],
  ['wait', ['--wait']],
  ['wait-ready', ['--wait-ready']],
  ['ready-timeout', ['--ready-timeout', '60']],
  ['timeout-ms', ['--timeout-ms', '1000']],
  ['reason', ['--reason', 'x']],
  ['kind', ['--kind', 'stop']],
  ['vm', ['--vm', 'r1/vm-1']],
  ['limit', ['--limit', '5']],
  ['offset', ['--offset', '5']],
  ['event', ['--event', 'job.failed']],
  ['overlap', ['--overlap', '60']],
  ['hosts', ['--hosts']],
];

/** Each command (and sub-command) with the arguments it needs, and the options it takes. */
const commands = Object.entries(ACCEPTS).flatMap(([cmd, acc]) =>
  Array.isArray(acc)
    ? [
        {
          words: [cmd],
          args: cmd === 'wait' ? ['job_1'] : ['list', 'images', 'regions', 'status'].includes(cmd) ? [] : ['r1/vm-1'],
          takes: acc as readonly string[],
        },
      ]
    : Object.entries(acc).map(([sub, takes]) => ({ words: [cmd, sub], args: cmd === 'jobs' ? (sub === 'get' ? ['job_1'] : []) : ['r1/vm-1', 'snap'], takes })),
);

describe('every option parsed is honoured or refused', () => {
  it('knows every option main parses, and each is taken by some command or by all', () => {
    // A new option added to the parser without a line here (or in ACCEPTS) fails this.
    const taken = new Set(Object.values(ACCEPTS).flatMap((a) => (Array.isArray(a) ? a : Object.values(a).flat())));
    expect(taken).toEqual(new Set(ALL.map(([n]) => n)));
    expect(new Set(Object.keys(OPTIONS))).toEqual(new Set([...taken, ...COMMON_OPTIONS]));
  });

  for (const { words, args, takes } of commands) {
    const refused = ALL.filter(([name]) => !takes.includes(name));
    it(`${words.join(' ')}: refuses ${refused.map(([n]) => `--${n}`).join(' ') || 'nothing'} with exit 2, naming the flag, before any request`, async () => {
      for (const [name, flag] of refused) {
        // Unreachable URL: had anything been sent, the exit would be 3.
        const r = await run([...words, ...args, ...flag, '--url', 'http://127.0.0.1:9']);
        expect(r.code, `${words.join(' ')} --${name}: ${r.err}`).toBe(EXIT.ERROR);
        expect(r.err).toContain(`${words.join(' ')} does not take --${name}`);
      }
    });

    it(`${words.join(' ')}: its help documents each option it takes, with an example`, async () => {
      const help = (await run([words[0] ?? '', '--help'], {})).out;
      expect(help).toMatch(new RegExp(`\\nExample: provisioner ${words[0]}\\b`));
      for (const name of takes) expect(help, `--${name} in ${words[0]} --help`).toContain(`--${name}`);
    });
  }

  it('refuses options that contradict each other', async () => {
    const u = ['--url', 'http://127.0.0.1:9'];
    expect(await run(['stop', 'r1/vm-1', '--force', '--timeout-ms', '1000', ...u])).toMatchObject({
      code: EXIT.ERROR,
      err: expect.stringContaining('--force and --timeout-ms cannot be used together'),
    });
    expect(await run(['retag', 'r1/vm-1', '--clear', '--tag', 'a=b', ...u])).toMatchObject({
      code: EXIT.ERROR,
      err: expect.stringContaining('--clear and --tag'),
    });
    expect(await run(['create', 'r1/vm-1', '--type', 't', '--image', 'i', '--ready-timeout', '9', ...u])).toMatchObject({
      code: EXIT.ERROR,
      err: expect.stringContaining('--ready-timeout needs --wait-ready'),
    });
    expect(await run(['reboot', 'r1/vm-1', '--timeout-ms', 'soon', ...u])).toMatchObject({
      code: EXIT.ERROR,
      err: expect.stringContaining("--timeout-ms takes a positive number of milliseconds, not 'soon'"),
    });
  });

  it('states the 60 s default of --timeout-ms in the help of stop and reboot', async () => {
    for (const cmd of ['stop', 'reboot', 'resize']) expect((await run([cmd, '--help'], {})).out).toMatch(/--timeout-ms N .*\n.*60000 unless configured/);
  });
});

describe('a stop followed with --wait', () => {
  const stop = (over: Partial<Job>) => job({ kind: 'stop', step: 'stop', ...over });

  it('shows the running step’s detail (the countdown), on a terminal and in plain lines', () => {
    const counting = stop({ steps: [{ name: 'stop', state: 'running', started_at: null, finished_at: null, detail: 'graceful shutdown; forcing in 47 s' }] });
    expect(stepDetail(counting)).toBe('graceful shutdown; forcing in 47 s');
    expect(progressLine(counting)).toMatch(/ stop: graceful shutdown; forcing in 47 s$/);
    expect(stepDetail(stop({ steps: [] }))).toBeNull();
    // On a narrow terminal the bar gives way to the countdown.
    const tty: string[] = [];
    const narrow = new ProgressReporter({ isTTY: true, columns: 60, write: (s: string) => tty.push(s) });
    narrow.update(counting);
    expect(tty).toEqual(['\r\x1b[2Kstop r1/vm-1  42% stop: graceful shutdown; forcing in 47 s']);
    // Plain lines: one when what the step says changes, not one per second of the countdown.
    const plain: string[] = [];
    const r = new ProgressReporter({ write: (s: string) => plain.push(s) });
    const at = (detail: string) => stop({ steps: [{ name: 'stop', state: 'running', started_at: null, finished_at: null, detail }] });
    r.update(at('graceful shutdown; forcing in 47 s'));
    r.update(at('graceful shutdown; forcing in 46 s'));
    r.update(at('forcing power-off'));
    expect(plain).toEqual(['job_1 running step=stop 42% graceful shutdown; forcing in 47 s\n', 'job_1 running step=stop 42% forcing power-off\n']);
  });

  it('says in its last line how the stop ended, from the job’s result', () => {
    const done = (stopped: string) => stop({ state: 'succeeded', result: { vm_name: 'vm-1', state: 'shut off', stopped } });
    expect(stopOutcome(done('graceful'), {})).toBe('stopped gracefully: the guest shut down');
    expect(stopOutcome(done('forced'), { 'timeout-ms': '1000' })).toBe('forced: the guest did not shut down within 1000 ms and was powered off');
    expect(stopOutcome(done('forced'), {})).toBe('forced: the guest did not shut down within the timeout and was powered off');
    expect(stopOutcome(done('forced'), { force: true })).toBe('forced: powered off at once (--force)');
    expect(stopOutcome(done('already'), {})).toBe('it was not running: nothing to stop');
    expect(stopOutcome(job({ state: 'succeeded', result: { ip: '192.0.2.7' } }), {})).toBeNull();
  });
});

describe('API errors in flags', () => {
  it('names the fields the command sent by its flags, in the message and the details', () => {
    const rebuild = fieldFlags('rebuild');
    expect(inFlags('the VM has snapshots (a, b) that live in the disk a rebuild replaces: send delete_snapshots: true to delete them', rebuild)).toBe(
      'the VM has snapshots (a, b) that live in the disk a rebuild replaces: pass --delete-snapshots to delete them',
    );
    expect(inFlags('rebuild with delete_snapshots: true to delete them; nothing was changed', rebuild)).toBe(
      'rebuild with --delete-snapshots to delete them; nothing was changed',
    );
    expect(inFlags('delete_snapshots: expected boolean', rebuild)).toBe('--delete-snapshots: expected boolean');
    expect(pathAsFlag('delete_snapshots', rebuild)).toBe('--delete-snapshots');
    const create = fieldFlags('create');
    expect(inFlags('unknown image: image must be one of a, b', create)).toBe('unknown image: --image must be one of a, b');
    expect(inFlags('instance_type must be one of tiny (the types of region r1)', create)).toBe('--type must be one of tiny (the types of region r1)');
    expect(inFlags('vm_name is required', create)).toBe('NAME is required');
    expect(inFlags('ready_timeout_s must be at most 3600', create)).toBe('--ready-timeout must be at most 3600');
    expect(inFlags('tags.owner: tag values: at most 1024 characters', create)).toBe('--tag owner: tag values: at most 1024 characters');
    expect(pathAsFlag('tags.owner', create)).toBe('--tag owner');
    expect(inFlags('tail_bytes must be at most 1048576', fieldFlags('console'))).toBe('--tail-bytes must be at most 1048576');
    expect(inFlags('timeout_ms: too big', fieldFlags('stop'))).toBe('--timeout-ms: too big');
    // A field the command does not send stays as the API wrote it.
    expect(inFlags('delete_snapshots: expected boolean', fieldFlags('stop'))).toBe('delete_snapshots: expected boolean');
    expect(pathAsFlag('webhook_url', create)).toBe('webhook_url');
  });
});

describe('on a terminal', () => {
  it('draws the progress of a job whose texts hold escapes with only its own erase-line escape', () => {
    const tty: string[] = [];
    const r = new ProgressReporter({ isTTY: true, columns: 200, write: (s: string) => tty.push(s) }, sanitize);
    r.update(
      job({
        kind: 'stop',
        step: 'stop',
        target: { region: 'r1', vm_name: 'vm-\x1b]0;t\x07x', host: 'h1' },
        steps: [{ name: 'stop', state: 'running', started_at: null, finished_at: null, detail: 'wait\u009b2J\x1b[31m' }],
      }),
    );
    r.update(job({ state: 'queued', step: null, progress: 0 }));
    expect(tty[0]).toBe('\r\x1b[2Kstop r1/vm-x [##########--------------]  42% stop: wait');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
    expect(tty.join('').replaceAll('\r\x1b[2K', '')).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  });

  it('removes escapes from what it echoes in its own messages; piped or with --raw they are kept', async () => {
    const hostile = 'x\x1b]52;c;cHduZWQ=\x07\x1b[2Jy';
    const tty = await run([hostile], {}, true);
    expect(tty).toMatchObject({ code: EXIT.ERROR, err: expect.stringContaining("unknown command 'xy'") });
    expect(tty.err).not.toContain('\x1b');
    expect((await run([hostile], {}, false)).err).toContain(`unknown command '${hostile}'`);
    expect((await run([hostile, '--raw'], {}, true)).err).toContain(`unknown command '${hostile}'`);
    // parseArgs' own message quotes the option as typed.
    const opt = await run(['list', `--a${hostile}`], {}, true);
    expect(opt).toMatchObject({ code: EXIT.ERROR, err: expect.stringContaining("Unknown option '--ax") });
    expect(opt.err).not.toContain('\x1b');
  });
});
