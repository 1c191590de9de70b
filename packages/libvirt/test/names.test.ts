import { describe, expect, it } from 'vitest';
import { assertHttpUrl, assertTags, assertVmName, isTagValue, isVmName, TAGS_MAX } from '../src/names.ts';

describe('vm names', () => {
  it.each(['a', 'amber-otter', 'vm1', 'a'.repeat(63), '0abc'])('accepts %j', (n) => expect(isVmName(n)).toBe(true));
  it.each(['', '-a', 'a-', 'A', 'a_b', 'a.b', 'a'.repeat(64), '; rm -rf /', '$(id)', 'a\nb', '--flag', 'ü', 'a b'])('rejects %j', (n) => {
    expect(isVmName(n)).toBe(false);
    expect(() => assertVmName(n)).toThrow(/DNS label/);
  });
});

describe('tags and urls', () => {
  it('accepts ordinary tags and rejects control characters, bad keys and too many', () => {
    expect(() => assertTags({ owner: 'alice', description: 'a <b> & "c"' })).not.toThrow();
    expect(() => assertTags({ owner: 'a\nb' })).toThrow(/tag value/);
    expect(() => assertTags({ note: 'ünïcödé ✓ 名前 😀 \uFFFD' })).not.toThrow();
  });
  it.each(['\uFFFE', 'a\uFFFFb', 'a\uD800', '\uDC00b', '\u007f'])('rejects tag value %j, which XML 1.0 cannot hold', (v) => {
    expect(isTagValue(v)).toBe(false);
    expect(() => assertTags({ note: v })).toThrow(/tag value/);
    expect(() => assertTags({ 'bad key': 'x' })).toThrow(/tag key/);
    expect(() => assertTags(Object.fromEntries(Array.from({ length: TAGS_MAX + 1 }, (_, i) => [`k${i}`, 'v'])))).toThrow(/at most/);
  });
  it('accepts only http(s) urls', () => {
    expect(() => assertHttpUrl('https://example.org/a.qcow2')).not.toThrow();
    expect(() => assertHttpUrl('file:///etc/passwd')).toThrow(/http/);
    expect(() => assertHttpUrl('not a url')).toThrow(/valid URL/);
  });
});
