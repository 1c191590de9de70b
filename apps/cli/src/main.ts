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
import {
  ApiError,
  Client,
  ConnectionError,
  type HostCordonView,
  type HostDrift,
  type JobView as Job,
  type ListVmsQuery,
  type WebhookEndpoint,
} from '@provisioner/client';
import { type Out, ProgressReporter, target } from './progress.ts';
import { escapeJsonControls, sanitize } from './sanitize.ts';

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
  list [--region R] [--state S] [--tag k=v]...                                  list VMs (NAME REGION HOST STATE ADDRESS TYPE IMAGE TAGS)
  get NAME --region R                                                           show one VM
  console NAME --region R [--tail-bytes N]                                      print the end of a VM's serial console log
  start NAME --region R                                                         start a VM
  stop NAME --region R [--force | --timeout-ms N]                               stop a VM (--force: power off at once)
  reboot NAME --region R [--timeout-ms N]                                       stop a VM cleanly, then start it
  resize NAME --region R --type T [--force] [--timeout-ms N]                    give a VM another instance type
  rebuild NAME --region R [--image I] [--user-data FILE] [--force] [--delete-snapshots]   a fresh disk on an image
  delete NAME --region R                                                        delete a VM and its disks
  snapshot create|revert|delete NAME SNAPSHOT | snapshot list NAME              snapshots of a VM
  retag NAME --region R (--tag k=v... | --clear)                                replace a VM's tags
  tags set NAME k=v... | tags rm NAME KEY...                                    change some of a VM's tags
  wait JOB_ID                                                                   follow a job until it ends
  jobs get|cancel JOB_ID | jobs list [--state S] [--kind K] [--vm NAME] ...    show and cancel jobs
  images                                                                        the image catalog and each host's cache
  regions [--hosts]                                                             regions and their instance types
  status                                                                        whether the API, Redis and the hosts are ready
  webhooks list|add|rm|rotate|deliveries|redeliver ...                          webhook endpoints (admin) and deliveries
  hosts cordon|uncordon|drift|clean HOST --region R [--reason TEXT]             host maintenance (admin tokens)
  signout TOKEN_NAME                                                            end every browser session of a token

Run 'provisioner COMMAND --help' for one command's options. NAME may also be written REGION/NAME. Mutating commands answer with their job; --wait follows it
with a progress bar (on stderr, when it is a terminal) and exits 0 when it succeeds, 1 when it fails.

