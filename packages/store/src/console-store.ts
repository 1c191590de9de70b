/**
 * Console text on its way from the worker that read it (a `console` job) to the API request waiting for it.
 * Consoles can show generated passwords: the text is kept only as AES-256-GCM ciphertext under the
 * user-data key, bound to its job, for a minute at most, and deleted when read. It never goes into the
 * job's result, data or logs.
 */
import { decryptUserData, encryptUserData, type JobError } from '@provisioner/contracts';
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';

/** The console's last bytes and which log file they come from; `null`: the VM has no console log yet. */
export type ConsoleText = { source: 'current' | 'rotated'; text: string } | null;

/**
 * A console read that failed: its error, for the request waiting for it. A failed console job is removed as
 * it fails (it must not take a place among the operations' failures BullMQ keeps), so this is where the
 * request finds why.
 */
export type ConsoleFailure = { error: JobError };

/** Long enough for the waiting request to read it, short enough that nothing lingers. */
export const CONSOLE_TTL_S = 60;

export class ConsoleStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** config.user_data_key (base64, 32 bytes). */
    private readonly key: string,
    private readonly ttlS = CONSOLE_TTL_S,
  ) {}

  async put(jobId: string, tail: ConsoleText): Promise<void> {
    const sealed = encryptUserData(JSON.stringify(tail), this.key, `console:${jobId}`);
    await this.redis.set(keys.console(this.prefix, jobId), sealed, 'EX', this.ttlS);
  }

  /** Records why the job's read failed, in the text's place (kept as long, taken once alike). */
  async fail(jobId: string, error: JobError): Promise<void> {
    const failure: ConsoleFailure = { error: { code: error.code, message: error.message, retryable: error.retryable } };
    const sealed = encryptUserData(JSON.stringify(failure), this.key, `console:${jobId}`);
    await this.redis.set(keys.console(this.prefix, jobId), sealed, 'EX', this.ttlS);
  }

  /**
   * Reads and deletes the job's console text, or why its read failed (ConsoleFailure); `undefined` when there
   * is neither (not written yet, or expired).
   */
  async take(jobId: string): Promise<ConsoleText | ConsoleFailure | undefined> {
    const sealed = await this.redis.getdel(keys.console(this.prefix, jobId));
    if (sealed === null) return undefined;
    return JSON.parse(decryptUserData(sealed, this.key, `console:${jobId}`)) as ConsoleText | ConsoleFailure;
  }
}
