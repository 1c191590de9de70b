/**
 * Validation rules shared by the API (zod) and the library (checked again before anything runs).
 * Plain regular expressions and functions, so both sides import the same source of truth.
 */
import { InvalidArgumentError } from './errors.ts';

/** A lowercase DNS label: 1–63 of a-z, 0-9 and '-', not starting or ending with '-'. */
export const VM_NAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Image names such as `v0.76.0` or `debian-12`: no slashes, no leading dot or dash. */
export const IMAGE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const SHA256_RE = /^[a-f0-9]{64}$/;
/** Libvirt network or bridge names we accept in host configuration. */
export const NET_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const TAG_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,62}$/;
export const TAG_VALUE_MAX = 1024;
export const TAGS_MAX = 64;
// Control characters have no place in a tag value and would confuse logs and XML. Nor have the code
// points XML 1.0 cannot hold (its Char production excludes U+FFFE, U+FFFF and surrogates): the domain's
// metadata is XML, so the host would refuse such a value on every attempt.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const NOT_TAG_CHAR_RE = /[\u0000-\u001f\u007f\ufffe\uffff]|\p{Cs}/u;

export function isVmName(s: string): boolean {
  return VM_NAME_RE.test(s);
}

export function assertVmName(s: string): void {
  if (typeof s !== 'string' || !VM_NAME_RE.test(s)) {
    throw new InvalidArgumentError('vm name must be a lowercase DNS label (1-63 of a-z, 0-9, -)', { value: String(s).slice(0, 80) });
  }
}

export function assertImageName(s: string): void {
  if (typeof s !== 'string' || !IMAGE_NAME_RE.test(s)) {
    throw new InvalidArgumentError('invalid image name', { value: String(s).slice(0, 80) });
  }
}

export function assertSha256(s: string): void {
  if (!SHA256_RE.test(s)) throw new InvalidArgumentError('sha256 must be 64 lowercase hex digits');
}

export function assertHttpUrl(s: string): void {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new InvalidArgumentError('image url is not a valid URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError('image url must be http(s)');
}

/** At most TAG_VALUE_MAX UTF-16 units, no control characters, nothing XML 1.0 cannot hold (lone surrogates included). */
export function isTagValue(v: string): boolean {
  return v.length <= TAG_VALUE_MAX && !NOT_TAG_CHAR_RE.test(v);
}

export function assertTags(tags: Record<string, string>): void {
  const entries = Object.entries(tags);
  if (entries.length > TAGS_MAX) throw new InvalidArgumentError(`at most ${TAGS_MAX} tags`);
  for (const [k, v] of entries) {
    if (!TAG_KEY_RE.test(k)) throw new InvalidArgumentError('invalid tag key', { key: k.slice(0, 80) });
    if (typeof v !== 'string' || !isTagValue(v)) throw new InvalidArgumentError('invalid tag value', { key: k });
  }
}

export function assertPositiveInt(n: number, what: string, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(n) || n <= 0 || n > max) throw new InvalidArgumentError(`${what} must be a positive integer ≤ ${max}`);
}
