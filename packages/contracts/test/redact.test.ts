import { describe, expect, it } from 'vitest';
import { redactText } from '../src/redact.ts';

describe('redactText', () => {
  it.each([
    ['curl: (22) http://user:hunter2@images.example/a.qcow2 returned 401', 'hunter2'],
    ['fetching https://cdn.example/img.qcow2?X-Amz-Signature=abcdef123&X-Amz-Credential=AKIA', 'X-Amz-Signature'],
    ['Authorization: Bearer s3cr3t-token-value', 's3cr3t-token-value'],
    ['token=abcd1234efgh', 'abcd1234efgh'],
    ['secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    ['key -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY----- end', 'b3BlbnNzaC1rZXktdjEAAAAA'],
    [`user_data ${Buffer.from('#cloud-config\npassword: x\n'.repeat(8)).toString('base64')}`, 'I2Nsb3VkLWNvbmZpZw'],
  ])('masks %j', (text, secret) => {
    const out = redactText(text);
    expect(out).not.toContain(secret);
    expect(out).toContain('redacted');
  });

  it('leaves digests alone: an image’s sha256 is public, and what an operator compares', () => {
    const sum = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    const msg = `image checksum mismatch: expected sha256 ${sum}, got ${sum.toUpperCase()}`;
    expect(redactText(msg)).toBe(msg);
    expect(redactText(sum.repeat(2))).toBe(sum.repeat(2));
    // A base64 run that merely starts with hex digits is still one.
    expect(redactText(`${sum}QUJD+/xyz`)).toBe('[redacted base64]');
  });

  it('leaves ordinary messages alone', () => {
    const msg = "command 'sh' failed on provisioner@127.0.0.1:2222 with exit code 1: domain 'web-1' not found";
    expect(redactText(msg)).toBe(msg);
  });
});
