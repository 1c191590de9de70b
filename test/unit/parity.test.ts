/**
 * Every surface reaches every operation (issue 24: one contract for every surface). The operations are
 * read from the API's own `/openapi.json` (the app in-process, apps/api/test/unit/harness.ts); each one
 * must be sent by a call of the typed client and by a command of the CLI. What each call sends is
 * recorded on its way to the real API (a `fetch` that passes every request on), so a method or a command
 * that exists but sends something else does not count. A new operation without a client method or a CLI
 * command fails here; the legacy routes (tag `legacy`) are the replaced service's, kept for its clients
 * and reached by neither on purpose.
 */
import { Client } from '@provisioner/client';
import { afterAll, describe, expect, it } from 'vitest';
import { TOKENS, useHarness } from '../../apps/api/test/unit/harness.ts';
import { main } from '../../apps/cli/src/main.ts';

const h = useHarness();

type Doc = { paths: Record<string, Record<string, { tags?: string[] }>> };

interface Operation {
  method: string;
  path: string;
  /** Matches a request path sent for it (`{param}` stands for one path segment). */
  re: RegExp;
}

/** The API's operations but the legacy ones, from its own document. */
async function operations(): Promise<Operation[]> {
  const doc = (await (await fetch(`${h.url}/openapi.json`)).json()) as Doc;
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops)
      .filter(([, op]) => !op.tags?.includes('legacy'))
      .map(([method, _]) => ({
        method: method.toUpperCase(),
        path,
        re: new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`),
      })),
  );
}

/** `METHOD /path` of each request, as sent. */
function recorder(): { seen: string[]; fetch: typeof fetch } {
  const seen: string[] = [];
  const real = globalThis.fetch;
  return {
    seen,
    fetch: (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      seen.push(`${(init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase()} ${url.pathname}`);
      return real(input, init);
    },
  };
}

const unreached = (ops: Operation[], seen: string[]) =>
  ops.filter((o) => !seen.some((s) => s.startsWith(`${o.method} `) && o.re.test(s.slice(o.method.length + 1)))).map((o) => `${o.method} ${o.path}`);

const quietly = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch {
    // The answer (404 for a VM that does not exist, 422, ...) does not matter here: the request was sent.
  }
};

describe('packages/client has a method for every operation', () => {
  it('each non-legacy operation of /openapi.json is sent by a client method', { timeout: 60_000 }, async () => {
    const ops = await operations();
    expect(ops.length).toBeGreaterThan(20);
    const rec = recorder();
    const c = new Client({ url: h.url, token: TOKENS.admin, retries: 0, fetch: rec.fetch });
    const vm = ['r1', 'nope'] as const;
    const calls: Array<() => Promise<unknown>> = [
      () => c.health(),
      () => c.ready(),
      () => c.metrics(),
      () => c.regions({ hosts: true }),
      () => c.images(),
      () => c.createVm({ vm_name: 'parity-1', region_name: 'r1', instance_type: 'nope', image: 'nope' }),
      () => c.listVms(),
      () => c.getVm(...vm),
      () => c.console(...vm),
      () => c.startVm(...vm),
      () => c.stopVm(...vm),
      () => c.rebootVm(...vm),
      () => c.resizeVm(...vm, { instance_type: 'tiny' }),
      () => c.rebuildVm(...vm),
      () => c.setTags(...vm, { a: 'b' }, '*'),
      () => c.deleteVm(...vm),
      () => c.createSnapshot(...vm, { name: 's1' }),
      () => c.listSnapshots(...vm),
      () => c.revertSnapshot(...vm, 's1'),
      () => c.deleteSnapshot(...vm, 's1'),
      () => c.getJob('job_00000000000000000000000000000000'),
      () => c.listJobs({ state: 'failed' }),
      () => c.cancelJob('job_00000000000000000000000000000000'),
      async () => {
        for await (const _ of c.jobEvents('job_00000000000000000000000000000000')) break;
      },
      () => c.cordonHost('r1', 'h2', { reason: 'parity' }),
      () => c.uncordonHost('r1', 'h2'),
      () => c.hostDrift('r1', 'h2'),
      () => c.cleanDrift('r1', 'nope'),
      () => c.createWebhook({ url: 'https://hooks.example.com/parity', events: ['job.failed'] }),
      () => c.listWebhooks(),
      () => c.rotateWebhookSecret('whk_00000000000000000000000000000000'),
      () => c.deleteWebhook('whk_00000000000000000000000000000000'),
      () => c.deliveries('job_00000000000000000000000000000000'),
      () => c.redeliver('job_00000000000000000000000000000000', 'msg_1'),
      () => c.signOutEverywhere('parity-token'),
    ];
    for (const call of calls) await quietly(call());
    expect(unreached(ops, rec.seen)).toEqual([]);
  });
});

describe('the CLI reaches every operation', () => {
  /** Operations the CLI leaves to others, each with why. */
  const EXCLUDED: Record<string, string> = {
    'GET /health': 'a liveness probe for orchestrators; `provisioner status` reads /ready, which says more',
    'GET /metrics': 'Prometheus text for a scraper, not for a person at a shell',
  };

  const real = globalThis.fetch;
  afterAll(() => {
    globalThis.fetch = real;
  });

  const cli = async (...argv: string[]) => {
    let out = '';
    const io = {
      env: { PROVISIONER_URL: h.url, PROVISIONER_TOKEN: TOKENS.admin },
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: () => true },
    };
    return { code: await main(argv, io), out };
  };

  it('each non-legacy operation of /openapi.json is sent by a command (legacy and EXCLUDED aside)', { timeout: 60_000 }, async () => {
    const ops = (await operations()).filter((o) => !Object.hasOwn(EXCLUDED, `${o.method} ${o.path}`));
    // An exclusion must name an operation that exists.
    const all = (await operations()).map((o) => `${o.method} ${o.path}`);
    for (const k of Object.keys(EXCLUDED)) expect(all).toContain(k);

    const rec = recorder();
    // The CLI makes its own client, on the global fetch: record it there (every request still goes out).
    globalThis.fetch = rec.fetch;
    const job0 = 'job_00000000000000000000000000000000';
    const runs: string[][] = [
      ['status'],
      ['regions', '--hosts'],
      ['images'],
      ['create', 'r1/parity-2', '--type', 'nope', '--image', 'nope'],
      ['list', '-o', 'table'],
      ['get', 'r1/nope'],
      ['console', 'r1/nope'],
      ['start', 'r1/nope'],
      ['stop', 'r1/nope', '--timeout-ms', '1000'],
      ['reboot', 'r1/nope'],
      ['resize', 'r1/nope', '--type', 'tiny'],
      ['rebuild', 'r1/nope'],
      ['retag', 'r1/nope', '--tag', 'a=b'],
      ['tags', 'set', 'r1/nope', 'a=b'],
      ['delete', 'r1/nope'],
      ['snapshot', 'create', 'r1/nope', 's1'],
      ['snapshot', 'list', 'r1/nope'],
      ['snapshot', 'revert', 'r1/nope', 's1'],
      ['snapshot', 'delete', 'r1/nope', 's1'],
      ['jobs', 'get', job0],
      ['jobs', 'list', '--kind', 'stop', '--vm', 'r1/nope', '--state', 'failed', '--limit', '5', '--offset', '0'],
      ['hosts', 'cordon', 'r1/h2', '--reason', 'parity'],
      ['hosts', 'uncordon', 'r1/h2'],
      ['hosts', 'drift', 'r1/h2'],
      ['webhooks', 'list'],
      ['webhooks', 'add', 'https://hooks.example.com/parity', '--event', 'job.failed'],
      ['webhooks', 'rotate', 'whk_00000000000000000000000000000000', '--overlap', '60'],
      ['webhooks', 'rm', 'whk_00000000000000000000000000000000'],
      ['webhooks', 'deliveries', job0],
      ['webhooks', 'redeliver', job0, 'msg_1'],
      ['signout', 'parity-token'],
    ];
    for (const argv of runs) await cli(...argv);

    // A job's event stream: `wait` follows a queued job (no worker runs here) until a cancel ends it.
    const clean = await cli('hosts', 'clean', 'r1/h2', '-o', 'json');
    expect(clean.code).toBe(0);
    const id = (JSON.parse(clean.out) as { id: string }).id;
    const waiting = cli('wait', id);
    for (let i = 0; i < 100 && !rec.seen.includes(`GET /v1/jobs/${id}/events`); i++) await new Promise((r) => setTimeout(r, 50));
    expect((await cli('jobs', 'cancel', id)).code).toBe(0);
    expect((await waiting).code).toBe(1);
    globalThis.fetch = real;

    expect(unreached(ops, rec.seen)).toEqual([]);
  });
});
