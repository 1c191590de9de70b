/**
 * Redaction of free text (error messages, command output) before it reaches a job's log or a log
 * line: credentials in URLs, query strings, bearer tokens, webhook secrets, private keys and long
 * base64 runs (encoded user-data or keys) are masked.
 */
const RULES: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, '[redacted private key]'],
  [/\b(https?:\/\/)[^\s/@]+@/gi, '$1[redacted]@'],
  [/\b(https?:\/\/[^\s?#]+)\?[^\s#]*/gi, '$1?[redacted]'],
  [/\b(bearer|token|password|secret)([=: ]+)[^\s&'",]+/gi, '$1$2[redacted]'],
  [/\bwhsec_[A-Za-z0-9+/=]+/g, 'whsec_[redacted]'],
];

/** A long base64 run: encoded user-data or a key. */
const BASE64_RUN_RE = /[A-Za-z0-9+/]{64,}={0,2}/g;
/**
 * Hex alone is a digest (an image's sha256, a checksum mismatch's expected and actual): public, and what an
 * operator compares. The service keeps no secret as hex text in job data or messages (keys and webhook
 * secrets are base64, tokens are known by their names), and secrets under a name are masked by the rules above.
 */
const HEX_RE = /^(?:[0-9a-f]+|[0-9A-F]+)$/;

export function redactText(text: string): string {
  let out = text;
  for (const [re, to] of RULES) out = out.replace(re, to);
  return out.replace(BASE64_RUN_RE, (run) => (HEX_RE.test(run) ? run : '[redacted base64]'));
}

/**
 * pino's `redact` option for both apps: values under these keys (at the top of a log line or one
 * level down, e.g. `headers.authorization`, `body.user_data`) are logged as `[redacted]`. Free text
 * goes through `redactText` before it is logged. `token` is left alone on purpose: log lines carry the
 * token's configured *name* there, never its value.
 */
export const LOG_REDACT = {
  paths: [
    'authorization',
    '*.authorization',
    '*.headers.authorization',
    'cookie',
    '*.cookie',
    '*.headers.cookie',
    'user_data',
    '*.user_data',
    'user_data_enc',
    '*.user_data_enc',
    'user_data_key',
    '*.user_data_key',
    'secret',
    '*.secret',
    'webhook_secret',
    '*.webhook_secret',
    'webhook_secret_previous',
    '*.webhook_secret_previous',
    'private_key',
    '*.private_key',
    'privateKey',
    '*.privateKey',
    'ssh_private_key',
    '*.ssh_private_key',
    'password',
    '*.password',
    'api_token',
    '*.api_token',
    'tokens[*].token',
    '*.tokens[*].token',
  ],
  censor: '[redacted]',
};
