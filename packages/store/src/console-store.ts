/**
 * Console text on its way from the worker that read it (a `console` job) to the API request waiting for it.
 * Consoles can show generated passwords: the text is kept only as AES-256-GCM ciphertext under the
 * user-data key, bound to its job, for a minute at most, and deleted when read. It never goes into the
 * job's result, data or logs.
 */
import { decryptUserData, encryptUserData } from '@provisioner/contracts';
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';

/** The console's last bytes and which log file they come from; `null`: the VM has no console log yet. */
export type ConsoleText = { source: 'current' | 'rotated'; text: string } | null;

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

  /** Reads and deletes the job's console text; `undefined` when there is none (not written yet, or expired). */
  async take(jobId: string): Promise<ConsoleText | undefined> {
    const sealed = await this.redis.getdel(keys.console(this.prefix, jobId));
    if (sealed === null) return undefined;
    return JSON.parse(decryptUserData(sealed, this.key, `console:${jobId}`)) as ConsoleText;
  }
}
