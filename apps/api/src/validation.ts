/**
 * Request validation shared by the new and the legacy routes: reading a JSON body, zod issues turned
 * into one clear 422, and the checks against the configuration (region, instance type, image) and of
 * user-data. Every rejection happens before anything is queued.
 */
import type { Config, InstanceType, RegionConfig } from '@provisioner/contracts';
import type { Context } from 'hono';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { bodyText } from './body.ts';
import type { AppEnv } from './context.ts';
import { ApiError } from './errors.ts';

/** A field name from the request as it may be shown: plain names as they are, anything else quoted and cut short. */
function fieldName(key: string): string {
  return /^[A-Za-z0-9_.:-]{1,64}$/.test(key) ? key : JSON.stringify(key.slice(0, 64));
}

/** A path as `tags.owner`, `webhook_events.0`; each key the client wrote shown as fieldName does. */
function pathName(path: ReadonlyArray<PropertyKey>): string {
  return path.map((k) => (typeof k === 'string' ? fieldName(k) : String(k))).join('.');
}

/** At most this many per-field problems are listed (a body may carry thousands of unknown fields). */
const MAX_DETAILS = 20;
/** At most this many sentences make up the message; the details list the rest. */
const MAX_SENTENCES = 3;

/** zod's expected types in words. */
const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  record: 'an object',
  array: 'an array',
  null: 'null',
};

/** What a schema's own message says of its field, made a predicate (`must …`, `is …`) that follows the field's name. */
function predicateOf(message: string, field: string): string {
  const last = field.split('.').at(-1) ?? field;
  // "vm_name must be …": the schema named the field itself.
  for (const name of [field, last]) if (name && message.startsWith(`${name} `)) return message.slice(name.length + 1);
  if (/^(must|is|are|has|have|may|cannot|can't|should|needs?)\b/.test(message)) return message;
  if (/^not\b/.test(message)) return `is ${message}`;
  return `is not valid: ${message}`;
}

/** The value at `path` of the request, to tell a missing field from one of the wrong type. */
function valueAt(input: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v = input;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

type Issue = z.core.$ZodIssue;

/** One issue as a predicate of its field, from its structure rather than zod's English. */
function predicate(i: Issue, input: unknown, field: string): string {
  switch (i.code) {
    case 'invalid_type':
      if (valueAt(input, i.path) === undefined) return 'is required';
      return `must be ${TYPE_WORDS[i.expected] ?? `of type ${i.expected}`}`;
    case 'too_big': {
      const max = String(i.maximum);
      if (i.origin === 'string') return `must be at most ${max} characters long`;
      if (i.origin === 'array' || i.origin === 'set') return `must have at most ${max} item${max === '1' ? '' : 's'}`;
      return i.inclusive ? `must be at most ${max}` : `must be less than ${max}`;
    }
    case 'too_small': {
      const min = String(i.minimum);
      if (i.origin === 'string') return min === '1' ? 'must not be empty' : `must be at least ${min} characters long`;
      if (i.origin === 'array' || i.origin === 'set') return `must have at least ${min} item${min === '1' ? '' : 's'}`;
      return i.inclusive ? `must be at least ${min}` : `must be greater than ${min}`;
    }
    case 'invalid_value':
      return i.values.length === 1 ? `must be ${String(i.values[0])}` : `must be one of ${i.values.map(String).join(', ')}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(i.divisor)}`;
    case 'invalid_format':
      // A schema's own words ("must be a lowercase DNS label …") say more than zod's "Invalid string: must match pattern".
      if (!/^Invalid\b/.test(i.message)) return predicateOf(i.message, field);
      if (i.format === 'url') return 'must be a well-formed URL';
      return i.format === 'regex' ? 'is not in the accepted form' : `must be a well-formed ${i.format}`;
    case 'invalid_union': {
      // Each alternative refused at the field itself for its type: say which types would do.
      const types = i.errors.flatMap((alt) =>
        alt.filter((x) => x.code === 'invalid_type' && x.path.length === 0).map((x) => (x as { expected: string }).expected),
      );
      if (valueAt(input, i.path) === undefined) return 'is required';
      return types.length === i.errors.length ? `must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}` : 'matches none of the accepted forms';
    }
    case 'invalid_key':
    case 'invalid_element': {
      const inner = i.issues[0];
      return inner ? predicate({ ...inner, path: [...i.path, ...inner.path] } as Issue, input, field) : 'is not valid';
    }
    default:
      return predicateOf(i.message, field);
  }
}

/**
 * Turns zod issues into what a person reads, in one place for every route: `details` gives each field and a
 * predicate about it (`{path: "tail_bytes", message: "must be at most 1048576"}`: a client such as the CLI may
 * put its own name for the field in front), and `message` the first few as sentences ("vm_name is required;
 * tail_bytes must be at most 1048576"). Values are never echoed (they may be hostile or secret): unknown
 * fields are named one by one, a value outside a closed set lists the set. `input` is the value validated,
 * to tell a missing field (`is required`) from one of the wrong type.
 */
export function zodMessage(error: z.ZodError, input?: unknown): { message: string; details: Array<{ path: string; message: string }> } {
  const details = error.issues.flatMap((i) => {
    const at = pathName(i.path);
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => ({ path: at ? `${at}.${fieldName(k)}` : fieldName(k), message: 'is not a known field' }));
    // A record's bad key: the key is the subject ("tags key \"bad key\" must be …").
    const path = i.code === 'invalid_key' ? `${pathName(i.path.slice(0, -1))} key ${JSON.stringify(String(i.path.at(-1) ?? '').slice(0, 64))}` : at;
    return [{ path: at || '(body)', subject: path || 'the body', message: predicate(i, input, at) }];
  });
  const sentences = details.slice(0, MAX_SENTENCES).map((d) => `${'subject' in d ? d.subject : d.path} ${d.message}`);
  const more = details.length - sentences.length;
  const message = sentences.length ? `${sentences.join('; ')}${more > 0 ? ` (and ${more} more: see error.details)` : ''}` : 'the request is not valid';
  return { message, details: details.slice(0, MAX_DETAILS).map((d) => ({ path: d.path, message: d.message })) };
}

export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const { message, details } = zodMessage(r.error, value);
    throw new ApiError('VALIDATION', message, { details });
  }
  return r.data;
}

