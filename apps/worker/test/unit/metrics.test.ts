/**
 * The worker's metrics without a host: job outcomes as BullMQ reports them, step and delivery
 * counters, and per-host SSH series read from real (unconnected) Hypervisor pools; the exposition
 * parses with an independent parser. And the log redaction both apps configure.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { ConfigSchema, encodeJobError, LOG_REDACT } from '@provisioner/contracts';
import { Hypervisor } from '@provisioner/libvirt';
import type { Job } from 'bullmq';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseMetrics, sample } from '../../../../test/support/prom.ts';
import { jobOutcome, metricsAccess, WorkerMetrics } from '../../src/metrics.ts';

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
    m.deliveryAttempted('delivered', 'whk_0123');
    m.deliveryAttempted('retrying', null);
    const p = parseMetrics((await m.scrape()).body);
    expect(sample(p, 'provisioner_worker_step_duration_seconds', { kind: 'create', step: 'define', outcome: 'succeeded' })).toBe(2);
    expect(sample(p, 'provisioner_worker_step_duration_seconds', { kind: 'create', step: 'start', outcome: 'failed' })).toBe(1);
    expect(sample(p, 'provisioner_webhook_deliveries_total', { outcome: 'delivered' })).toBe(1);
    expect(sample(p, 'provisioner_webhook_deliveries_total', { outcome: 'retrying' })).toBe(1);
    // By endpoint id (never its URL); jobs' own URLs under one label.
    expect(sample(p, 'provisioner_webhook_endpoint_deliveries_total', { endpoint: 'whk_0123', outcome: 'delivered' })).toBe(1);
    expect(sample(p, 'provisioner_webhook_endpoint_deliveries_total', { endpoint: 'webhook_url', outcome: 'retrying' })).toBe(1);
    expect(p.samples.some((f) => f.name === 'provisioner_ssh_connected' && f.metrics.some((s) => s.labels?.host === 'r1/h1' && s.value === '0'))).toBe(true);
    expect(sample(p, 'provisioner_ssh_channels_total', { host: 'r1/h1' })).toBe(0);
  });
});

describe('job duration by host and SSH command latency', () => {
  it('labels job durations with the host, and SSH commands by host and a bounded command', async () => {
    const m = new WorkerMetrics(new Map([['r1/h1', hv()]]));
    const job = { data: { kind: 'start' }, name: 'start', processedOn: Date.now() - 1500, finishedOn: Date.now(), failedReason: '' } as unknown as Job;
    m.jobEnded('r1/h1', job, true);
    m.sshCommandEnded('r1/h1', { command: 'set-tags', seconds: 0.2, outcome: 'ok' });
    m.sshCommandEnded('r1/h1', { command: 'list-domains', seconds: 0.02, outcome: 'failed' });
    // Every script the library builds has its own series (rebuild's swap and the snapshot scripts were `other`).
    m.sshCommandEnded('r1/h1', { command: 'rebuild-swap', seconds: 3, outcome: 'ok' });
    m.sshCommandEnded('r1/h1', { command: 'snapshot-create', seconds: 1, outcome: 'ok' });
    // Whatever else runs (a name from a hostile argv, a new script) shares one series.
    m.sshCommandEnded('r1/h1', { command: '$(id)', seconds: 1, outcome: 'error' });
    m.sshCommandEnded('r1/h1', { command: 'true', seconds: 1, outcome: 'error' });
    const p = parseMetrics((await m.scrape()).body);
    expect(sample(p, 'provisioner_worker_job_duration_seconds', { host: 'r1/h1', kind: 'start', outcome: 'succeeded' })).toBe(1);
    expect(sample(p, 'provisioner_ssh_command_duration_seconds', { host: 'r1/h1', command: 'set-tags', outcome: 'ok' })).toBe(1);
    expect(sample(p, 'provisioner_ssh_command_duration_seconds', { host: 'r1/h1', command: 'list-domains', outcome: 'failed' })).toBe(1);
    expect(sample(p, 'provisioner_ssh_command_duration_seconds', { host: 'r1/h1', command: 'other', outcome: 'error' })).toBe(2);
    const commands = new Set(
      p.samples.flatMap((f) => (f.name === 'provisioner_ssh_command_duration_seconds_count' ? f.metrics.map((x) => x.labels?.command) : [])),
    );
    expect([...commands].sort()).toEqual(['list-domains', 'other', 'rebuild-swap', 'set-tags', 'snapshot-create']);
  });
});

describe('metricsAccess', () => {
  const tokens = { read: randomBytes(16).toString('hex'), write: randomBytes(16).toString('hex'), owned: randomBytes(16).toString('hex') };
  const config = ConfigSchema.parse({
    user_data_key: randomBytes(32).toString('base64'),
    tokens: [
      { name: 'prom', token: tokens.read, scopes: ['read'] },
      { name: 'bot', token: tokens.write, scopes: ['write'] },
      { name: 'alice', token: tokens.owned, scopes: ['read'], owner: 'alice' },
    ],
    regions: [
      {
        region_name: 'r1',
        hosts: [{ name: 'h1', address: '127.0.0.1', private_key_path: '/nonexistent', host_key_fingerprint: FP }],
        available_instance_types: [{ instance_type: 'tiny', vcpus: 1, memory_mb: 64, storage_mb: 64 }],
      },
    ],
  });
  it.each([
    [undefined, 401],
    ['', 401],
    [`Bearer ${'x'.repeat(32)}`, 401],
    [`Bearer ${tokens.read}`, 200],
    [tokens.read, 200],
    [`Bearer ${tokens.write}`, 403],
    [`Bearer ${tokens.owned}`, 403],
  ])('%j → %i', (header, status) => {
    expect(metricsAccess(config, header)).toBe(status);
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
