/**
 * The terminal sanitizer: every hostile sequence a guest console or an API string may carry, removed whole
 * (not only its ESC), with the text around it, `\n` and `\t` kept.
 */
import { describe, expect, it } from 'vitest';
import { escapeJsonControls, sanitize } from '../../src/sanitize.ts';

const cases: Array<[string, string, string]> = [
  ['OSC 52 clipboard write, BEL-terminated', 'a\x1b]52;c;ZWNobyBwd25lZA==\x07b', 'ab'],
  ['OSC 52, ST-terminated (ESC \\)', 'a\x1b]52;c;ZWNobyBwd25lZA==\x1b\\b', 'ab'],
  ['OSC 0 window title', 'x\x1b]0;you have been pwned\x07y', 'xy'],
  ['OSC 8 hyperlink', '\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\', 'click'],
  ['CSI clear screen', 'before\x1b[2Jafter', 'beforeafter'],
  ['CSI cursor home + erase line', '\x1b[H\x1b[2Kline', 'line'],
  ['CSI SGR colour with parameters', '\x1b[1;31mred\x1b[0m', 'red'],
  ['CSI private mode (hide cursor, alt screen)', '\x1b[?25l\x1b[?1049hx', 'x'],
  ['CSI with intermediate (DECSCUSR)', '\x1b[2 qx', 'x'],
  ['DCS (DECRQSS / sixel)', 'a\x1bP$q"p\x1b\\b', 'ab'],
  ['APC', 'a\x1b_Gf=100;AAAA\x1b\\b', 'ab'],
  ['PM', 'a\x1b^private\x1b\\b', 'ab'],
  ['SOS', 'a\x1bXstring\x1b\\b', 'ab'],
  ['ESC c full reset', 'a\x1bcb', 'ab'],
  ['ESC ( 0 charset switch', 'a\x1b(0qqq\x1b(Bb', 'aqqqb'],
  ['ESC 7 / ESC 8 save and restore cursor', '\x1b7a\x1b8', 'a'],
  ['8-bit CSI (U+009B)', 'a\u009b2Jb', 'ab'],
  ['8-bit OSC (U+009D) ended by 8-bit ST (U+009C)', 'a\u009d0;title\u009cb', 'ab'],
  ['8-bit OSC ended by BEL', 'a\u009d52;c;eA==\x07b', 'ab'],
  ['8-bit DCS ended by ESC \\', 'a\u0090q#0\x1b\\b', 'ab'],
  ['8-bit APC, PM, SOS', '\u009fx\u009c\u009ey\u009c\u0098z\u009ca', 'a'],
  ['lone C1 controls (NEL, IND, RI)', 'a\u0085b\u0084c\u008dd', 'abcd'],
  ['C0: BEL, backspace, form feed, vertical tab, NUL', 'a\x07b\x08c\x0cd\x0be\x00f', 'abcdef'],
  ['a lone CR (overwrites the line)', 'visible\rhidden', 'visiblehidden'],
  ['CRLF becomes LF', 'one\r\ntwo\r\n', 'one\ntwo\n'],
  ['DEL', 'a\x7fb', 'ab'],
  ['bidirectional override (Trojan Source)', 'owner=\u202eeilla\u202c', 'owner=eilla'],
  ['bidirectional isolates', 'a\u2066b\u2069c', 'abc'],
  ['unterminated OSC: introducer gone, body kept as text', 'a\x1b]0;title', 'a0;title'],
  ['unterminated 8-bit OSC, later CSI still removed', 'a\u009d0;t\x1b[2Jz', 'a0;tz'],
  ['an ESC at the very end', 'a\x1b', 'a'],
  ['ESC before a newline: the newline stays', 'a\x1b\nb', 'a\nb'],
  ['CSI cut short by a newline', 'a\x1b[12\nb', 'a\nb'],
  ['keeps tabs, newlines and printable Unicode', 'k\tv\nü → 世界 🙂', 'k\tv\nü → 世界 🙂'],
];

describe('sanitize', () => {
  it.each(cases)('%s', (_, input, want) => {
    expect(sanitize(input)).toBe(want);
    // Idempotent, and what is left holds no control a terminal acts on.
    expect(sanitize(want)).toBe(want);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
    expect(sanitize(input)).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
  });

  it('leaves plain text untouched (the same string)', () => {
    const s = 'NAME  REGION\nvm-1  r1\towner=me\n';
    expect(sanitize(s)).toBe(s);
  });
});

describe('escapeJsonControls', () => {
  it('writes C1, DEL and bidi overrides as \\u escapes: the same JSON value', () => {
    const v = { tag: 'a\u009b2J\u007f\u202eb' };
    const text = escapeJsonControls(JSON.stringify(v));
    expect(text).toBe('{"tag":"a\\u009b2J\\u007f\\u202eb"}');
    expect(JSON.parse(text)).toEqual(v);
    expect(sanitize(text)).toBe(text);
  });
});
