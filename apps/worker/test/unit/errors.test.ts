import { JOB_ERROR_CODES } from '@provisioner/contracts';
import { CommandFailedError, DomainNotFoundError, LIBVIRT_ERROR_CODES, LibvirtError } from '@provisioner/libvirt';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LIBVIRT_TO_JOB_CODE, toJobError, WorkerError } from '../../src/errors.ts';

describe('toJobError', () => {
  it('maps every library code to a job code, unchanged', () => {
    expect(Object.keys(LIBVIRT_TO_JOB_CODE).sort()).toEqual([...LIBVIRT_ERROR_CODES].sort());
    for (const code of LIBVIRT_ERROR_CODES) {
      expect(JOB_ERROR_CODES).toContain(LIBVIRT_TO_JOB_CODE[code]);
      expect(toJobError(new LibvirtError(code, `m ${code}`, false))).toEqual({ code, message: `m ${code}`, retryable: false });
    }
  });

  it("keeps the library error's message and retryability", () => {
    expect(toJobError(new DomainNotFoundError('vm1'))).toEqual({ code: 'DOMAIN_NOT_FOUND', message: "domain 'vm1' does not exist", retryable: false });
    expect(toJobError(new CommandFailedError('virsh failed', {}))).toEqual({ code: 'COMMAND_FAILED', message: 'virsh failed', retryable: true });
  });

  it('a payload outside the catalog is INVALID_PAYLOAD, a worker error keeps its code, anything else is INTERNAL and says nothing', () => {
    const zod = z.object({ a: z.string() }).safeParse({});
    expect(zod.success).toBe(false);
    expect(toJobError(zod.error).code).toBe('INVALID_PAYLOAD');
    expect(toJobError(new WorkerError('CANCELED', 'canceled by x', false))).toEqual({ code: 'CANCELED', message: 'canceled by x', retryable: false });
    expect(toJobError(new Error('secret path /root/x'))).toEqual({ code: 'INTERNAL', message: 'internal error in the worker', retryable: true });
  });
});
