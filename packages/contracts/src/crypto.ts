/**
 * Cloud-init user-data may hold secrets: it is stored with the job only as AES-256-GCM ciphertext
 * (so retries and resumes still have it) and disappears with the job.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export function encryptUserData(plain: string, keyBase64: string, jobId: string): string {
  const key = Buffer.from(keyBase64, 'base64');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(jobId));
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return `v1.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
}

/** Throws when the key is wrong, the data was tampered with, or it belongs to another job. */
export function decryptUserData(sealed: string, keyBase64: string, jobId: string): string {
  if (!sealed.startsWith('v1.')) throw new Error('unknown user-data encoding');
  const raw = Buffer.from(sealed.slice(3), 'base64');
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(keyBase64, 'base64'), raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(jobId));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}
