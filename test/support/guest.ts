/**
 * A real guest for end-to-end tests: a bootable Debian cloud image built by scripts/build-guest-image.sh,
 * served to the loopback host, created through the API with user-data, and read from the host through
 * its QEMU guest agent (`virsh qemu-agent-command`). The guest project's global setup
 * (test/setup/guest.ts) boots one such guest for all its files; these helpers are what they use.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { type ImageServer, startImageServer } from './host.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the guest project's global setup hands its test files (`inject('guest')`). */
export interface SharedGuest {
  /** The API's base URL and an admin token for it. */
  url: string;
  token: string;
  region: string;
  vm: string;
  instanceType: string;
  /** The guest image's name in the service's catalog. */
  image: string;
  /** Written into the guest by its user-data (write_files and runcmd). */
  nonce: string;
  /** A key pair made for this run; the public half is authorized in the guest's default user `debian`. */
  publicKey: string;
  privateKeyPath: string;
  libvirtUri: string;
  disksDir: string;
  /** The admin token's webhook secret (webhooks to 127.0.0.1 are allowed by the service's configuration). */
  webhookSecret: string;
  /** The guest's create sends its outcome here (a HookInbox of the global setup); GET on it lists what came. */
  webhookUrl: string;
  /**
   * The guest's create job, submitted by the global setup at the start of the run (so the guest boots while
   * the other projects' tests run), and when it was submitted; null when the setup did not submit it.
   */
  create: { id: string; submittedAt: number } | null;
}

/** A webhook a HookInbox received. */
export interface ReceivedHook {
  headers: Record<string, string>;
  body: string;
  /** When the inbox got it (epoch ms): the guest boots while other projects run, so it is read much later. */
  received_at: number;
}

/**
 * Verifies a recorded webhook's signature and its timestamp as of when it arrived: standardwebhooks
 * refuses a timestamp more than 5 minutes from its clock, and the guest's hooks are read long after.
 */
export function verifyAsReceived<T>(secret: string, hook: ReceivedHook): T {
  const now = Date.now;
  Date.now = () => hook.received_at;
  try {
    return new Webhook(secret).verify(hook.body, hook.headers) as T;
  } finally {
    Date.now = now;
  }
}

/**
 * Records the webhooks POSTed to it for the whole run (the global setup's process) and answers GET with
 * them as JSON, so any test file of the project can read the outcome of the create that another file made.
 */
export async function startHookInbox(): Promise<{ url: string; close(): Promise<void> }> {
  const got: ReceivedHook[] = [];
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(got));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      got.push({ headers, body: Buffer.concat(chunks).toString('utf8'), received_at: Date.now() });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Where the user-data writes the nonce: by write_files, and by runcmd (the last stage's scripts). */
export const NONCE_FILE = '/var/lib/provisioner-test/nonce';
export const RUNCMD_FILE = '/var/lib/provisioner-test/runcmd';

/** Builds (or takes from its cache) the guest image; returns its path. Cold about 1-2 min, cached instantly. */
export function buildGuestImage(): string {
  const out = execFileSync('bash', ['scripts/build-guest-image.sh'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 600_000,
  });
  const path = out.trim().split('\n').at(-1) ?? '';
  if (!path.endsWith('.qcow2')) throw new Error(`build-guest-image.sh printed no image path: ${out}`);
  return path;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk);
  return h.digest('hex');
}

/** Serves the image (a link to it: the server removes its own directory when closed) to the loopback host. */
export async function serveGuestImage(path: string): Promise<{ server: ImageServer; url: string; sha256: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'prov-guest-img-'));
  symlinkSync(path, join(dir, basename(path)));
  const [server, sha256] = await Promise.all([startImageServer(dir), sha256File(path)]);
  return { server, url: server.url(basename(path)), sha256 };
}

/** A fresh ed25519 key pair in a directory of its own. */
export function makeKeyPair(): { publicKey: string; privateKeyPath: string } {
  const dir = mkdtempSync(join(tmpdir(), 'prov-guest-key-'));
  const privateKeyPath = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'provisioner-guest-test', '-f', privateKeyPath]);
  return { publicKey: readFileSync(`${privateKeyPath}.pub`, 'utf8').trim(), privateKeyPath };
}

/** Cloud-config that proves it ran: the nonce in a file by write_files and again by runcmd, and an SSH key. */
export function guestUserData(nonce: string, publicKey: string): string {
  return [
    '#cloud-config',
    'ssh_authorized_keys:',
    `  - ${JSON.stringify(publicKey)}`,
    'write_files:',
    `  - path: ${NONCE_FILE}`,
    `    content: ${JSON.stringify(nonce)}`,
    'runcmd:',
    `  - [sh, -c, ${JSON.stringify(`echo ${nonce} > ${RUNCMD_FILE}`)}]`,
    '',
  ].join('\n');
}

const sharedApi = (g: SharedGuest, path: string, init: RequestInit = {}) =>
  fetch(`${g.url}${path}`, { ...init, headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json' } });

/** Polls a job of the shared guest's service until it ends; returns its final view. */
export async function waitGuestJob(g: SharedGuest, id: string, ms: number): Promise<Record<string, unknown>> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const job = (await (await sharedApi(g, `/v1/jobs/${id}`)).json()) as Record<string, unknown>;
    if (['succeeded', 'failed', 'canceled'].includes(String(job.state))) return job;
    await sleep(500);
  }
  throw new Error(`job ${id} did not end within ${ms} ms`);
}

