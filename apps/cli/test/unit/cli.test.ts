/**
 * The CLI's pure parts: the progress bar and lines, tag arguments, and usage errors answered without reaching any API.
 */

import type { JobView as Job } from '@provisioner/client';
import { describe, expect, it } from 'vitest';
import { EXIT, jobText, main, parseTags } from '../../src/main.ts';
import { bar, ProgressReporter, progressLine, stepLine } from '../../src/progress.ts';

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

  const run = async (argv: string[], env: Record<string, string> = { PROVISIONER_TOKEN: 't' }) => {
    const err: string[] = [];
    const out: string[] = [];
    const code = await main(argv, { env, stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } });
    return { code, err: err.join(''), out: out.join('') };
  };

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
