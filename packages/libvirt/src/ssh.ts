import { createHash, timingSafeEqual } from 'node:crypto';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import {
  AuthenticationError,
  CanceledError,
  CommandFailedError,
  ConnectionError,
  HostKeyError,
  InvalidArgumentError,
  type LibvirtError,
  TimeoutError,
} from './errors.ts';
import { joinArgv } from './quote.ts';

export interface SshOptions {
  host: string;
  port: number;
  username: string;
  /** PEM/OpenSSH private key contents (not a path: the library does not read files it is not given). */
  privateKey: string | Buffer;
  /** Pinned host-key fingerprint(s), `SHA256:<base64 without padding>` as `ssh-keygen -lf` prints. */
  hostKeyFingerprints: readonly string[];
  /** Milliseconds to establish the connection and authenticate. */
  connectTimeoutMs?: number;
  /** Default milliseconds a command may run before its process group is killed. */
  commandTimeoutMs?: number;
  /** Channels at once on the one connection (OpenSSH's MaxSessions defaults to 10). */
  maxChannels?: number;
  keepaliveIntervalMs?: number;
  /**
   * How error messages name this host, e.g. the configuration's `region/host`. Messages reach clients (job
   * errors, webhooks), so they carry this name only; the address (`user@host:port`) stays in each error's
   * `context.host`, for logs. Defaults to the address.
   */
  name?: string;
  /** Called once per remote command when it ends, for metrics (the library depends on no metrics client). */
  onCommand?: (c: CommandObservation) => void;
}

/** One remote command as `onCommand` sees it. */
export interface CommandObservation {
  /** What ran (commandName): a script's name for `sh -c`/`bash -c`, else the program. */
  command: string;
  /** From the call to its end, waiting for a channel and the connection included. */
  seconds: number;
  /** `ok` (exit 0), `failed` (another exit status or a signal), `error` (no exit: timeout, connection, canceled). */
  outcome: 'ok' | 'failed' | 'error';
}

/** What ran, for messages and metrics: `sh -c SCRIPT NAME …` is named by NAME (its $0), anything else by its program. */
export function commandName(argv: readonly string[]): string {
  const [program = '', flag, , name] = argv;
  // A command run under its VM's lock (commands.ts vmLockedArgv) is named after what it runs.
  if (program === 'sh' && flag === '-c' && name === 'vm-lock' && argv.length > 6) return commandName(argv.slice(6));
  return (program === 'sh' || program === 'bash') && flag === '-c' && name ? name : program;
}

export interface ExecOptions {
  /** Bytes written to the command's stdin, then EOF. Use it for secrets (never put them in argv). */
  stdin?: string | Buffer;
  signal?: AbortSignal;
  timeoutMs?: number;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** Exit codes that are not failures (default only 0). */
  okExitCodes?: readonly number[];
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: string | null;
}

/** `SHA256:` + unpadded base64 of the SHA-256 of the raw host key blob, as OpenSSH prints it. */
export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

