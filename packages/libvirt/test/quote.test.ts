import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { HOSTILE } from '../../../test/support/hostile.ts';
import { InvalidArgumentError } from '../src/errors.ts';
import { joinArgv, quoteArg } from '../src/quote.ts';

/** Runs the quoted words through a real POSIX shell and returns the arguments it saw (NUL-separated). */
function shellArgs(line: string): string[] {
  const out = execFileSync('sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

describe('quoteArg', () => {
  it.each(HOSTILE)('reaches a real shell as one literal argument: %j', (s) => {
    expect(shellArgs(quoteArg(s))).toEqual([s]);
  });

  it('leaves plain words readable', () => {
    expect(quoteArg('qemu:///system')).toBe('qemu:///system');
    expect(quoteArg('a-b_c.d/e')).toBe('a-b_c.d/e');
  });

  it('refuses NUL bytes, which no argv can carry', () => {
    expect(() => quoteArg('a\0b')).toThrow(InvalidArgumentError);
  });
});

describe('joinArgv', () => {
  it('keeps every element a separate literal argument', () => {
    expect(shellArgs(joinArgv(HOSTILE))).toEqual(HOSTILE);
  });
  it('refuses an empty argv', () => {
    expect(() => joinArgv([])).toThrow(InvalidArgumentError);
  });
});
