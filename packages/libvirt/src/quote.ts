import { InvalidArgumentError } from './errors.ts';

/**
 * Quotes one argument for a POSIX shell: the result is always exactly one word whose value is `arg`,
 * whatever it holds (quotes, `$()`, backticks, newlines, leading dashes, unicode). This is the only
 * place in the project where a shell command line is assembled.
 */
export function quoteArg(arg: string): string {
  if (arg.includes('\0')) throw new InvalidArgumentError('argument contains a NUL byte');
  if (arg !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Joins an argv array into one shell command line, each element quoted by {@link quoteArg}. */
export function joinArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new InvalidArgumentError('empty argv');
  return argv.map(quoteArg).join(' ');
}
