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

  it('leaves ordinary messages alone', () => {
    const msg = "command 'sh' failed on provisioner@127.0.0.1:2222 with exit code 1: domain 'web-1' not found";
    expect(redactText(msg)).toBe(msg);
  });
});
