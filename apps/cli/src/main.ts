/**
 * `provisioner`: create, list, read and operate VMs through the Provisioner API, and follow jobs.
 *
 * @example
 * export PROVISIONER_URL=http://127.0.0.1:8080 PROVISIONER_TOKEN=…
 * provisioner create amber-otter --region eu-1 --type small --image debian-12 --tag owner=me --wait
 * provisioner list --region eu-1 --json
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ApiError, Client, ConnectionError, type HostCordonView, type HostDrift, type JobView as Job, type VmItem } from '@provisioner/client';
import { type Out, ProgressReporter, target } from './progress.ts';

/** Exit codes: scripts tell a failed job from a refused request from an unreachable API. */
export const EXIT = { OK: 0, JOB_FAILED: 1, ERROR: 2, UNREACHABLE: 3 } as const;

export interface Io {
  env: NodeJS.ProcessEnv;
  stdout: Out;
  stderr: Out;
}

export const USAGE = `Usage: provisioner <command> [arguments] [options]

Commands:
  create NAME --region R --type T --image I [--tag k=v]... [--user-data FILE]   create a VM
  list [--region R] [--state S] [--tag k=v]...                                  list VMs
  get NAME --region R                                                           show one VM
  console NAME --region R [--tail-bytes N]                                      print the end of a VM's serial console log
  start NAME --region R                                                         start a VM
  stop NAME --region R [--force]                                                stop a VM (--force: power off at once)
  reboot NAME --region R                                                        stop a VM cleanly, then start it
  resize NAME --region R --type T [--force] [--timeout-ms N]                    give a VM another instance type
  rebuild NAME --region R [--image I] [--user-data FILE] [--force] [--delete-snapshots]   a fresh disk on an image
  delete NAME --region R                                                        delete a VM and its disks
  snapshot create|revert|delete NAME SNAPSHOT | snapshot list NAME              snapshots of a VM
  retag NAME --region R (--tag k=v... | --clear)                                replace a VM's tags
  wait JOB_ID                                                                   follow a job until it ends
  jobs get JOB_ID | jobs list [--state S]                                       show jobs
  hosts cordon|uncordon|drift|clean HOST --region R [--reason TEXT]             host maintenance (admin tokens)

Run 'provisioner COMMAND --help' for one command's options. NAME may also be written REGION/NAME. Mutating commands answer with their job; --wait follows it
with a progress bar (on stderr, when it is a terminal) and exits 0 when it succeeds, 1 when it fails.

Options:
  --url URL        API address (default: $PROVISIONER_URL, else http://127.0.0.1:8080)
  --token TOKEN    API token (default: $PROVISIONER_TOKEN; prefer the variable: arguments show in ps)
  --region R       region (default: $PROVISIONER_REGION)
  --wait           follow the job to its end
  --json           machine-readable output on stdout
  -h, --help       this text

Exit codes: 0 success, 1 the job failed or was canceled, 2 usage error or the API refused the request,
3 the API could not be reached.`;

const COMMON = `  --url URL        API address (default: $PROVISIONER_URL, else http://127.0.0.1:8080)
  --token TOKEN    API token (default: $PROVISIONER_TOKEN)
  --json           machine-readable output on stdout`;
const VM = '  --region R, -r   region of NAME (default: $PROVISIONER_REGION; or write REGION/NAME)';
const WAIT = '  --wait, -w       follow the job to its end: exit 0 when it succeeds, 1 when it fails';

