/**
 * The rules for names and tags, in one place: the API's zod schemas, the configuration and the libvirt
 * library (which checks them again before anything runs on a host) all use these. Plain regular
 * expressions and predicates, no dependencies, so the library can import them without the rest of contracts.
 */

/** A lowercase DNS label: 1–63 of a-z, 0-9 and '-', not starting or ending with '-'. VMs, regions and hosts. */
export const DNS_LABEL_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** VM names become domain names and host names of guests: a DNS label. */
export const VM_NAME_RE = DNS_LABEL_RE;
/** Image names such as `v0.76.0` or `debian-12`: no slashes, no leading dot or dash. */
export const IMAGE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const SHA256_RE = /^[a-f0-9]{64}$/;
/** Libvirt network or bridge names we accept in host configuration. */
export const NET_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A token's name in the configuration (shown in logs and job views instead of the token). */
export const TOKEN_NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
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

/** At most TAG_VALUE_MAX UTF-16 units, no control characters, nothing XML 1.0 cannot hold (lone surrogates included). */
export function isTagValue(v: string): boolean {
  return v.length <= TAG_VALUE_MAX && !NOT_TAG_CHAR_RE.test(v);
}
