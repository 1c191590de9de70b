import { inspect } from 'node:util';

/**
 * A secret held in memory only (an SSH private key from the environment). It serializes and prints as
 * `[redacted]`, so a config object that reaches a log line, job data or an API answer never carries it;
 * `reveal()` is the one way to read it, at the place that needs it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return '[redacted]';
  }

  toString(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}