/**
 * Reads the body as JSON and validates it. Malformed JSON or a non-object is 400; an empty body is
 * `{}` when `optional` (e.g. stop without options), else 400.
 */
export async function jsonBody<S extends z.ZodType>(c: Context<AppEnv>, schema: S, opts: { optional?: boolean } = {}): Promise<z.output<S>> {
  const text = await bodyText(c);
  let value: unknown;
  if (text.trim() === '') {
    if (!opts.optional) throw new ApiError('BAD_REQUEST', 'a JSON body is required');
    value = {};
  } else {
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError('BAD_REQUEST', 'malformed JSON body');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ApiError('BAD_REQUEST', 'the JSON body must be an object');
  return validate(schema, value);
}

/** The path parameters, validated by the route's schema (422 naming the parameter). */
export function pathParams<S extends z.ZodObject>(c: Context<AppEnv>, schema: S): z.output<S> {
  return validate(schema, c.req.param());
}

/** Whether a query parameter's schema takes a list (`tag`, which may repeat). */
function takesList(schema: z.core.$ZodType | undefined): boolean {
  let t = schema;
  while (t instanceof z.ZodOptional || t instanceof z.ZodDefault || t instanceof z.ZodNullable) t = t.unwrap();
  return t instanceof z.ZodArray;
}

/**
 * The query, validated by the route's strict schema: an unknown parameter is a 422 naming it, as an unknown
 * body field is. A parameter is given once (a repeated one is a 422: which of the values was meant?), but
 * where its schema takes a list.
 */
export function queryParams<S extends z.ZodObject>(c: Context<AppEnv>, schema: S): z.output<S> {
  const value: Record<string, string | string[]> = {};
  const repeated: string[] = [];
  for (const [key, values] of Object.entries(c.req.queries())) {
    if (takesList(schema.shape[key])) value[key] = values;
    else {
      if (values.length > 1) repeated.push(key);
      value[key] = values[0] ?? '';
    }
  }
  if (repeated.length > 0) {
    const details = repeated.slice(0, MAX_DETAILS).map((k) => ({ path: fieldName(k), message: 'must be given once' }));
    throw new ApiError('VALIDATION', details.map((d) => `${d.path} ${d.message}`).join('; '), { details });
  }
  return validate(schema, value);
}

/** A configured, enabled region; `status` decides whether unknown is a bad body (422) or a missing resource (404). */
export function findRegion(config: Config, name: string, status: 'VALIDATION' | 'NOT_FOUND' = 'VALIDATION'): RegionConfig {
  const region = config.regions.find((r) => r.region_name === name && r.enabled);
  if (!region) {
    const known = oneOf(enabledRegions(config).map((r) => r.region_name));
    throw new ApiError(status, `unknown region: region_name must be ${known}`, { details: [{ path: 'region_name', message: `must be ${known}` }] });
  }
  return region;
}

export function enabledRegions(config: Config): RegionConfig[] {
  return config.regions.filter((r) => r.enabled);
}

export function findInstanceType(region: RegionConfig, name: string): InstanceType {
  const t = region.available_instance_types.find((i) => i.instance_type === name);
  if (!t) {
    const known = oneOf(region.available_instance_types.map((i) => i.instance_type));
    throw new ApiError('VALIDATION', `instance_type must be ${known} (the types of region ${region.region_name})`, {
      details: [{ path: 'instance_type', message: `must be ${known}` }],
    });
  }
  return t;
}

export function findImage(config: Config, name: string): { name: string; url: string; sha256?: string } {
  const image = Object.hasOwn(config.images, name) ? config.images[name] : undefined;
  if (!image) {
    const known = oneOf(Object.keys(config.images));
    throw new ApiError('VALIDATION', `unknown image: image must be ${known}`, { details: [{ path: 'image', message: `must be ${known} (GET /v1/images)` }] });
  }
  return { name, url: image.url, ...(image.sha256 ? { sha256: image.sha256 } : {}) };
}

/**
 * `one of a, b, c`: the configured names a value may take (configuration, not anyone's data, so every
 * caller may see them).
 */
function oneOf(names: string[]): string {
  return names.length ? `one of ${names.join(', ')}` : 'one of (none configured)';
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes user-data: strict base64 (alphabet, padding) of UTF-8 text that is one YAML document.
 * Returns the plain text (encrypted with the job by the queue), or null when none was given.
 */
export function decodeUserData(b64: string | null | undefined): string | null {
  if (b64 === undefined || b64 === null || b64 === '') return null;
  if (!BASE64_RE.test(b64)) throw userDataError('is not base64');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    throw userDataError('is not UTF-8 text');
  }
  if (parseDocument(text).errors.length > 0) throw userDataError('is not one YAML document');
  return text;
}

function userDataError(predicate: string): ApiError {
  return new ApiError('VALIDATION', `user_data ${predicate}`, { details: [{ path: 'user_data', message: predicate }] });
}
