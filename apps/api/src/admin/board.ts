/**
 * The queue dashboard (bull-board): one board with actions for admin sessions and one read-only
 * board for `read` sessions, over every queue of the service. Job data and results pass through
 * `redact` first: user-data (even encrypted), secret-named fields, and in any text URL credentials and
 * queries, tokens and base64 runs (redactText) never reach the browser.
 */

import { fileURLToPath } from 'node:url';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import { type Config, redactText, WEBHOOK_QUEUE } from '@provisioner/contracts';
import type { EndpointStats, HostCordon, JobQueue } from '@provisioner/store';
import type { Queue } from 'bullmq';
import type { Hono } from 'hono';

export const BOARD_PATH = '/admin/queues';

export interface BoardQueue {
  queue: Queue;
  displayName: string;
  description: string;
  /** Set for a host's queue: its cordon is shown in the description. */
  host?: { region: string; host: string };
}

/**
 * The cordon of each host queue of `list`, by display name (null: not cordoned); read when the board's
 * queues are listed, so the page shows the state as it is now.
 */
export type CordonReader = (list: BoardQueue[]) => Promise<Map<string, HostCordon | null>>;

/** Puts a cordoned host's state in front of its queue's description in the board's queue list. */
export function annotateCordons(body: unknown, cordons: Map<string, HostCordon | null>): void {
  const queues = (body as { queues?: Array<{ displayName?: string; description?: string }> } | undefined)?.queues;
  for (const q of queues ?? []) {
    const c = q.displayName === undefined ? null : cordons.get(q.displayName);
    if (c) q.description = `CORDONED (no new VMs) by ${c.cordoned_by} at ${c.cordoned_at}${c.reason ? `: ${c.reason}` : ''} — ${q.description ?? ''}`;
  }
}

/** Each webhook destination's deliveries (endpoint id, or `webhook_url` for jobs' own URLs). */
export type DeliveryReader = () => Promise<Map<string, EndpointStats>>;
export const WEBHOOK_BOARD_NAME = 'webhook deliveries';

/** One destination's line in the delivery queue's description: by id only (an URL may carry a receiver's secret). */
export function deliveryLine(dest: string, st: EndpointStats): string {
  const parts = [`${st.queued} queued`, `${st.retrying} retrying`];
  if (st.next_retry_at) parts.push(`next retry ${st.next_retry_at}`);
  if (st.success_rate !== null) parts.push(`${Math.round(st.success_rate * 100)}% of ${st.attempts} attempts delivered`);
  if (st.last_error) parts.push(`last error ${redactText(st.last_error)} at ${st.last_error_at}`);
  return `${dest}: ${parts.join(', ')}`;
}

/** Puts the delivery queue by destination in front of the webhook queue's description in the board's queue list. */
export function annotateDeliveries(body: unknown, stats: Map<string, EndpointStats>): void {
  const queues = (body as { queues?: Array<{ displayName?: string; description?: string }> } | undefined)?.queues;
  const q = queues?.find((x) => x.displayName === WEBHOOK_BOARD_NAME);
  if (!q || !stats.size) return;
  const lines = [...stats].map(([dest, st]) => deliveryLine(dest, st));
  q.description = `BY ENDPOINT: ${lines.join('; ')} — ${q.description ?? ''}`;
}

/**
 * Queues besides the host queues, each found from the configuration (null when not in use). A new
 * kind of queue (e.g. webhook deliveries) is one more entry here.
 */
export const OTHER_QUEUES: ReadonlyArray<(config: Config, queues: JobQueue) => BoardQueue | null> = [
  (_config, queues) => ({
    queue: queues.get(WEBHOOK_QUEUE),
    displayName: WEBHOOK_BOARD_NAME,
    description: 'signed callbacks to the endpoints clients registered',
  }),
];

/** Every queue of the service: one per configured host, then the others. */
export function boardQueues(config: Config, queues: JobQueue): BoardQueue[] {
  const hosts = queues.all().map(({ region, host, queue }) => ({
    queue,
    displayName: `${region} / ${host}`,
    description: `operations on the VMs of host ${host} in region ${region}`,
    host: { region, host },
  }));
  return [...hosts, ...OTHER_QUEUES.map((f) => f(config, queues)).filter((q): q is BoardQueue => q !== null)];
}

export const REDACTED = '[redacted]';

/** Field names whose values are never shown: user-data (plain or encrypted) and anything secret-like. */
const SECRET_KEY_RE = /user_?data|secret|token|passw|passphrase|private|credential|authorization|cookie|signature|api_?key|^key$|_key$/i;

