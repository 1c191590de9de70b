/** The VM page's pure parts: the escaping template, tag lines, the CSRF comparison, ages. */
import { describe, expect, it } from 'vitest';
import { html } from '../../src/ui/html.ts';
import { age } from '../../src/ui/layout.ts';
import { parseTagLines } from '../../src/ui/pages/tags.ts';
import { csrfMatches } from '../../src/ui/routes.ts';

describe('html``', () => {
  it('escapes every interpolated value, in text and in attributes', () => {
    const evil = `<script>alert("x")</script>' onmouseover='y' \`z\` &amp;`;
    expect(html`<td title="${evil}">${evil}</td>`.value).toBe(
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;y&#39; &#96;z&#96; &amp;amp;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;y&#39; &#96;z&#96; &amp;amp;</td>',
    );
  });

  it('keeps html fragments as they are, joins arrays, writes nothing for null, undefined and false', () => {
    const items = ['<a>', 'b'].map((i) => html`<li>${i}</li>`);
    expect(html`<ul>${items}</ul>${null}${undefined}${false}${0}`.value).toBe('<ul><li>&lt;a&gt;</li><li>b</li></ul>0');
    expect(html`${[['<x>', html`<y>`]]}`.value).toBe('&lt;x&gt;<y>');
  });
});

describe('parseTagLines', () => {
  it('reads key=value lines (split at the first =), skipping blank ones', () => {
    expect(parseTagLines('owner=alice\n\n  note = a=b \r\nempty=')).toEqual({ tags: { owner: 'alice', note: 'a=b', empty: '' } });
  });

  it('names the first line that is not key=value', () => {
    expect(parseTagLines('a=1\nnope\n=x')).toEqual({ error: 'tags: line 2 is not key=value' });
    expect(parseTagLines('=x')).toEqual({ error: 'tags: line 1 is not key=value' });
  });
});

describe('csrfMatches', () => {
  it('accepts only the session’s token; an empty expected token matches nothing', () => {
    expect(csrfMatches('abc', 'abc')).toBe(true);
    expect(csrfMatches('abd', 'abc')).toBe(false);
    expect(csrfMatches('ab', 'abc')).toBe(false);
    expect(csrfMatches('', '')).toBe(false);
  });
});

describe('age', () => {
  it('says seconds, minutes, hours, days; — for nothing', () => {
    const now = Date.parse('2026-01-05T12:00:00Z');
    expect(age('2026-01-05T11:59:30Z', now)).toBe('30 s');
    expect(age('2026-01-05T11:15:00Z', now)).toBe('45 min');
    expect(age('2026-01-05T07:00:00Z', now)).toBe('5 h');
    expect(age('2026-01-01T12:00:00Z', now)).toBe('4 d');
    expect(age(null, now)).toBe('—');
    expect(age('not a date', now)).toBe('—');
  });
});