/** `provisioner COMMAND --help`: one command's synopsis and the options it reads. */
const HELP: Record<string, string> = {
  create: `Usage: provisioner create NAME --type T --image I [--tag k=v]... [--user-data FILE] [--wait | --wait-ready]

Creates a VM and prints its job.

  --type T, -t T   instance type offered by the region
  --image I, -i I  image of the catalog (GET /v1/images)
  --tag k=v        a tag (repeatable)
  --user-data FILE cloud-init user-data for the VM ('-' reads stdin)
  --wait-ready     the job ends once the guest is ready (cloud-init done, address known), not once it
                   runs; followed to its end, then the VM's addresses are printed. If it is not ready in
                   time the VM is kept: 'provisioner console NAME' shows why
  --ready-timeout S  with --wait-ready: seconds to wait for the guest (default 900, at most 3600)
${VM}
${WAIT}`,
  list: `Usage: provisioner list [--region R] [--state S] [--tag k=v]...

Lists VMs (every enabled region unless --region or $PROVISIONER_REGION names one).

  --state S        only VMs in this state (running, shut off, ...)
  --tag k=v        only VMs with this tag (repeatable: all must match)
  --region R, -r   only this region`,
  get: `Usage: provisioner get NAME

Shows one VM: host, state, addresses, guest readiness, type, image and tags.

${VM}`,
  console: `Usage: provisioner console NAME [--tail-bytes N]

Prints the end of the VM's serial console log (boot and cloud-init messages). Needs a token with the write
scope: consoles can show generated passwords.

  --tail-bytes N   how many bytes of the log's end (default 65536, at most 1048576)
${VM}`,
  start: `Usage: provisioner start NAME [--wait]

Starts a stopped VM.

${VM}
${WAIT}`,
  stop: `Usage: provisioner stop NAME [--force] [--wait]

Stops a VM: asks the guest to shut down, powering it off if it has not after the configured timeout.

  --force          power off at once
${VM}
${WAIT}`,
  reboot: `Usage: provisioner reboot NAME [--wait]

Stops a VM cleanly (powering it off after the configured timeout), then starts it.

${VM}
${WAIT}`,
  resize: `Usage: provisioner resize NAME --type T [--force] [--timeout-ms N] [--wait]

Gives a VM the vCPUs, memory and disk of another instance type of its region (disks only grow). A running
VM is shut down, changed and started again; a stopped one stays stopped.

  --type T, -t     the new instance type
  --force          power a running VM off at once instead of asking its guest to shut down
  --timeout-ms N   how long the guest gets to shut down before it is powered off (default: the service's)
${VM}
${WAIT}`,
  rebuild: `Usage: provisioner rebuild NAME [--image I] [--user-data FILE] [--force] [--delete-snapshots] [--wait]

Gives a VM a fresh disk on an image; its name, UUID, MAC address, tags and instance type stay, and it
ends in the power state it had. The new disk is made first and replaces the old one once the VM is
stopped: a failure before that leaves the VM as it was.

  --image I, -i    a catalog image (default: the VM's current one)
  --user-data FILE cloud-init user-data for the new seed ('-' reads stdin; default: the VM keeps its own)
  --force          power a running VM off at once instead of asking its guest to shut down
  --delete-snapshots  delete the VM's snapshots (a VM with snapshots is refused otherwise)
${VM}
${WAIT}`,
  snapshot: `Usage: provisioner snapshot create NAME SNAPSHOT | list NAME | revert NAME SNAPSHOT | delete NAME SNAPSHOT [--wait]

Snapshots of a VM, running or stopped (its disk, and its memory when it runs). create: takes one named
SNAPSHOT (a lowercase DNS label). list: its snapshots, oldest first. revert: brings back the disk, the
definition saved with the snapshot and its power state, then puts the VM's current tags back on (refused
for a snapshot taken before a resize). delete: removes one snapshot.

${VM}
${WAIT}`,
  delete: `Usage: provisioner delete NAME [--wait]

Deletes a VM with its disks.

${VM}
${WAIT}`,
  retag: `Usage: provisioner retag NAME (--tag k=v... | --clear) [--wait]

Replaces all of a VM's tags with the given ones.

  --tag k=v        a tag (repeatable)
  --clear          remove every tag
${VM}
${WAIT}`,
  wait: `Usage: provisioner wait JOB_ID

Follows a job until it ends: exit 0 when it succeeded, 1 when it failed or was canceled.`,
  jobs: `Usage: provisioner jobs get JOB_ID | provisioner jobs list [--state S]

get: one job's state, steps, timestamps, error and result. list: the latest 100 jobs.

  --state S        list only jobs in this state (queued, running, succeeded, failed, canceled)`,
  hosts: `Usage: provisioner hosts cordon HOST [--reason TEXT] | uncordon HOST | drift HOST | clean HOST [--wait]

Host maintenance (admin tokens). cordon: the host gets no new VMs (its VMs keep working) until
uncordon. drift: what the last inventory refresh found on the host that nobody accounts for (managed
domains without a disk, files in disks_dir without a domain, names reserved without a job). clean: a
job that removes those leftovers (never an unmanaged domain, a VM with a job, or a young file).

  --reason TEXT    with cordon: why (shown with the host's state)
  --region R, -r   region of HOST (default: $PROVISIONER_REGION; or write REGION/HOST)
${WAIT}`,
};

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  region: { type: 'string', short: 'r' },
  type: { type: 'string', short: 't' },
  image: { type: 'string', short: 'i' },
  tag: { type: 'string', multiple: true },
  'user-data': { type: 'string' },
  'tail-bytes': { type: 'string' },
  state: { type: 'string' },
  force: { type: 'boolean' },
  'delete-snapshots': { type: 'boolean' },
  clear: { type: 'boolean' },
  wait: { type: 'boolean', short: 'w' },
  'wait-ready': { type: 'boolean' },
  'ready-timeout': { type: 'string' },
  'timeout-ms': { type: 'string' },
  reason: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

