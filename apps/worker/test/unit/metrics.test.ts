/**
 * The worker's metrics without a host: job outcomes as BullMQ reports them, step and delivery
 * counters, and per-host SSH series read from real (unconnected) Hypervisor pools; the exposition
 * parses with an independent parser. And the log redaction both apps configure.
 */
import { Writable } from 'node:stream';
import { encodeJobError, LOG_REDACT } from '@provisioner/contracts';
import { Hypervisor } from '@provisioner/libvirt';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseMetrics, sample } from '../../../../test/support/prom.ts';
import { jobOutcome, WorkerMetrics } from '../../src/metrics.ts';

const FP = `SHA256:${'A'.repeat(43)}`;
const hv = () =>
  new Hypervisor({
    ssh: { host: '127.0.0.1', port: 1, username: 'u', privateKey: 'unused', hostKeyFingerprints: [FP] },
    imagesDir: '/i',
    disksDir: '/d',
  });

describe('jobOutcome', () => {
  it('tells succeeded, retried, failed and canceled apart', () => {
    expect(jobOutcome({ finishedOn: 1, failedReason: '' }, true)).toBe('succeeded');
    expect(jobOutcome({ finishedOn: undefined, failedReason: 'x' }, false)).toBe('retried');
    expect(jobOutcome({ finishedOn: 1, failedReason: encodeJobError({ code: 'DOWNLOAD_FAILED', message: 'm', retryable: false }) }, false)).toBe('failed');
    expect(jobOutcome({ finishedOn: 1, failedReason: encodeJobError({ code: 'CANCELED', message: 'm', retryable: false }) }, false)).toBe('canceled');
  });
});

describe('WorkerMetrics', () => {
  it('exposes steps, deliveries and per-host SSH series as parseable Prometheus text', async () => {
    const m = new WorkerMetrics(new Map([['r1/h1', hv()]]));
    m.stepEnded('create', 'define', 0.02, true);
    m.stepEnded('create', 'define', 0.03, true);
    m.stepEnded('create', 'start', 1.5, false);
    m.deliveryAttempted('delivered');
    m.deliveryAttempted('retrying');
    const p = parseMetrics((await m.scrape()).body);
    expect(sample(p, 'provisioner_worker_step_duration_seconds', { kind: 'create', step: 'define', outcome: 'succeeded' })).toBe(2);
    expect(sample(p, 'provisioner_worker_step_duration_seconds', { kind: 'create', step: 'start', outcome: 'failed' })).toBe(1);
    expect(sample(p, 'provisioner_webhook_deliveries_total', { outcome: 'delivered' })).toBe(1);
    expect(sample(p, 'provisioner_webhook_deliveries_total', { outcome: 'retrying' })).toBe(1);
    expect(p.samples.some((f) => f.name === 'provisioner_ssh_connected' && f.metrics.some((s) => s.labels?.host === 'r1/h1' && s.value === '0'))).toBe(true);
    expect(sample(p, 'provisioner_ssh_channels_total', { host: 'r1/h1' })).toBe(0);
  });
});

describe('LOG_REDACT', () => {
  it('masks credentials, user-data and keys at the top level and one level down, and keeps token names', () => {
    const lines: string[] = [];
    const log = pino({ redact: LOG_REDACT }, new Writable({ write: (c, _e, cb) => cb(void lines.push(String(c))) }));
    log.info({
      token: 'chat-bot',
      authorization: 'Bearer s3cr3t-top',
      headers: { authorization: 'Bearer s3cr3t-header', cookie: 'prov_session=s3cr3t-cookie' },
      body: { user_data: 's3cr3t-ud', webhook_secret: 'whsec_s3cr3t' },
      host: { private_key: '-----BEGIN OPENSSH PRIVATE KEY----- s3cr3t' },
      config: { tokens: [{ name: 'a', token: 's3cr3t-token' }] },
    });
    const out = lines.join('');
    expect(out).not.toContain('s3cr3t');
    expect(out).toContain('"token":"chat-bot"');
    expect(out).toContain('[redacted]');
  });
});
