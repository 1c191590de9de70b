/**
 * Terminal-safe text. What the CLI prints is often not its own: a guest's serial console, tags, job errors,
 * names and messages from the API. Written raw to a terminal, a guest's `ESC ] 52 ; c ; … BEL` sets the
 * operator's clipboard, `ESC ] 0 ; … BEL` the window title, `ESC [ 2 J` clears the screen, and worse on some
 * terminals. So, when the output is a terminal, such text goes through `sanitize` (`--raw` opts out);
 * pipes and files get it unchanged.
 *
 * Written by hand (a small state machine) because what is needed is narrow and exact: strip every control
 * character and every escape sequence a terminal would act on, and nothing else. Libraries such as
 * `strip-ansi` match CSI/OSC with a regular expression but keep other C0/C1 controls (`\r`, `\b`, U+009B),
 * which are exactly what is needed to redraw or hide text.
 */

const ESC = 0x1b;
const BEL = 0x07;
/** The 8-bit String Terminator. */
const ST8 = 0x9c;

/** 8-bit C1 introducers of control strings (DCS, SOS, OSC, PM, APC): their body runs to ST (or BEL, for OSC). */
const C1_STRING = new Set([0x90, 0x98, 0x9d, 0x9e, 0x9f]);
/** The 8-bit CSI. */
const CSI8 = 0x9b;
/** The 7-bit forms after ESC: `P` DCS, `X` SOS, `]` OSC, `^` PM, `_` APC. */
const ESC_STRING = new Set(['P', 'X', ']', '^', '_']);

/**
 * Code points that reorder what is displayed (bidirectional embeddings, overrides and isolates): text can
 * be made to read differently from what it is ("Trojan Source"). A terminal shows them, so they go too.
 */
const BIDI = /[\u202a-\u202e\u2066-\u2069]/;

/** Whether `c` (a code point) is a control to drop: C0 but `\t` and `\n`, DEL, C1. */
function isControl(c: number): boolean {
  return (c < 0x20 && c !== 0x09 && c !== 0x0a) || (c >= 0x7f && c <= 0x9f);
}

/**
 * `s` without escape sequences (CSI, OSC ended by BEL or ST, DCS/SOS/PM/APC, other `ESC x` forms, and their
 * 8-bit C1 forms), without any other C0/C1 control but `\n` and `\t`, and without bidirectional overrides.
 * A control string left unterminated loses its introducer; its body, now plain text, stays (a terminal
 * would have swallowed the rest of the output; here the operator sees it). `\r\n` becomes `\n`.
 * Pure and idempotent.
 */
export function sanitize(s: string): string {
  let out = '';
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === ESC) {
      const next = s[i + 1];
      if (next === '[') {
        i = skipCsi(s, i + 2);
        continue;
      }
      if (next !== undefined && ESC_STRING.has(next)) {
        i = skipString(s, i + 2, next === ']');
        continue;
      }
      // ESC, intermediates (0x20–0x2F), then one final byte (0x30–0x7E): `ESC c` (reset), `ESC ( B`, `ESC 7`.
      let j = i + 1;
      while (j < n && s.charCodeAt(j) >= 0x20 && s.charCodeAt(j) <= 0x2f) j++;
      if (j < n && s.charCodeAt(j) >= 0x30 && s.charCodeAt(j) <= 0x7e) j++;
      i = j;
      continue;
    }
    if (c === CSI8) {
      i = skipCsi(s, i + 1);
      continue;
    }
    if (C1_STRING.has(c)) {
      i = skipString(s, i + 1, c === 0x9d);
      continue;
    }
    if (c === 0x0d && s.charCodeAt(i + 1) === 0x0a) {
      i++;
      continue;
    }
    if (isControl(c) || BIDI.test(s[i] ?? '')) {
      i++;
      continue;
    }
    out += s[i];
    i++;
  }
  return out;
}

/**
 * From just after a CSI introducer: parameters (0x30–0x3F), intermediates (0x20–0x2F), one final byte
 * (0x40–0x7E). Returns the index after it; a sequence cut short ends where a byte outside those ranges
 * begins (a terminal would abort it there too).
 */
function skipCsi(s: string, i: number): number {
  const n = s.length;
  while (i < n && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x3f) i++;
  while (i < n && s.charCodeAt(i) >= 0x20 && s.charCodeAt(i) <= 0x2f) i++;
  if (i < n && s.charCodeAt(i) >= 0x40 && s.charCodeAt(i) <= 0x7e) i++;
  return i;
}

/**
 * From just after a control string's introducer: the index after its terminator (`ESC \`, the 8-bit ST,
 * or BEL when `bel` — OSC's common form). Unterminated: the index just after the introducer, so the body
 * is kept as text and scanned on (any control in it is still removed).
 */
function skipString(s: string, i: number, bel: boolean): number {
  for (let j = i; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === ST8 || (bel && c === BEL)) return j + 1;
    if (c === ESC && s[j + 1] === '\\') return j + 2;
  }
  return i;
}

/**
 * `JSON.stringify` leaves C1 controls, DEL and bidirectional overrides as they are (it escapes only C0):
 * on a terminal they are written as `\u009b`-style escapes instead, the same JSON value, nothing for a
 * terminal to act on.
 */
export function escapeJsonControls(json: string): string {
  return json.replace(/[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