/** A deep copy of job data or a job result that is safe to show. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 20) return REDACTED;
  // Free text too: URL credentials and queries, bearer tokens, webhook secrets, long base64 runs.
  if (typeof value === 'string') return redactText(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY_RE.test(k) ? (v === null || v === undefined ? v : REDACTED) : redact(v, depth + 1);
    return out;
  }
  return value;
}

interface ShownJob {
  failedReason?: unknown;
  stacktrace?: unknown;
}

/** This install's root (the repository or the image's /app): four levels above this file, or above the bundle's main.js. */
const INSTALL_ROOT = fileURLToPath(new URL(import.meta.url.includes('/src/admin/') ? '../../../../' : '../../../', import.meta.url));

/**
 * A path inside an install as seen from any root: the part before the install's own top folders (`apps/`,
 * `packages/`, `node_modules/`, `dist/`). A worker may run from another directory or machine than this API.
 */
const INSTALL_PATH_RE = /(?<=^|[\s('"])(?:file:\/\/)?\/(?:[^\s()'"`:]*?\/)?(?=(?:apps|packages|node_modules|dist)\/)/g;

/**
 * Stack traces and failure reasons with the install's absolute paths made relative
 * (`/srv/provisioner/apps/worker/src/steps.ts:12` → `apps/worker/src/steps.ts:12`): where the service is
 * installed, and as which user, is none of the dashboard's business.
 */
export function stripInstallPaths(text: string): string {
  const root = INSTALL_ROOT.endsWith('/') ? INSTALL_ROOT : `${INSTALL_ROOT}/`;
  return text.replaceAll(`file://${root}`, '').replaceAll(root, '').replace(INSTALL_PATH_RE, '');
}

/** Free text of a job shown by the board: secrets masked, install paths made relative. */
function shownText(text: string): string {
  return stripInstallPaths(redactText(text));
}

function redactJob(job: ShownJob | null | undefined): void {
  if (!job) return;
  if (typeof job.failedReason === 'string') job.failedReason = shownText(job.failedReason);
  if (Array.isArray(job.stacktrace)) job.stacktrace = job.stacktrace.map((l) => (typeof l === 'string' ? shownText(l) : l));
}

/**
 * What the formatters do not reach: failure reasons, stack traces (they may quote command output) and
 * job logs go through redactText, and lose the install's paths, in every answer of the board's API.
 */
export function redactAnswer<T extends { body?: unknown }>(result: T): T {
  const body = result.body as { queues?: Array<{ jobs?: ShownJob[] }>; job?: ShownJob; logs?: unknown } | unknown[] | undefined;
  if (Array.isArray(body)) {
    result.body = body.map((l) => (typeof l === 'string' ? shownText(l) : l));
  } else if (body && typeof body === 'object') {
    for (const q of body.queues ?? []) for (const j of q.jobs ?? []) redactJob(j);
    redactJob(body.job);
    if (Array.isArray(body.logs)) body.logs = body.logs.map((l) => (typeof l === 'string' ? shownText(l) : l));
  }
  return result;
}

function adapter(q: BoardQueue, readOnlyMode: boolean): BullMQAdapter {
  const a = new BullMQAdapter(q.queue, { readOnlyMode, displayName: q.displayName, description: q.description, delimiter: '.' });
  a.setFormatter('data', redact);
  a.setFormatter('returnValue', redact);
  return a;
}

/** A board mounted at BOARD_PATH: `app.route(BOARD_PATH, makeBoard(...))`. */
export function makeBoard(list: BoardQueue[], readOnlyMode: boolean, cordons?: CordonReader, deliveries?: DeliveryReader): Hono {
  const server = new HonoAdapter(serveStatic);
  server.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: list.map((q) => adapter(q, readOnlyMode)),
    serverAdapter: server,
    options: {
      handlerHooks: {
        after: async (ctx, result) => {
          // The queue list (GET /api/queues) also says which hosts are cordoned; a failed read shows none.
          if (cordons && ctx.route === '/api/queues') annotateCordons(result.body, await cordons(list).catch(() => new Map()));
          // And the delivery queue by endpoint.
          if (deliveries && ctx.route === '/api/queues') annotateDeliveries(result.body, await deliveries().catch(() => new Map()));
          return redactAnswer(result);
        },
      },
      uiConfig: {
        boardTitle: readOnlyMode ? 'Provisioner queues (read-only)' : 'Provisioner queues',
        hideDocsLink: true,
        hideRedisDetails: readOnlyMode,
        miscLinks: [
          { text: 'API reference', url: '/docs' },
          { text: 'Sign out', url: '/admin/logout' },
          { text: 'Sign out everywhere', url: '/admin/logout?all=1' },
        ],
      },
    },
  });
  return server.registerPlugin() as unknown as Hono;
}
