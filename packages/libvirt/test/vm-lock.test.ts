import { describe, expect, it } from 'vitest';
import { shutdownArgv, vmLockedArgv } from '../src/commands.ts';
import { commandName, InvalidArgumentError } from '../src/index.ts';

describe('vmLockedArgv', () => {
  const inner = shutdownArgv('qemu:///system', 'vm-1', 5000);

  it('runs the command as positional arguments of the lock script, the wait in seconds', () => {
    const argv = vmLockedArgv('/var/lib/provisioner/disks/.locks/vm-1.lock', 60_000, inner);
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(3, 6)).toEqual(['vm-lock', '/var/lib/provisioner/disks/.locks/vm-1.lock', '60.000']);
    expect(argv.slice(6)).toEqual(inner);
  });

  it('keeps the metric label of what it runs', () => {
    expect(commandName(vmLockedArgv('/d/.locks/vm-1.lock', 1000, inner))).toBe('shutdown');
    expect(commandName(vmLockedArgv('/d/.locks/vm-1.lock', 1000, ['virsh', 'start', 'x']))).toBe('virsh');
  });

  it('refuses a relative lock path, a wait that is not a positive whole number of ms, and nothing to run', () => {
    expect(() => vmLockedArgv('d/.locks/x.lock', 1000, inner)).toThrow(InvalidArgumentError);
    expect(() => vmLockedArgv('/d/../x.lock', 1000, inner)).toThrow(InvalidArgumentError);
    expect(() => vmLockedArgv('/d/x.lock', 0, inner)).toThrow(InvalidArgumentError);
    expect(() => vmLockedArgv('/d/x.lock', 1.5, inner)).toThrow(InvalidArgumentError);
    expect(() => vmLockedArgv('/d/x.lock', 1000, [])).toThrow(InvalidArgumentError);
  });
});
