/**
 * The library's checks of names and tags before anything runs on a host: the rules of
 * @provisioner/contracts (the API's too), failing with this library's InvalidArgumentError.
 */
import { IMAGE_NAME_RE, isTagValue, SHA256_RE, TAG_KEY_RE, TAGS_MAX, VM_NAME_RE } from '@provisioner/contracts/names';
import { InvalidArgumentError } from './errors.ts';

// The rules themselves live in contracts; the library re-exports them so its users need no second import.
export {
  DNS_LABEL_RE,
  IMAGE_NAME_RE,
  isTagValue,
  isVmName,
  NET_NAME_RE,
  SHA256_RE,
  TAG_KEY_RE,
  TAG_VALUE_MAX,
  TAGS_MAX,
  VM_NAME_RE,
} from '@provisioner/contracts/names';

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