function sameFingerprint(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Every command runs in its own session and process group (setsid), and first prints that group's id,
 * so that a timeout or cancellation can kill the whole remote process tree with a second command:
 * closing an SSH channel does not stop a remote process with OpenSSH (measured: docs/architecture.md, facts).
 * `-w` makes setsid wait and pass the exit status through.
 */
const WRAPPER = ['setsid', '-w', 'sh', '-c', 'echo "$$"; exec "$@"', 'provisioner'] as const;

/** Sends TERM to a process group, waits up to 2 s, then KILL. Exits 0 when the group is gone. */
const KILL_SCRIPT =
  'kill -s TERM -- "-$1" 2>/dev/null || exit 0; i=0; while kill -0 -- "-$1" 2>/dev/null; do i=$((i+1)); if [ $i -ge 20 ]; then kill -s KILL -- "-$1" 2>/dev/null; exit 0; fi; sleep 0.1; done';

/**
 * One pooled SSH connection to one host, carrying up to `maxChannels` concurrent commands.
 * The connection is opened lazily, re-opened after it is lost, and verified against pinned host keys.
 */
export class SshHost {
  /** `user@host:port`: for logs and errors' `context.host`, never in messages. */
  readonly label: string;
  /** How messages name the host (SshOptions.name). */
  readonly name: string;
  private client: Client | null = null;
  private connecting: Promise<Client> | null = null;
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  private closed = false;
  /** Counters for observability and tests. */
  readonly stats = { connects: 0, channels: 0 };

  /** Commands running (or waiting for the connection) now: the channels in use. */
  get channelsInUse(): number {
    return this.active;
  }

  /** Whether a connection is open now. */
  get connected(): boolean {
    return this.client !== null;
  }

  constructor(private readonly opts: SshOptions) {
    if (opts.hostKeyFingerprints.length === 0) {
      throw new InvalidArgumentError('at least one pinned host-key fingerprint is required');
    }
    for (const f of opts.hostKeyFingerprints) {
      if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(f)) throw new InvalidArgumentError('host-key fingerprint must be SHA256:<43 base64 chars>');
    }
    this.label = `${opts.username}@${opts.host}:${opts.port}`;
    this.name = opts.name ?? this.label;
  }

  /** Runs `argv` on the host (each element one literal argument). Throws CommandFailedError on a bad exit. */
  async run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const result = await this.exec(argv, options);
    const ok = options.okExitCodes ?? [0];
    if (result.exitCode === null || !ok.includes(result.exitCode)) {
      throw new CommandFailedError(
        `command '${commandName(argv)}' failed on ${this.name} with ${result.exitCode === null ? `signal ${result.signal}` : `exit code ${result.exitCode}`}: ${lastLine(result.stderr)}`,
        { host: this.label, argv: redactArgv(argv), exitCode: result.exitCode, signal: result.signal, stderr: result.stderr.slice(-4000) },
      );
    }
    return result;
  }

  /** Runs `argv`, resolving with stdout, stderr and the exit status kept apart, whatever the exit code. */
  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) throw new ConnectionError(`ssh host ${this.name} is closed`, { host: this.label });
    options.signal?.throwIfAborted?.();
    const command = joinArgv([...WRAPPER, ...argv]);
    const started = performance.now();
    let outcome: CommandObservation['outcome'] = 'error';
    await this.acquire(options.signal);
    try {
      const client = await this.connection();
      const result = await this.execOn(client, command, argv, options);
      outcome = result.exitCode === 0 ? 'ok' : 'failed';
      return result;
    } finally {
      this.release();
      this.observe({ command: commandName(argv), seconds: (performance.now() - started) / 1000, outcome });
    }
  }

  private observe(c: CommandObservation): void {
    try {
      this.opts.onCommand?.(c);
    } catch {
      // An observer's failure must not fail the command it observed.
    }
  }

  /** Closes the connection; later calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    const c = this.client;
    this.client = null;
    if (c) {
      await new Promise<void>((resolve) => {
        c.once('close', () => resolve());
        c.end();
        setTimeout(resolve, 1000).unref();
      });
    }
  }

  private async acquire(signal?: AbortSignal): Promise<void> {
    const max = this.opts.maxChannels ?? 8;
    while (this.active >= max) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(new CanceledError(`canceled while waiting for an SSH channel to ${this.name}`, { host: this.label }));
        this.waiters.push(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    this.active++;
  }

  private release(): void {
    this.active--;
    this.waiters.shift()?.();
  }

  private connection(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    if (!this.connecting) {
      this.connecting = this.connect().finally(() => {
        this.connecting = null;
      });
    }
    return this.connecting;
  }

  private connect(): Promise<Client> {
    const { opts } = this;
    return new Promise<Client>((resolve, reject) => {
      const client = new Client();
      let hostKeyRejected: string | null = null;
      let settled = false;
      const config: ConnectConfig = {
        host: opts.host,
        port: opts.port,
        username: opts.username,
        privateKey: opts.privateKey,
        readyTimeout: opts.connectTimeoutMs ?? 10_000,
        keepaliveInterval: opts.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: 3,
        // Ask for the key types OpenSSH hosts have, ed25519 first, so the pinned fingerprint matches.
        algorithms: { serverHostKey: ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256'] },
        hostVerifier: (key: Buffer) => {
          const fp = fingerprintOf(key);
          const ok = opts.hostKeyFingerprints.some((p) => sameFingerprint(p, fp));
          if (!ok) hostKeyRejected = fp;
          return ok;
        },
      };
      client.on('ready', () => {
        settled = true;
        // Nagle off: an exec is a few small packets (channel open, exec request, EOF), and with Nagle each
        // waited for the host's delayed ACK, about 40 ms per command here (docs/architecture.md, facts).
        client.setNoDelay(true);
        this.stats.connects++;
        this.client = client;
        resolve(client);
      });
      client.on('error', (err: Error & { level?: string }) => {
        if (settled) return; // a lost connection is noticed by the channels that were using it
        settled = true;
        client.destroy();
        if (hostKeyRejected) {
          reject(
            new HostKeyError(
              `host key of ${this.name} does not match the pinned fingerprint (got ${hostKeyRejected}); if the host was reinstalled, verify and update its fingerprint`,
              { host: this.label, presented: hostKeyRejected },
            ),
          );
        } else if (err.level === 'client-authentication') {
          reject(new AuthenticationError(`authentication to ${this.name} failed`, { host: this.label }, { cause: err }));
        } else if (err.level === 'client-timeout') {
          reject(new TimeoutError(`connecting to ${this.name} timed out`, { host: this.label }));
        } else {
          // The socket's own message names the address (`connect ECONNREFUSED 10.0.0.5:2222`): only its code
          // goes into the message; the whole text stays in the context, for logs.
          const code = (err as NodeJS.ErrnoException).code;
          reject(new ConnectionError(`cannot connect to ${this.name}${code ? ` (${code})` : ''}`, { host: this.label, reason: err.message }, { cause: err }));
        }
      });
      client.on('close', () => {
        if (this.client === client) this.client = null;
        if (!settled) {
          settled = true;
          reject(new ConnectionError(`connection to ${this.name} closed during handshake`, { host: this.label }));
        }
      });
      client.connect(config);
    });
  }

  private execOn(client: Client, command: string, argv: readonly string[], options: ExecOptions): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? this.opts.commandTimeoutMs ?? 120_000;
    return new Promise<ExecResult>((resolve, reject) => {
      client.exec(command, (err, channel: ClientChannel) => {
        if (err) {
          // The connection may be half-dead; drop it so the next command reconnects.
          if (this.client === client) this.client = null;
          client.end();
          reject(new ConnectionError(`cannot open a channel on ${this.name}: ${err.message}`, { host: this.label }, { cause: err }));
          return;
        }
        this.stats.channels++;
        let pgid: string | null = null;
        let head = '';
        let stdout = '';
        let stderr = '';
        let stopping: LibvirtError | null = null;
        let pendingKill = false;
        let exitCode: number | null = null;
        let exitSignal: string | null = null;
        let timer: NodeJS.Timeout | undefined;

        const killGroup = (reason: LibvirtError) => {
          if (stopping) return;
          stopping = reason;
          if (pgid === null) {
            pendingKill = true;
            return;
          }
          this.killRemoteGroup(pgid);
        };
        const onAbort = () =>
          killGroup(new CanceledError(`command '${commandName(argv)}' canceled on ${this.name}`, { host: this.label, argv: redactArgv(argv) }));
        if (options.signal) {
          if (options.signal.aborted) onAbort();
          else options.signal.addEventListener('abort', onAbort, { once: true });
        }
        timer = setTimeout(
          () =>
            killGroup(
              new TimeoutError(`command '${commandName(argv)}' timed out after ${timeoutMs} ms on ${this.name}`, { host: this.label, argv: redactArgv(argv) }),
            ),
          timeoutMs,
        );

        channel.on('data', (data: Buffer) => {
          let text = data.toString('utf8');
          if (pgid === null) {
            head += text;
            const nl = head.indexOf('\n');
            if (nl === -1) return;
            pgid = head.slice(0, nl).trim();
            text = head.slice(nl + 1);
            head = '';
            if (!/^\d+$/.test(pgid)) pgid = null;
            if (pendingKill && pgid) this.killRemoteGroup(pgid);
          }
          if (text) {
            stdout += text;
            options.onStdout?.(text);
          }
        });
        channel.stderr.on('data', (data: Buffer) => {
          const text = data.toString('utf8');
          stderr += text;
          options.onStderr?.(text);
        });
        channel.on('exit', (code: number | null, signal?: string) => {
          exitCode = typeof code === 'number' ? code : null;
          exitSignal = signal ?? null;
        });
        channel.on('close', () => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          if (stopping) return reject(stopping);
          if (exitCode === null && exitSignal === null) {
            return reject(
              new ConnectionError(`connection to ${this.name} lost while running '${commandName(argv)}'`, { host: this.label, argv: redactArgv(argv) }),
            );
          }
          resolve({ stdout, stderr, exitCode, signal: exitSignal });
        });
        if (options.stdin !== undefined) channel.end(options.stdin);
        else channel.end();
      });
    });
  }

  /** Kills a remote process group through a second command on the same connection. */
  private killRemoteGroup(pgid: string): void {
    const client = this.client;
    if (!client) return;
    client.exec(joinArgv(['sh', '-c', KILL_SCRIPT, 'kill', pgid]), (err, ch) => {
      if (err) return;
      ch.resume();
      ch.stderr.resume();
    });
  }
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 500);
}

/** Scripts passed as `sh -c SCRIPT` are long and constant: keep errors readable. */
function redactArgv(argv: readonly string[]): string[] {
  return argv.map((a) => (a.length > 200 ? `${a.slice(0, 60)}…(${a.length} chars)` : a));
}
