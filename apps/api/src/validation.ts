/**
 * Request validation shared by the new and the legacy routes: reading a JSON body, zod issues turned
 * into one clear 422, and the checks against the configuration (region, instance type, image) and of
 * user-data. Every rejection happens before anything is queued.
 */
import type { Config, InstanceType, RegionConfig } from '@provisioner/contracts';
import type { Context } from 'hono';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { bodyText } from './body.ts';
import type { AppEnv } from './context.ts';
import { ApiError } from './errors.ts';

/** A field name from the request as it may be shown: plain names as they are, anything else quoted and cut short. */
function fieldName(key: string): string {
  return /^[A-Za-z0-9_.:-]{1,64}$/.test(key) ? key : JSON.stringify(key.slice(0, 64));
}

/** At most this many per-field problems are listed (a body may carry thousands of unknown fields). */
const MAX_DETAILS = 20;

/**
 * Summarises zod issues without echoing values (they may be hostile or secret): unknown fields are
 * named one by one, a value outside a closed set lists the set.
 */
export function zodMessage(error: z.ZodError): { message: string; details: Array<{ path: string; message: string }> } {
  const details = error.issues.flatMap((i) => {
    const at = i.path.map(String).join('.');
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => ({ path: at ? `${at}.${fieldName(k)}` : fieldName(k), message: 'unknown field' }));
    const message = i.code === 'invalid_value' ? `must be one of ${i.values.map(String).join(', ')}` : i.message;
    return [{ path: at || '(body)', message }];
  });
  const first = details[0];
  const message = first ? `${first.path}: ${first.message}${details.length > 1 ? ` (and ${details.length - 1} more)` : ''}` : 'invalid request';
  return { message, details: details.slice(0, MAX_DETAILS) };
}

export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const { message, details } = zodMessage(r.error);
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
  if (!BASE64_RE.test(b64)) throw userDataError('user_data is not base64');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    throw userDataError('user_data is not UTF-8 text');
  }
  if (parseDocument(text).errors.length > 0) throw userDataError('user_data is not YAML');
  return text;
}

function userDataError(message: string): ApiError {
  return new ApiError('VALIDATION', message, { details: [{ path: 'user_data', message }] });
}