class UsageError extends Error {}

interface Ctx {
  client: Client;
  values: Values;
  args: string[];
  io: Io;
}

export async function main(argv: string[], io: Io): Promise<number> {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    io.stderr.write(`provisioner: ${(e as Error).message}\n\n${USAGE}\n`);
    return EXIT.ERROR;
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  const help = command ? HELP[command] : undefined;
  if (values.help && help) {
    io.stdout.write(`${help}\n\nCommon options:\n${COMMON}\n`);
    return EXIT.OK;
  }
  if (values.help || !command) {
    (values.help ? io.stdout : io.stderr).write(`${USAGE}\n`);
    return values.help ? EXIT.OK : EXIT.ERROR;
  }
  const run = COMMANDS[command];
  try {
    if (!run) throw new UsageError(`unknown command '${command}'`);
    const token = values.token ?? io.env.PROVISIONER_TOKEN;
    if (!token) throw new UsageError('no token: pass --token or set PROVISIONER_TOKEN');
    const client = new Client({ url: values.url ?? io.env.PROVISIONER_URL ?? 'http://127.0.0.1:8080', token });
    return await run({ client, values, args, io });
  } catch (e) {
    return report(e, io, Boolean(values.json));
  }
}

function report(e: unknown, io: Io, json: boolean): number {
  if (e instanceof UsageError) {
    io.stderr.write(`provisioner: ${e.message}\nRun 'provisioner --help' for usage.\n`);
    return EXIT.ERROR;
  }
  if (e instanceof ApiError) {
    const details = Array.isArray(e.details)
      ? (e.details as Array<{ path?: unknown; message?: unknown }>).map((d) => `\n  ${d.path ? `${String(d.path)}: ` : ''}${String(d.message ?? '')}`).join('')
      : '';
    io.stderr.write(`error: ${e.message} (${e.code}, HTTP ${e.status}${e.requestId ? `, request ${e.requestId}` : ''})${details}\n`);
    if (json)
      io.stdout.write(`${JSON.stringify({ error: { status: e.status, code: e.code, message: e.message, request_id: e.requestId, details: e.details } })}\n`);
    return EXIT.ERROR;
  }
  if (e instanceof ConnectionError) {
    io.stderr.write(`error: ${e.message}\n`);
    return EXIT.UNREACHABLE;
  }
  // Anything else is a fault of this program, not a job's: never exit 1 (which says a job failed).
  io.stderr.write(`provisioner: unexpected error: ${e instanceof Error ? e.message : String(e)}\n`);
  return EXIT.ERROR;
}

// ---- Arguments. ----

/** `NAME` with `--region`/`$PROVISIONER_REGION`, or `REGION/NAME`. */
function vmTarget(c: Ctx): { region: string; name: string } {
  const arg = c.args[0];
  if (!arg) throw new UsageError('which VM? give NAME (with --region) or REGION/NAME');
  const slash = arg.indexOf('/');
  const region = slash === -1 ? (c.values.region ?? c.io.env.PROVISIONER_REGION) : arg.slice(0, slash);
  const name = slash === -1 ? arg : arg.slice(slash + 1);
  if (!region) throw new UsageError(`which region is '${name}' in? pass --region or set PROVISIONER_REGION`);
  return { region, name };
}

/** `--tag k=v` (repeatable) as an object; the value may contain `=`. */
export function parseTags(list: readonly string[] = []): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const t of list) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new UsageError(`--tag takes key=value, not '${t}'`);
    tags[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return tags;
}

