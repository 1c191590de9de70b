/**
 * The one way the VM page writes HTML: the `html` tagged template escapes every interpolated value
 * (names, tags, console text, error messages: anything a user or a guest wrote) unless it is itself
 * `html` (a fragment built the same way). Arrays are joined; null, undefined and false write nothing.
 *
 * @example
 * html`<td>${vm.tags.note}</td>`             // `<script>` → `&lt;script&gt;`
 * html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>`
 */

/** HTML that is safe to write as is: only `html` makes one. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Text made safe for an element's content and for a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (ch) => ESCAPES[ch] as string);
}

export type Interpolation = SafeHtml | string | number | boolean | null | undefined | readonly Interpolation[];

function write(v: Interpolation): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(write).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += write(values[i] as Interpolation) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}