/** The request that creates the project's one guest: user-data above, `wait_until: ready`, webhooks to the inbox. */
export function guestCreateBody(g: Omit<SharedGuest, 'create'>): string {
  return JSON.stringify({
    vm_name: g.vm,
    region_name: g.region,
    instance_type: g.instanceType,
    image: g.image,
    user_data: Buffer.from(guestUserData(g.nonce, g.publicKey)).toString('base64'),
    wait_until: 'ready',
    webhook_url: g.webhookUrl,
    // Its guest becoming ready is announced there too (boot.int.test.ts checks it).
    webhook_events: ['vm.ready'],
  });
}

/**
 * The project's one guest. The global setup submits its create (POST /v1/vms with the user-data above and
 * `wait_until: ready`) at the start of the run; every caller waits for that job, which ends once cloud-init
 * is done and the guest has an address (≤ 4.5 min: a first run also downloads the 400 MiB image, then the
 * boot), and gets its final view and when it was submitted. Without a job from the setup, the first caller
 * creates the guest the same way and later callers (one file at a time) find it and reuse it. Its outcome
 * also goes to the run's webhook inbox (`g.webhookUrl`).
 */
export async function ensureGuest(g: SharedGuest): Promise<{ created: { job: Record<string, unknown>; submittedAt: number } | null }> {
  if (g.create) return { created: { job: await waitGuestJob(g, g.create.id, 270_000), submittedAt: g.create.submittedAt } };
  const existing = await sharedApi(g, `/v1/vms/${g.region}/${g.vm}`);
  if (existing.status === 200) return { created: null };
  const submittedAt = Date.now();
  const res = await sharedApi(g, '/v1/vms', { method: 'POST', body: guestCreateBody(g) });
  if (res.status !== 202) throw new Error(`guest create answered ${res.status}: ${await res.text()}`);
  const job = await waitGuestJob(g, ((await res.json()) as { id: string }).id, 270_000);
  return { created: { job, submittedAt } };
}

export class AgentError extends Error {}

/** One guest-agent command through libvirt; returns its `return` value. */
export async function agent<T = unknown>(uri: string, vm: string, execute: string, args?: Record<string, unknown>, timeoutS = 10): Promise<T> {
  const cmd = JSON.stringify(args ? { execute, arguments: args } : { execute });
  try {
    const { stdout } = await run('virsh', ['-c', uri, 'qemu-agent-command', '--timeout', String(timeoutS), vm, cmd], { timeout: (timeoutS + 10) * 1000 });
    return (JSON.parse(stdout) as { return: T }).return;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new AgentError(`${execute}: ${(err.stderr ?? err.message).trim()}`);
  }
}

/** Reads a whole (small) file in the guest through the agent; AgentError when it does not exist. */
export async function readGuestFile(uri: string, vm: string, path: string): Promise<string> {
  const handle = await agent<number>(uri, vm, 'guest-file-open', { path, mode: 'r' });
  try {
    const parts: Buffer[] = [];
    for (;;) {
      const r = await agent<{ 'buf-b64': string; eof: boolean }>(uri, vm, 'guest-file-read', { handle, count: 1 << 20 });
      parts.push(Buffer.from(r['buf-b64'], 'base64'));
      if (r.eof) return Buffer.concat(parts).toString('utf8');
    }
  } finally {
    await agent(uri, vm, 'guest-file-close', { handle }).catch(() => undefined);
  }
}

/** Runs a program in the guest through the agent and waits for it to end. */
export async function guestExec(uri: string, vm: string, argv: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const [path, ...arg] = argv;
  const { pid } = await agent<{ pid: number }>(uri, vm, 'guest-exec', { path, arg, 'capture-output': true });
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const s = await agent<{ exited: boolean; exitcode?: number; 'out-data'?: string; 'err-data'?: string }>(uri, vm, 'guest-exec-status', { pid });
    if (s.exited) {
      const text = (b?: string) => (b ? Buffer.from(b, 'base64').toString('utf8') : '');
      return { code: s.exitcode ?? -1, stdout: text(s['out-data']), stderr: text(s['err-data']) };
    }
    await sleep(250);
  }
  throw new AgentError(`${argv.join(' ')} did not end within ${timeoutMs} ms`);
}

export interface CloudInitResult {
  datasource: string;
  errors: string[];
  /** Milliseconds from `since` until the result was first seen. */
  elapsedMs: number;
}

/**
 * Waits until cloud-init has finished in the guest: /run/cloud-init/result.json exists (written at the end
 * of its last stage; `cloud-init status --wait` can answer `error` before that stage has run). Polls
 * through the agent, which itself answers only once the guest has booted that far.
 */
export async function waitCloudInit(uri: string, vm: string, budgetMs: number, since = Date.now()): Promise<CloudInitResult> {
  const end = Date.now() + budgetMs;
  let last = 'no answer yet';
  while (Date.now() < end) {
    try {
      const r = JSON.parse(await readGuestFile(uri, vm, '/run/cloud-init/result.json')) as { v1: { datasource: string; errors: string[] } };
      return { datasource: r.v1.datasource, errors: r.v1.errors, elapsedMs: Date.now() - since };
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(2000);
  }
  throw new Error(`cloud-init did not finish in ${vm} within ${budgetMs} ms (last: ${last})`);
}

/** The guest's IPv4 address from the libvirt network's DHCP leases, or null while it has none. */
export async function leaseAddress(uri: string, vm: string): Promise<string | null> {
  const { stdout } = await run('virsh', ['-c', uri, 'domifaddr', vm, '--source', 'lease']);
  return /\bipv4\s+(\d+\.\d+\.\d+\.\d+)\/\d+/.exec(stdout)?.[1] ?? null;
}

/** Names of every domain the libvirt connection knows, running or not. */
export function domainNames(uri: string): string[] {
  return execFileSync('virsh', ['-c', uri, 'list', '--all', '--name'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}