/** The file's bytes, or a usage error naming it (a missing file is the user's mistake, not a crash). */
function readArg(file: string, flag: string): Buffer {
  try {
    return readFileSync(file === '-' ? 0 : file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new UsageError(`cannot read ${flag} ${file}: ${why}`);
  }
}

function need(v: string | undefined, flag: string): string {
  if (!v) throw new UsageError(`${flag} is required`);
  return v;
}

// ---- Output. ----

const printJson = (c: Ctx, v: unknown) => c.io.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

const tagText = (tags: Record<string, string> | undefined) =>
  Object.entries(tags ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

// ---- Jobs. ----

/**
 * Follows a job to its end (the client's `waitForJob`: its event stream, a fresh read and a new stream
 * when one ends early, polling when none can be had), redrawing the progress.
 */
export async function follow(client: Client, job: Job, stderr: Out): Promise<Job> {
  const progress = new ProgressReporter(stderr);
  try {
    return await client.waitForJob(job, { onUpdate: (v) => progress.update(v) });
  } finally {
    progress.end();
  }
}

function readyTimeout(v: string): number {
  if (!/^[1-9][0-9]*$/.test(v)) throw new UsageError(`--ready-timeout takes a number of seconds, not '${v}'`);
  return Number(v);
}

/** Prints a job (followed to its end with --wait) and returns the exit code its outcome means. */
async function submitted(c: Ctx, job: Job): Promise<number> {
  if (!c.values.wait) {
    if (c.values.json) printJson(c, job);
    else c.io.stdout.write(`${job.kind} ${target(job)}: job ${job.id} ${job.state}\nFollow it with: provisioner wait ${job.id}\n`);
    return EXIT.OK;
  }
  return finished(c, await follow(c.client, job, c.io.stderr));
}

function finished(c: Ctx, job: Job): number {
  if (c.values.json) printJson(c, job);
  if (job.state === 'succeeded') {
    if (!c.values.json) c.io.stdout.write(`${job.kind} ${target(job)}: succeeded (job ${job.id})\n`);
    return EXIT.OK;
  }
  const err = job.error ? `${job.error.code}: ${job.error.message}` : 'no error recorded';
  c.io.stderr.write(`error: ${job.kind} ${target(job)} ${job.state} (job ${job.id}): ${err}\n`);
  return EXIT.JOB_FAILED;
}

export function jobText(j: Job): string {
  const lines = [
    `id:        ${j.id}`,
    `kind:      ${j.kind}`,
    `target:    ${target(j)} (host ${j.target.host})`,
    `state:     ${j.state}`,
    `progress:  ${Math.floor(j.progress)}%${j.step ? ` (step ${j.step})` : ''}`,
    `steps:     ${j.steps.map((s) => `${s.name}:${s.state}`).join(' ')}`,
    `attempts:  ${j.attempts}`,
    `created:   ${j.created_at ?? '-'}`,
    `started:   ${j.started_at ?? '-'}`,
    `finished:  ${j.finished_at ?? '-'}`,
  ];
  if (j.error) lines.push(`error:     ${j.error.code}: ${j.error.message}${j.error.retryable ? ' (retryable)' : ''}`);
  if (j.result !== null && j.result !== undefined) lines.push(`result:    ${JSON.stringify(j.result)}`);
  if (j.request_id) lines.push(`request:   ${j.request_id}`);
  return `${lines.join('\n')}\n`;
}

// ---- Commands. ----

const COMMANDS: Record<string, (c: Ctx) => Promise<number>> = {
  async create(c) {
    const { region, name } = vmTarget(c);
    const file = c.values['user-data'];
    const body = {
      vm_name: name,
      region_name: region,
      instance_type: need(c.values.type, '--type'),
      image: need(c.values.image, '--image'),
      tags: parseTags(c.values.tag),
      ...(file ? { user_data: readArg(file, '--user-data').toString('base64') } : {}),
      ...(c.values['wait-ready'] ? { wait_until: 'ready' as const } : {}),
      ...(c.values['ready-timeout'] !== undefined ? { ready_timeout_s: readyTimeout(c.values['ready-timeout']) } : {}),
    };
    const job = await c.client.createVm(body);
    if (!c.values['wait-ready']) return submitted(c, job);
    const done = await follow(c.client, job, c.io.stderr);
    const code = finished(c, done);
    const addresses = (done.result as { addresses?: Array<{ ip: string; source: string }> } | null)?.addresses;
    if (code === EXIT.OK && !c.values.json && addresses) {
      c.io.stdout.write(`addresses: ${addresses.map((a) => `${a.ip} (${a.source})`).join(', ') || '-'}\n`);
    }
    return code;
  },

  async list(c) {
    const region = c.values.region ?? c.io.env.PROVISIONER_REGION;
    // The tags as given: the API's syntax too (key=value, or key alone).
    const query = { ...(region ? { region } : {}), ...(c.values.state ? { state: c.values.state as VmItem['state'] } : {}), tag: c.values.tag ?? [] };
    const vms = await c.client.listAllVms(query, {
      onPage: (page) => {
        for (const h of page.hosts) if (h.error) c.io.stderr.write(`warning: ${h.region}/${h.host}: ${h.error}\n`);
      },
    });
    if (c.values.json) printJson(c, vms);
    else {
      const rows = vms.map((v) => [v.vm_name, v.region_name, v.host, v.state, v.ip ?? '-', tagText(v.tags)]);
      c.io.stdout.write(`${table([['NAME', 'REGION', 'HOST', 'STATE', 'ADDRESS', 'TAGS'], ...rows])}\n`);
    }
    return EXIT.OK;
  },

  async get(c) {
    const { region, name } = vmTarget(c);
    const vm = await c.client.getVm(region, name);
    if (c.values.json) printJson(c, vm);
    else
      c.io.stdout.write(
        `${[
          `name:      ${vm.vm_name}`,
          `region:    ${vm.region_name}`,
          `host:      ${vm.host}`,
          `state:     ${vm.state}`,
          `ip:        ${vm.ip ?? '-'}`,
          `addresses: ${vm.addresses?.map((a) => `${a.ip} (${a.source})`).join(', ') || '-'}`,
          `guest:     ${vm.guest ? `${vm.guest.ready ? `ready since ${vm.guest.ready_at}` : 'not ready'}; agent ${vm.guest.agent}, cloud-init ${vm.guest.cloud_init}` : '-'}`,
          `type:      ${vm.instance_type ?? '-'}`,
          `image:     ${vm.image ?? '-'}`,
          `managed:   ${vm.managed}`,
          `tags:      ${tagText(vm.tags) || '-'}`,
        ].join('\n')}\n`,
      );
    return EXIT.OK;
  },

  async console(c) {
    const n = c.values['tail-bytes'];
    if (n !== undefined && !/^[1-9][0-9]*$/.test(n)) throw new UsageError(`--tail-bytes takes a positive number of bytes, not '${n}'`);
    const { region, name } = vmTarget(c);
    const text = await c.client.console(region, name, n ? { tailBytes: Number(n) } : {});
    if (c.values.json) printJson(c, { text });
    else c.io.stdout.write(text);
    return EXIT.OK;
  },

  async start(c) {
    const { region, name } = vmTarget(c);
    return submitted(c, await c.client.startVm(region, name));
  },

  async stop(c) {
    const { region, name } = vmTarget(c);
    return submitted(c, await c.client.stopVm(region, name, { force: Boolean(c.values.force) }));
  },

  async reboot(c) {
    const { region, name } = vmTarget(c);
    return submitted(c, await c.client.rebootVm(region, name));
  },

  async resize(c) {
    const type = c.values.type;
    if (!type) throw new UsageError('resize to which instance type? give --type T');
    const ms = c.values['timeout-ms'];
    if (ms !== undefined && !/^[1-9][0-9]*$/.test(ms)) throw new UsageError(`--timeout-ms takes a positive number of milliseconds, not '${ms}'`);
    const body = { instance_type: type, force: Boolean(c.values.force), ...(ms !== undefined ? { timeout_ms: Number(ms) } : {}) };
    const { region, name } = vmTarget(c);
    return submitted(c, await c.client.resizeVm(region, name, body));
  },

  async rebuild(c) {
    const file = c.values['user-data'];
    const body = {
      ...(c.values.image !== undefined ? { image: c.values.image } : {}),
      ...(file ? { user_data: readArg(file, '--user-data').toString('base64') } : {}),
      force: Boolean(c.values.force),
      delete_snapshots: Boolean(c.values['delete-snapshots']),
    };
    const { region, name } = vmTarget(c);
    return submitted(c, await c.client.rebuildVm(region, name, body));
  },

  async delete(c) {
    const { region, name } = vmTarget(c);
    return submitted(c, await c.client.deleteVm(region, name));
  },

  async snapshot(c) {
    const [sub, , snap] = c.args;
    if (!sub || !['create', 'list', 'revert', 'delete'].includes(sub))
      throw new UsageError(`snapshot takes create, list, revert or delete, not '${sub ?? ''}'`);
    const vm = vmTarget({ ...c, args: c.args.slice(1) });
    if (sub === 'list') {
      const snapshots = await c.client.listSnapshots(vm.region, vm.name);
      if (c.values.json) printJson(c, snapshots);
      else if (snapshots.length === 0) c.io.stdout.write(`${vm.name} has no snapshots\n`);
      else {
        const rows = snapshots.map((x) => [x.name, x.created_at, x.state, x.instance_type ?? '-']);
        c.io.stdout.write(`${table([['NAME', 'CREATED', 'STATE', 'TYPE'], ...rows])}\n`);
      }
      return EXIT.OK;
    }
    if (!snap) throw new UsageError(`which snapshot? give NAME SNAPSHOT`);
    if (sub === 'create') return submitted(c, await c.client.createSnapshot(vm.region, vm.name, { name: snap }));
    if (sub === 'revert') return submitted(c, await c.client.revertSnapshot(vm.region, vm.name, snap));
    return submitted(c, await c.client.deleteSnapshot(vm.region, vm.name, snap));
  },

  async retag(c) {
    const tags = parseTags(c.values.tag);
    if (Object.keys(tags).length === 0 && !c.values.clear)
      throw new UsageError('retag replaces every tag: give --tag k=v (repeatable), or --clear to remove them all');
    const { region, name } = vmTarget(c);
    // retag replaces every tag by design, whatever they are now: `*` says so (If-Match on every tag write).
    return submitted(c, await c.client.setTags(region, name, tags, '*'));
  },

  async wait(c) {
    const id = c.args[0];
    if (!id) throw new UsageError('which job? give its id');
    const job = await c.client.getJob(id);
    return finished(c, await follow(c.client, job, c.io.stderr));
  },

  async hosts(c) {
    const [sub, arg] = c.args;
    if (!sub || !['cordon', 'uncordon', 'drift', 'clean'].includes(sub))
      throw new UsageError(`hosts takes cordon, uncordon, drift or clean, not '${sub ?? ''}'`);
    if (!arg) throw new UsageError('which host? give HOST (with --region) or REGION/HOST');
    const slash = arg.indexOf('/');
    const region = slash === -1 ? (c.values.region ?? c.io.env.PROVISIONER_REGION) : arg.slice(0, slash);
    const host = slash === -1 ? arg : arg.slice(slash + 1);
    if (!region) throw new UsageError(`which region is host '${host}' in? pass --region or set PROVISIONER_REGION`);
    if (sub === 'clean') return submitted(c, await c.client.cleanDrift(region, host));
    if (sub === 'drift') {
      const d: HostDrift = await c.client.hostDrift(region, host);
      if (c.values.json) printJson(c, d);
      else {
        const rows = d.items.map((i) => [i.kind, i.vm_name, i.path ?? '-', i.detail]);
        c.io.stdout.write(`${region}/${host}: drift as observed ${d.observed_at ?? 'never'}\n`);
        if (rows.length) c.io.stdout.write(`${table([['KIND', 'VM', 'PATH', 'DETAIL'], ...rows])}\n`);
        else c.io.stdout.write('nothing unaccounted for\n');
      }
      return EXIT.OK;
    }
    const st: HostCordonView =
      sub === 'cordon'
        ? await c.client.cordonHost(region, host, c.values.reason !== undefined ? { reason: c.values.reason } : {})
        : await c.client.uncordonHost(region, host);
    if (c.values.json) printJson(c, st);
    else
      c.io.stdout.write(
        st.cordoned
          ? `${st.region}/${st.host}: cordoned by ${st.cordoned_by} at ${st.cordoned_at}${st.reason ? ` (${st.reason})` : ''}\n`
          : `${st.region}/${st.host}: not cordoned\n`,
      );
    return EXIT.OK;
  },

  async jobs(c) {
    const [sub, id] = c.args;
    if (sub === 'get') {
      if (!id) throw new UsageError('which job? give its id');
      const job = await c.client.getJob(id);
      if (c.values.json) printJson(c, job);
      else c.io.stdout.write(jobText(job));
      return EXIT.OK;
    }
    if (sub === 'list') {
      const page = await c.client.listJobs({ limit: 100, ...(c.values.state ? { state: c.values.state as Job['state'] } : {}) });
      if (c.values.json) printJson(c, page.jobs);
      else {
        const rows = page.jobs.map((j) => [j.id, j.kind, target(j), j.state, `${Math.floor(j.progress)}%`]);
        c.io.stdout.write(`${table([['ID', 'KIND', 'TARGET', 'STATE', 'PROGRESS'], ...rows])}\n`);
      }
      return EXIT.OK;
    }
    throw new UsageError(`jobs takes 'get JOB_ID' or 'list', not '${sub ?? ''}'`);
  },
};