Options:
  --url URL        API address (default: $PROVISIONER_URL, else http://127.0.0.1:8080)
  --token TOKEN    API token (default: $PROVISIONER_TOKEN; prefer the variable: arguments show in ps)
  --region R       region (default: $PROVISIONER_REGION)
  --wait           follow the job to its end
  -o, --output F   json (machine-readable, on stdout) or table (the default)
  --json           the same as -o json
  --raw            write what the API and guests send as it is, also to a terminal (default there: control
                   characters and escape sequences are removed, so a guest cannot drive your terminal)
  -h, --help       this text

Exit codes: 0 success, 1 the job failed or was canceled, 2 usage error or the API refused the request,
3 the API could not be reached.`;

const COMMON = `  --url URL        API address (default: $PROVISIONER_URL, else http://127.0.0.1:8080)
  --token TOKEN    API token (default: $PROVISIONER_TOKEN)
  -o, --output F   json (machine-readable, on stdout) or table (the default); --json is -o json
  --raw            on a terminal too, print guest and API text with its control characters and escape sequences`;
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
${WAIT}

Example: provisioner create eu-1/amber-otter --type small --image debian-12 --tag owner=me --wait-ready`,
  list: `Usage: provisioner list [--region R] [--state S] [--tag k=v]...

Lists VMs (every enabled region unless --region or $PROVISIONER_REGION names one): NAME REGION HOST STATE
ADDRESS TYPE IMAGE TAGS.

Example: provisioner list --tag owner=me --state running

  --state S        only VMs in this state (running, shut off, ...)
  --tag k=v        only VMs with this tag (repeatable: all must match)
  --region R, -r   only this region`,
  get: `Usage: provisioner get NAME

Shows one VM: host, state, addresses, guest readiness, type, image and tags.

${VM}

Example: provisioner get eu-1/amber-otter -o json`,
  console: `Usage: provisioner console NAME [--tail-bytes N]

Prints the end of the VM's serial console log (boot and cloud-init messages). Needs a token with the write
scope: consoles can show generated passwords.

  --tail-bytes N   how many bytes of the log's end (default 65536, at most 1048576)
${VM}

Example: provisioner console eu-1/amber-otter --tail-bytes 4096`,
  start: `Usage: provisioner start NAME [--wait]

Starts a stopped VM.

${VM}
${WAIT}

Example: provisioner start eu-1/amber-otter --wait`,
  stop: `Usage: provisioner stop NAME [--force | --timeout-ms N] [--wait]

Stops a VM: asks the guest to shut down, powering it off if it has not within the timeout. With --wait
the countdown to the power-off is shown, and the last line says how it stopped (graceful or forced).

  --force          power off at once
  --timeout-ms N   how long the guest gets to shut down before it is powered off (default: the
                   service's worker.stop_timeout_ms, 60000 unless configured; at most 3600000)
${VM}
${WAIT}

Example: provisioner stop eu-1/amber-otter --timeout-ms 120000 --wait`,
  reboot: `Usage: provisioner reboot NAME [--timeout-ms N] [--wait]

Stops a VM cleanly (powering it off after the timeout), then starts it.

  --timeout-ms N   how long the guest gets to shut down before it is powered off (default: the
                   service's worker.stop_timeout_ms, 60000 unless configured; at most 3600000)
${VM}
${WAIT}

Example: provisioner reboot eu-1/amber-otter --wait`,
  resize: `Usage: provisioner resize NAME --type T [--force] [--timeout-ms N] [--wait]

Gives a VM the vCPUs, memory and disk of another instance type of its region (disks only grow). A running
VM is shut down, changed and started again; a stopped one stays stopped.

  --type T, -t     the new instance type
  --force          power a running VM off at once instead of asking its guest to shut down
  --timeout-ms N   how long the guest gets to shut down before it is powered off (default: the
                   service's worker.stop_timeout_ms, 60000 unless configured; at most 3600000)
${VM}
${WAIT}

Example: provisioner resize eu-1/amber-otter --type medium --wait`,
  rebuild: `Usage: provisioner rebuild NAME [--image I] [--user-data FILE] [--force] [--delete-snapshots] [--wait]

Gives a VM a fresh disk on an image; its name, UUID, MAC address, tags and instance type stay, and it
ends in the power state it had. The new disk is made first and replaces the old one once the VM is
stopped: a failure before that leaves the VM as it was.

  --image I, -i    a catalog image (default: the VM's current one)
  --user-data FILE cloud-init user-data for the new seed ('-' reads stdin; default: the VM keeps its own)
  --force          power a running VM off at once instead of asking its guest to shut down
  --delete-snapshots  delete the VM's snapshots (a VM with snapshots is refused otherwise)
${VM}
${WAIT}

Example: provisioner rebuild eu-1/amber-otter --image debian-12 --user-data cloud-init.yaml --wait`,
  snapshot: `Usage: provisioner snapshot create NAME SNAPSHOT | list NAME | revert NAME SNAPSHOT | delete NAME SNAPSHOT [--wait]

Snapshots of a VM, running or stopped (its disk, and its memory when it runs). create: takes one named
SNAPSHOT (a lowercase DNS label). list: its snapshots, oldest first. revert: brings back the disk, the
definition saved with the snapshot and its power state, then puts the VM's current tags back on (refused
for a snapshot taken before a resize). delete: removes one snapshot.

${VM}
${WAIT}

Example: provisioner snapshot create eu-1/amber-otter before-upgrade --wait`,
  delete: `Usage: provisioner delete NAME [--wait]

Deletes a VM with its disks.

${VM}
${WAIT}

Example: provisioner delete eu-1/amber-otter --wait`,
  retag: `Usage: provisioner retag NAME (--tag k=v... | --clear) [--wait]

Replaces all of a VM's tags with the given ones.

  --tag k=v        a tag (repeatable)
  --clear          remove every tag
${VM}
${WAIT}

Example: provisioner retag eu-1/amber-otter --tag owner=me --tag env=prod`,
  wait: `Usage: provisioner wait JOB_ID

Follows a job until it ends: exit 0 when it succeeded, 1 when it failed or was canceled.

Example: provisioner wait job_8f14e45fceea167a5a36dedd4bea2543`,
  jobs: `Usage: provisioner jobs get JOB_ID | jobs cancel JOB_ID | jobs list [--state S] [--kind K] [--vm NAME] [--region R] [--limit N] [--offset N]

get: one job's state, steps, timestamps, error and result. cancel: cancels a queued or running job (its
steps stop at the next safe point; a create cleans up what it made). list: jobs, newest first.

  --state S        only jobs in this state (queued, running, succeeded, failed, canceled)
  --kind K         only jobs of this kind (create, stop, ...)
  --vm NAME        only jobs about this VM (NAME with --region, or REGION/NAME)
  --region R, -r   only jobs of this region
  --limit N        at most N jobs (default 100, at most 500)
  --offset N       skip the first N (the next page: the offset printed after a full page)

Example: provisioner jobs list --vm eu-1/amber-otter --state failed`,
  tags: `Usage: provisioner tags set NAME k=v... | provisioner tags rm NAME KEY... [--wait]

Changes some of a VM's tags and keeps the others: reads them, changes them, writes them all back (an
edit-tags job). 'retag' replaces them all instead.

${VM}
${WAIT}

Example: provisioner tags set eu-1/amber-otter env=prod team=web && provisioner tags rm eu-1/amber-otter team`,
  images: `Usage: provisioner images

The image catalog: each image's name, its sha256 when configured, and its cache state on each host.

Example: provisioner images -o json`,
  regions: `Usage: provisioner regions [--hosts]

Regions with their instance types (vCPUs, memory, disk).

  --hosts          also each host's health, capacity and cordon (admin tokens)

Example: provisioner regions --hosts`,
  status: `Usage: provisioner status

Whether the API is ready: its Redis, and each host as the inventory last listed it.

Example: provisioner status`,
  webhooks: `Usage: provisioner webhooks list | add URL --event TYPE... | rm ID | rotate ID [--overlap S]
       provisioner webhooks deliveries JOB_ID | redeliver JOB_ID DELIVERY_ID

Webhook endpoints (admin tokens): list, add (prints the signing secret, shown only then), rm, rotate (a new
secret). deliveries: what was sent about a job, attempt by attempt; redeliver: send one again.

  --event TYPE     with add: an event the endpoint wants (repeatable): job.succeeded, job.failed,
                   job.canceled, job.progress, vm.ready, vm.state_changed
  --overlap S      with rotate: seconds the old secret keeps signing beside the new one (default 0)

Example: provisioner webhooks add https://hooks.example.com/prov --event job.failed --event vm.ready`,
  signout: `Usage: provisioner signout TOKEN_NAME

Ends every session of the VM page and the dashboard that the token signed in to, in every browser (a lost
laptop, a screen left signed in). A token may sign itself out; an admin token any token. The token stays
valid: rotate it in the configuration to revoke it.

Example: provisioner signout alice-bot`,
  hosts: `Usage: provisioner hosts cordon HOST [--reason TEXT] | uncordon HOST | drift HOST | clean HOST [--wait]

Host maintenance (admin tokens). cordon: the host gets no new VMs (its VMs keep working) until
uncordon. drift: what the last inventory refresh found on the host that nobody accounts for (managed
domains without a disk, files in disks_dir without a domain, names reserved without a job). clean: a
job that removes those leftovers (never an unmanaged domain, a VM with a job, or a young file).

  --reason TEXT    with cordon: why (shown with the host's state)
  --region R, -r   region of HOST (default: $PROVISIONER_REGION; or write REGION/HOST)
${WAIT}

Example: provisioner hosts cordon eu-1/node-1 --reason "disk swap"`,
};

export const OPTIONS = {
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
  kind: { type: 'string' },
  vm: { type: 'string' },
  limit: { type: 'string' },
  offset: { type: 'string' },
  event: { type: 'string', multiple: true },
  overlap: { type: 'string' },
  hosts: { type: 'boolean' },
  json: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  raw: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Option = keyof typeof OPTIONS;

/** Options every command takes. */
export const COMMON_OPTIONS: readonly Option[] = ['url', 'token', 'json', 'output', 'raw', 'help'];

/**
 * The options each command (or sub-command) reads, beside COMMON_OPTIONS. Any other option is refused
 * (exit 2) before a request is sent: an option that is parsed and then ignored would let
 * `stop --timeout-ms 1000` queue a stop that waits the default instead.
 */
export const ACCEPTS: Record<string, readonly Option[] | Record<string, readonly Option[]>> = {
  create: ['region', 'type', 'image', 'tag', 'user-data', 'wait', 'wait-ready', 'ready-timeout'],
  list: ['region', 'state', 'tag'],
  get: ['region'],
  console: ['region', 'tail-bytes'],
  start: ['region', 'wait'],
  stop: ['region', 'force', 'timeout-ms', 'wait'],
  reboot: ['region', 'timeout-ms', 'wait'],
  resize: ['region', 'type', 'force', 'timeout-ms', 'wait'],
  rebuild: ['region', 'image', 'user-data', 'force', 'delete-snapshots', 'wait'],
  delete: ['region', 'wait'],
  snapshot: { create: ['region', 'wait'], list: ['region'], revert: ['region', 'wait'], delete: ['region', 'wait'] },
  retag: ['region', 'tag', 'clear', 'wait'],
  wait: [],
  jobs: { get: [], list: ['state', 'kind', 'vm', 'region', 'limit', 'offset'], cancel: [] },
  hosts: { cordon: ['region', 'reason'], uncordon: ['region'], drift: ['region'], clean: ['region', 'wait'] },
  tags: { set: ['region', 'wait'], rm: ['region', 'wait'] },
  images: [],
  regions: ['hosts'],
  status: [],
  signout: [],
  webhooks: { list: [], add: ['event'], rm: [], rotate: ['overlap'], deliveries: [], redeliver: [] },
};

/** Options that contradict each other: both given is a usage error, not a silent choice of one. */
const EXCLUSIVE: ReadonlyArray<readonly [Option, Option, string]> = [
  ['force', 'timeout-ms', 'the guest gets no time to shut down with --force'],
  ['clear', 'tag', '--clear removes every tag'],
];

/** Refuses an option the command does not read (naming it), and contradicting ones. */
function checkOptions(command: string, args: readonly string[], values: Values): void {
  const accepts = ACCEPTS[command];
  if (!accepts) return;
  let own: readonly Option[];
  let what = command;
  if (Array.isArray(accepts)) own = accepts;
  else {
    const sub = args[0];
    // An unknown sub-command is the command's own usage error, which lists the sub-commands.
    const subOwn = sub !== undefined && Object.hasOwn(accepts, sub) ? (accepts as Record<string, readonly Option[]>)[sub] : undefined;
    if (!subOwn) return;
    own = subOwn;
    what = `${command} ${sub}`;
  }
  for (const k of Object.keys(values) as Option[]) {
    if (!COMMON_OPTIONS.includes(k) && !own.includes(k)) throw new UsageError(`${what} does not take --${k} (see 'provisioner ${command} --help')`);
  }
  for (const [a, b, why] of EXCLUSIVE) {
    if (values[a] !== undefined && values[b] !== undefined) throw new UsageError(`--${a} and --${b} cannot be used together: ${why}`);
  }
  if (values['ready-timeout'] !== undefined && !values['wait-ready'])
    throw new UsageError('--ready-timeout needs --wait-ready: it is how long the guest may take to be ready');
  if (values.output !== undefined && values.output !== 'json' && values.output !== 'table')
    throw new UsageError(`-o/--output takes json or table, not '${values.output}'`);
  if (values.json && values.output === 'table') throw new UsageError('--json and -o table cannot be used together');
}

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

class UsageError extends Error {}

interface Ctx {
  client: Client;
  values: Values;
  args: string[];
  /** Its stdout and stderr sanitized when they are terminals (not with --raw). */
  io: Io;
  /** The stderr to draw progress on (it writes its own escapes: the bar is redrawn in place). */
  progressOut: Out;
  /** What a text from the API or a guest becomes on stdout: sanitized on a terminal, else as it is. */
  clean: (s: string) => string;
  /** Whether stdout is sanitized (a terminal, no --raw). */
  safe: boolean;
  /** Machine-readable output (`-o json`, or its alias `--json`). */
  json: boolean;
  /** The command as typed (e.g. `rebuild`): the API's field names are put as its flags in errors. */
  command: string;
}

/** `out` with every write sanitized (see sanitize.ts). */
function sanitized(out: Out): Out {
  return {
    write: (s: string) => out.write(sanitize(s)),
    ...(out.isTTY !== undefined ? { isTTY: out.isTTY } : {}),
    ...(out.columns !== undefined ? { columns: out.columns } : {}),
  };
}

export async function main(argv: string[], rawIo: Io): Promise<number> {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    // The message quotes the argument as given: it may hold escapes too.
    (rawIo.stderr.isTTY ? sanitized(rawIo.stderr) : rawIo.stderr).write(`provisioner: ${(e as Error).message}\n\n${USAGE}\n`);
    return EXIT.ERROR;
  }
  const { values, positionals } = parsed;
  // On a terminal, nothing the API or a guest sends may reach it as control characters (--raw: it may).
  const tty = { out: Boolean(rawIo.stdout.isTTY) && !values.raw, err: Boolean(rawIo.stderr.isTTY) && !values.raw };
  const io: Io = { env: rawIo.env, stdout: tty.out ? sanitized(rawIo.stdout) : rawIo.stdout, stderr: tty.err ? sanitized(rawIo.stderr) : rawIo.stderr };
  const clean = tty.out ? sanitize : (s: string) => s;
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
  // Own properties only: `provisioner constructor` is an unknown command, not Object's.
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  const json = Boolean(values.json) || values.output === 'json';
  try {
    if (!run) throw new UsageError(`unknown command '${command}'`);
    checkOptions(command, args, values);
    const token = values.token ?? io.env.PROVISIONER_TOKEN;
    if (!token) throw new UsageError('no token: pass --token or set PROVISIONER_TOKEN');
    const client = new Client({ url: values.url ?? io.env.PROVISIONER_URL ?? 'http://127.0.0.1:8080', token });
    return await run({ client, values, args, io, clean, safe: tty.out, json, command, progressOut: rawIo.stderr });
  } catch (e) {
    return report(e, io, { json, safe: tty.out, command });
  }
}

function report(e: unknown, io: Io, o: { json: boolean; safe: boolean; command: string }): number {
  const json = o.json;
  if (e instanceof UsageError) {
    io.stderr.write(`provisioner: ${e.message}\nRun 'provisioner --help' for usage.\n`);
    return EXIT.ERROR;
  }
  if (e instanceof ApiError) {
    // The API names the body fields and query parameters it was sent; the user typed flags.
    const fields = fieldFlags(o.command);
    const details = Array.isArray(e.details)
      ? (e.details as Array<{ path?: unknown; message?: unknown }>)
          .map((d) => `\n  ${d.path ? `${pathAsFlag(String(d.path), fields)}: ` : ''}${inFlags(String(d.message ?? ''), fields)}`)
          .join('')
      : '';
    io.stderr.write(`error: ${inFlags(e.message, fields)} (${e.code}, HTTP ${e.status}${e.requestId ? `, request ${e.requestId}` : ''})${details}\n`);
    // The machine-readable form is the API's own (its field names), for scripts that match on them.
    if (json) {
      const text = JSON.stringify({ error: { status: e.status, code: e.code, message: e.message, request_id: e.requestId, details: e.details } });
      io.stdout.write(`${o.safe ? escapeJsonControls(text) : text}\n`);
    }
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

// ---- The API's field names as flags. ----

/** Each body field or query parameter the CLI sends, and the flag (or argument) the user gave it with. */
const FIELD_FLAGS: Record<string, { flag: string; option?: Option }> = {
  vm_name: { flag: 'NAME' },
  region_name: { flag: '--region', option: 'region' },
  region: { flag: '--region', option: 'region' },
  instance_type: { flag: '--type', option: 'type' },
  image: { flag: '--image', option: 'image' },
  tags: { flag: '--tag', option: 'tag' },
  tag: { flag: '--tag', option: 'tag' },
  user_data: { flag: '--user-data', option: 'user-data' },
  wait_until: { flag: '--wait-ready', option: 'wait-ready' },
  ready_timeout_s: { flag: '--ready-timeout', option: 'ready-timeout' },
  timeout_ms: { flag: '--timeout-ms', option: 'timeout-ms' },
  force: { flag: '--force', option: 'force' },
  delete_snapshots: { flag: '--delete-snapshots', option: 'delete-snapshots' },
  tail_bytes: { flag: '--tail-bytes', option: 'tail-bytes' },
  state: { flag: '--state', option: 'state' },
  reason: { flag: '--reason', option: 'reason' },
  kind: { flag: '--kind', option: 'kind' },
  limit: { flag: '--limit', option: 'limit' },
  offset: { flag: '--offset', option: 'offset' },
  events: { flag: '--event', option: 'event' },
  overlap_seconds: { flag: '--overlap', option: 'overlap' },
};

/** The fields `command` may send, with their flags (only flags the command takes: another field is not the user's). */
export function fieldFlags(command: string): Record<string, string> {
  const accepts = ACCEPTS[command];
  if (!accepts) return {};
  const own = new Set(Array.isArray(accepts) ? accepts : Object.values(accepts).flat());
  const out: Record<string, string> = {};
  for (const [field, f] of Object.entries(FIELD_FLAGS)) if (f.option ? own.has(f.option) : command !== 'list') out[field] = f.flag;
  if (command === 'snapshot') out.name = 'SNAPSHOT';
  if (command === 'jobs') out.vm_name = '--vm';
  if (command === 'webhooks') out.url = 'URL';
  return out;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A detail's path (`delete_snapshots`, `tags.owner`) as the flag the user wrote. */
export function pathAsFlag(path: string, fields: Record<string, string>): string {
  const [head, ...rest] = path.split('.');
  const flag = head !== undefined ? fields[head] : undefined;
  if (!flag) return path;
  return rest.length ? `${flag} ${rest.join('.')}` : flag;
}

/**
 * The API's sentence with the fields the command sent named as its flags: `send delete_snapshots: true`
 * becomes `pass --delete-snapshots`, `instance_type must be …` `--type must be …`. A one-word field
 * (`image`) is replaced only where it stands as a field name (at the start, after `: ` or `; `, before
 * `:` or a verb), so `unknown image: image must be …` keeps its first, plain-English `image`.
 */
export function inFlags(message: string, fields: Record<string, string>): string {
  let m = message;
  for (const [field, flag] of Object.entries(fields)) {
    const f = escapeRe(field);
    const bool = flag.startsWith('--') ? `(?:: true)?` : '';
    m = m.replace(new RegExp(`\\b(send|pass|with) ${f}${bool}(?![\\w-])`, 'g'), (_, verb: string) => `${verb === 'send' ? 'pass' : verb} ${flag}`);
    m = field.includes('_')
      ? m.replace(new RegExp(`(?<![\\w-])${f}(?:\\.([\\w.:/-]+))?(?![\\w-])`, 'g'), (_, key?: string) => (key ? `${flag} ${key}` : flag))
      : m.replace(
          new RegExp(`(^|: |; |\\()${f}(?:\\.([\\w.:/-]+))?(?=:| must| is| are| takes| may|$)`, 'g'),
          (_, pre: string, key?: string) => `${pre}${key ? `${flag} ${key}` : flag}`,
        );
  }
  return m;
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
export function parseTags(list: readonly string[] = [], what = '--tag'): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const t of list) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new UsageError(`${what} takes key=value, not '${t}'`);
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

/** A whole number option (`--limit`), at least `min`, or undefined when not given. */
function intOption(c: Ctx, name: 'limit' | 'offset' | 'overlap', min: number): number | undefined {
  const v = c.values[name];
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v) || Number(v) < min) throw new UsageError(`--${name} takes a whole number of at least ${min}, not '${v}'`);
  return Number(v);
}

/** `--timeout-ms N` as the body's `timeout_ms` (absent: the service's default). */
function timeoutMs(c: Ctx): { timeout_ms?: number } {
  const ms = c.values['timeout-ms'];
  if (ms === undefined) return {};
  if (!/^[1-9][0-9]*$/.test(ms)) throw new UsageError(`--timeout-ms takes a positive number of milliseconds, not '${ms}'`);
  return { timeout_ms: Number(ms) };
}

function need(v: string | undefined, flag: string): string {
  if (!v) throw new UsageError(`${flag} is required`);
  return v;
}

// ---- Output. ----

const printJson = (c: Ctx, v: unknown) => {
  const text = JSON.stringify(v, null, 2);
  c.io.stdout.write(`${c.safe ? escapeJsonControls(text) : text}\n`);
};

/** Aligned columns. Cells are cleaned first (see Ctx.clean), so the widths are those of what is shown. */
function table(c: Ctx, raw: string[][]): string {
  const rows = raw.map((r) => r.map(c.clean));
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
export async function follow(c: Ctx, job: Job): Promise<Job> {
  const out = c.progressOut;
  const progress = new ProgressReporter(out, out.isTTY && !c.values.raw ? sanitize : undefined);
  try {
    return await c.client.waitForJob(job, { onUpdate: (v) => progress.update(v) });
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
    if (c.json) printJson(c, job);
    else c.io.stdout.write(`${job.kind} ${target(job)}: job ${job.id} ${job.state}\nFollow it with: provisioner wait ${job.id}\n`);
    return EXIT.OK;
  }
  return finished(c, await follow(c, job));
}

function finished(c: Ctx, job: Job): number {
  if (c.json) printJson(c, job);
  if (job.state === 'succeeded') {
    const how = stopOutcome(job, c.values);
    if (!c.json) c.io.stdout.write(`${job.kind} ${target(job)}: succeeded (job ${job.id})${how ? `; ${how}` : ''}\n`);
    return EXIT.OK;
  }
  const err = job.error ? `${job.error.code}: ${job.error.message}` : 'no error recorded';
  c.io.stderr.write(`error: ${job.kind} ${target(job)} ${job.state} (job ${job.id}): ${err}\n`);
  return EXIT.JOB_FAILED;
}

/**
 * How a stop (or the stop of a reboot) ended, from the job's result (`stopped`: graceful, forced or
 * already): whether the guest shut down by itself or was powered off matters (unsaved data, a guest that
 * ignores ACPI). Null for a job that stops nothing.
 */
export function stopOutcome(job: Job, values: { force?: boolean; 'timeout-ms'?: string }): string | null {
  const stopped = (job.result as { stopped?: unknown } | null)?.stopped;
  if (stopped === 'graceful') return 'stopped gracefully: the guest shut down';
  if (stopped === 'already') return 'it was not running: nothing to stop';
  if (stopped !== 'forced') return null;
  if (values.force) return 'forced: powered off at once (--force)';
  const within = values['timeout-ms'] ? `${values['timeout-ms']} ms` : 'the timeout';
  return `forced: the guest did not shut down within ${within} and was powered off`;
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
    const done = await follow(c, job);
    const code = finished(c, done);
    const addresses = (done.result as { addresses?: Array<{ ip: string; source: string }> } | null)?.addresses;
    if (code === EXIT.OK && !c.json && addresses) {
      c.io.stdout.write(`addresses: ${addresses.map((a) => `${a.ip} (${a.source})`).join(', ') || '-'}\n`);
    }
    return code;
  },

  async list(c) {
    const region = c.values.region ?? c.io.env.PROVISIONER_REGION;
    // The tags as given: the API's syntax too (key=value, or key alone).
    const query = { ...(region ? { region } : {}), ...(c.values.state ? { state: c.values.state as ListVmsQuery['state'] } : {}), tag: c.values.tag ?? [] };
    const vms = await c.client.listAllVms(query, {
      onPage: (page) => {
        for (const h of page.hosts) if (h.error) c.io.stderr.write(`warning: ${h.region}/${h.host}: ${h.error}\n`);
      },
    });
    if (c.json) printJson(c, vms);
    else {
      const rows = vms.map((v) => [v.vm_name, v.region_name, v.host, v.state, v.ip ?? '-', v.instance_type ?? '-', v.image ?? '-', tagText(v.tags)]);
      c.io.stdout.write(`${table(c, [['NAME', 'REGION', 'HOST', 'STATE', 'ADDRESS', 'TYPE', 'IMAGE', 'TAGS'], ...rows])}\n`);
    }
    return EXIT.OK;
  },

  async get(c) {
    const { region, name } = vmTarget(c);
    const vm = await c.client.getVm(region, name);
    if (c.json) printJson(c, vm);
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
    if (c.json) printJson(c, { text });
    else c.io.stdout.write(text);
    return EXIT.OK;
  },

  async start(c) {
    const { region, name } = vmTarget(c);
    return submitted(c, await c.client.startVm(region, name));
  },

  async stop(c) {
    const { region, name } = vmTarget(c);
    return submitted(c, await c.client.stopVm(region, name, { force: Boolean(c.values.force), ...timeoutMs(c) }));
  },

  async reboot(c) {
    const { region, name } = vmTarget(c);
    return submitted(c, await c.client.rebootVm(region, name, timeoutMs(c)));
  },

  async resize(c) {
    const type = c.values.type;
    if (!type) throw new UsageError('resize to which instance type? give --type T');
    const body = { instance_type: type, force: Boolean(c.values.force), ...timeoutMs(c) };
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
      if (c.json) printJson(c, snapshots);
      else if (snapshots.length === 0) c.io.stdout.write(`${vm.name} has no snapshots\n`);
      else {
        const rows = snapshots.map((x) => [x.name, x.created_at, x.state, x.instance_type ?? '-']);
        c.io.stdout.write(`${table(c, [['NAME', 'CREATED', 'STATE', 'TYPE'], ...rows])}\n`);
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
    return finished(c, await follow(c, job));
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
      if (c.json) printJson(c, d);
      else {
        const rows = d.items.map((i) => [i.kind, i.vm_name, i.path ?? '-', i.detail]);
        c.io.stdout.write(`${region}/${host}: drift as observed ${d.observed_at ?? 'never'}\n`);
        if (rows.length) c.io.stdout.write(`${table(c, [['KIND', 'VM', 'PATH', 'DETAIL'], ...rows])}\n`);
        else c.io.stdout.write('nothing unaccounted for\n');
      }
      return EXIT.OK;
    }
    const st: HostCordonView =
      sub === 'cordon'
        ? await c.client.cordonHost(region, host, c.values.reason !== undefined ? { reason: c.values.reason } : {})
        : await c.client.uncordonHost(region, host);
    if (c.json) printJson(c, st);
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
    if (sub === 'get' || sub === 'cancel') {
      if (!id) throw new UsageError('which job? give its id');
      const job = sub === 'get' ? await c.client.getJob(id) : await c.client.cancelJob(id);
      if (c.json) printJson(c, job);
      else if (sub === 'get') c.io.stdout.write(jobText(job));
      else c.io.stdout.write(`${job.kind} ${target(job)}: job ${job.id} ${job.state}${job.state === 'canceled' ? '' : ' (cancel requested)'}\n`);
      return EXIT.OK;
    }
    if (sub === 'list') {
      // --vm takes NAME (with --region) or REGION/NAME, as commands about one VM do.
      const vm = c.values.vm;
      const slash = vm?.indexOf('/') ?? -1;
      const region = vm && slash !== -1 ? vm.slice(0, slash) : c.values.region;
      const offset = intOption(c, 'offset', 0);
      const q = {
        limit: intOption(c, 'limit', 1) ?? 100,
        ...(offset !== undefined ? { offset } : {}),
        ...(c.values.state ? { state: c.values.state as Job['state'] } : {}),
        ...(c.values.kind ? { kind: c.values.kind as Job['kind'] } : {}),
        ...(region ? { region } : {}),
        ...(vm ? { vm_name: slash === -1 ? vm : vm.slice(slash + 1) } : {}),
      };
      const page = await c.client.listJobs(q);
      if (c.json) printJson(c, page);
      else {
        const rows = page.jobs.map((j) => [j.id, j.kind, target(j), j.state, `${Math.floor(j.progress)}%`, j.created_at]);
        c.io.stdout.write(`${table(c, [['ID', 'KIND', 'TARGET', 'STATE', 'PROGRESS', 'CREATED'], ...rows])}\n`);
        if (page.next_offset !== null) c.io.stderr.write(`more jobs: add --offset ${page.next_offset}\n`);
      }
      return EXIT.OK;
    }
    throw new UsageError(`jobs takes 'get JOB_ID', 'cancel JOB_ID' or 'list', not '${sub ?? ''}'`);
  },

  async tags(c) {
    const [sub, vmArg, ...rest] = c.args;
    if (sub !== 'set' && sub !== 'rm') throw new UsageError(`tags takes 'set NAME k=v...' or 'rm NAME KEY...', not '${sub ?? ''}'`);
    const { region, name } = vmTarget({ ...c, args: vmArg ? [vmArg] : [] });
    if (rest.length === 0) throw new UsageError(sub === 'set' ? 'which tags? give key=value (one or more)' : 'which tags? give their keys');
    const change = sub === 'set' ? parseTags(rest, 'tags set') : null;
    // Read, change, write with If-Match: a change someone made between the two is a 412, never overwritten.
    const { vm, etag } = await c.client.getVmWithEtag(region, name);
    const tags = { ...vm.tags };
    if (change) Object.assign(tags, change);
    else
      for (const k of rest) {
        if (!Object.hasOwn(tags, k)) c.io.stderr.write(`warning: ${region}/${name} has no tag '${k}'\n`);
        delete tags[k];
      }
    const same = (a: Record<string, string>) => JSON.stringify(Object.entries(a).sort());
    if (same(tags) === same(vm.tags)) {
      if (c.json) printJson(c, vm);
      else c.io.stdout.write(`${region}/${name}: tags unchanged\n`);
      return EXIT.OK;
    }
    return submitted(c, await c.client.setTags(region, name, tags, etag));
  },

  async images(c) {
    const images = await c.client.images();
    if (c.json) printJson(c, images);
    else {
      const state = (h: (typeof images)[number]['hosts'][number]) =>
        `${h.region}/${h.host}:${h.error ? 'error' : h.cached === null ? 'unknown' : h.cached ? (h.verified === false ? 'unverified' : 'cached') : 'not-cached'}`;
      const rows = images.map((i) => [i.name, i.sha256 ? i.sha256.slice(0, 12) : '-', i.hosts.map(state).join(' ') || '-']);
      c.io.stdout.write(`${table(c, [['NAME', 'SHA256', 'HOSTS'], ...rows])}\n`);
    }
    return EXIT.OK;
  },

  async regions(c) {
    const regions = await c.client.regions(c.values.hosts ? { hosts: true } : {});
    if (c.json) printJson(c, regions);
    else {
      const rows = regions.flatMap((r) =>
        r.available_instance_types.map((t) => [
          r.region_name,
          r.enabled ? 'yes' : 'no',
          t.instance_type,
          String(t.vcpus),
          `${t.memory_mb} MiB`,
          `${t.storage_mb} MiB`,
        ]),
      );
      c.io.stdout.write(`${table(c, [['REGION', 'ENABLED', 'TYPE', 'VCPUS', 'MEMORY', 'DISK'], ...rows])}\n`);
      if (c.values.hosts) {
        const hrows = regions.flatMap((r) =>
          (r.hosts ?? []).map((h) => [
            r.region_name,
            h.host,
            h.error ? `error: ${h.error}` : h.observed_at ? 'ok' : 'never listed',
            `${h.capacity.vms}${h.capacity.max_vms !== null ? `/${h.capacity.max_vms}` : ''}`,
            `${h.capacity.vcpus_used}/${h.capacity.vcpus_total ?? '?'}`,
            `${h.capacity.memory_mb_used}/${h.capacity.memory_mb_total ?? '?'} MiB`,
            h.cordoned ? `yes${h.cordon?.reason ? ` (${h.cordon.reason})` : ''}` : 'no',
          ]),
        );
        c.io.stdout.write(`\n${table(c, [['REGION', 'HOST', 'STATE', 'VMS', 'VCPUS', 'MEMORY', 'CORDONED'], ...hrows])}\n`);
      }
    }
    return EXIT.OK;
  },

  async signout(c) {
    const [token, ...extra] = c.args;
    if (!token || extra.length) throw new UsageError('signout takes one token name (as the configuration names it)');
    const r = await c.client.signOutEverywhere(token);
    if (c.json) printJson(c, r);
    else c.io.stdout.write(`${r.token}: ${r.sessions_ended} session(s) ended\n`);
    return EXIT.OK;
  },

  async status(c) {
    const ready = await c.client.ready();
    if (c.json) printJson(c, ready);
    else {
      c.io.stdout.write(`${ready.status}: redis ${ready.redis}\n`);
      const rows = ready.hosts.map((h) => [h.region, h.host, h.status, h.observed_at ?? '-']);
      if (rows.length) c.io.stdout.write(`${table(c, [['REGION', 'HOST', 'STATUS', 'OBSERVED'], ...rows])}\n`);
    }
    return EXIT.OK;
  },

  async webhooks(c) {
    const [sub, a, b] = c.args;
    const first = (what: string) => {
      if (!a) throw new UsageError(`which ${what}? give its id`);
      return a;
    };
    switch (sub) {
      case 'list': {
        const hooks = await c.client.listWebhooks();
        if (c.json) printJson(c, hooks);
        else {
          const rows = hooks.map((h) => [h.id, h.url, h.events.join(','), h.created_at, h.disabled_at ? `disabled: ${h.disabled_reason ?? ''}` : 'active']);
          c.io.stdout.write(`${table(c, [['ID', 'URL', 'EVENTS', 'CREATED', 'STATE'], ...rows])}\n`);
        }
        return EXIT.OK;
      }
      case 'add': {
        if (!a) throw new UsageError('which URL? give the receiver’s address');
        const events = c.values.event ?? [];
        if (events.length === 0) throw new UsageError('which events? give --event TYPE (repeatable), e.g. --event job.succeeded');
        const hook = await c.client.createWebhook({ url: a, events: events as WebhookEndpoint['events'] });
        if (c.json) printJson(c, hook);
        else c.io.stdout.write(`${hook.id}: ${hook.url} (${hook.events.join(',')})\nsecret (shown only now): ${hook.secret}\n`);
        return EXIT.OK;
      }
      case 'rm': {
        const id = first('webhook');
        await c.client.deleteWebhook(id);
        if (c.json) printJson(c, { id, deleted: true });
        else c.io.stdout.write(`${id}: deleted\n`);
        return EXIT.OK;
      }
      case 'rotate': {
        const id = first('webhook');
        const overlap = intOption(c, 'overlap', 0);
        const r = await c.client.rotateWebhookSecret(id, overlap !== undefined ? { overlap_seconds: overlap } : {});
        if (c.json) printJson(c, r);
        else
          c.io.stdout.write(
            `${r.id}: new secret (shown only now): ${r.secret}\n${r.overlap_until ? `the old one signs too until ${r.overlap_until}` : 'the old one no longer signs'}\n`,
          );
        return EXIT.OK;
      }
      case 'deliveries': {
        const d = await c.client.deliveries(first('job'));
        if (c.json) printJson(c, d);
        else {
          const rows = d.deliveries.map((x) => {
            const last = x.attempts.at(-1);
            const lastText = last ? `${last.status_code ?? '-'} ${last.error ?? ''}`.trim() : '-';
            return [x.id, x.type ?? '-', x.endpoint_id ?? x.url ?? '(the job’s webhook_url)', x.state, String(x.attempts.length), lastText];
          });
          c.io.stdout.write(`${table(c, [['ID', 'TYPE', 'TO', 'STATE', 'ATTEMPTS', 'LAST'], ...rows])}\n`);
        }
        return EXIT.OK;
      }
      case 'redeliver': {
        const job = first('job');
        if (!b) throw new UsageError('which delivery? give JOB_ID DELIVERY_ID (see webhooks deliveries JOB_ID)');
        const r = await c.client.redeliver(job, b);
        if (c.json) printJson(c, r);
        else c.io.stdout.write(`${r.delivery_id}: redelivery ${r.state}\n`);
        return EXIT.OK;
      }
      default:
        throw new UsageError(`webhooks takes list, add, rm, rotate, deliveries or redeliver, not '${sub ?? ''}'`);
    }
  },
};
