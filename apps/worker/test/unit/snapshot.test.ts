/** The worker's own check before a revert (the API checks the inventory first; this one reads the host). */
import { describe, expect, it } from 'vitest';
import { revertRefusal } from '../../src/processors/snapshot.ts';

const now = { instanceType: 'small', vcpus: 2, memoryMiB: 1024 };

describe('revertRefusal', () => {
  it('allows a snapshot saved with the VM’s current instance type and sizes', () => {
    expect(revertRefusal({ name: 's', instanceType: 'small', vcpus: 2, memoryMiB: 1024 }, now)).toBeNull();
  });

  it('refuses one from before a resize (another type), saying it would shrink the VM', () => {
    expect(revertRefusal({ name: 's', instanceType: 'tiny', vcpus: 1, memoryMiB: 512 }, now)).toMatch(/instance type tiny, the VM is now small.*shrink/);
  });

  it('refuses one whose saved sizes differ even under the same type name (a type redefined, a VM changed by hand)', () => {
    expect(revertRefusal({ name: 's', instanceType: 'small', vcpus: 1, memoryMiB: 1024 }, now)).toMatch(/1 vCPUs and 1024 MiB.*2 and 1024/);
  });
});
