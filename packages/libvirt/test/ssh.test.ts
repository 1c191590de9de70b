/**
 * What a host's errors say and what its command observer sees, against a real closed port (no sshd):
 * messages name the host as configured (they reach clients), the address stays in the context (logs).
 */
import { createServer } from 'node:net';
import { utils as sshUtils } from 'ssh2';
import { describe, expect, it } from 'vitest';
import { type CommandObservation, ConnectionError, commandName, SshHost } from '../src/index.ts';

const FP = `SHA256:${'A'.repeat(43)}`;
const KEY = sshUtils.generateKeyPairSync('ed25519').private;

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('SshHost errors and observer', () => {
  it('names the host by its configured name, keeps the address in the context, and reports the command', async () => {
    const port = await closedPort();
    const seen: CommandObservation[] = [];
    const ssh = new SshHost({
      host: '127.0.0.1',
      port,
      username: 'provisioner',
      privateKey: KEY,
      hostKeyFingerprints: [FP],
      name: 'eu-1/node-1',
      onCommand: (c) => seen.push(c),
    });
    const err = await ssh.run(['sh', '-c', 'exit 0', 'list-domains']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).message).toBe('cannot connect to eu-1/node-1 (ECONNREFUSED)');
    expect((err as ConnectionError).context.host).toBe(`provisioner@127.0.0.1:${port}`);
    expect(seen).toEqual([{ command: 'list-domains', seconds: expect.any(Number), outcome: 'error' }]);
    await ssh.close();
  });

  it('defaults the name to the address, and survives an observer that throws', async () => {
    const port = await closedPort();
    const ssh = new SshHost({
      host: '127.0.0.1',
      port,
      username: 'u',
      privateKey: KEY,
      hostKeyFingerprints: [FP],
      onCommand: () => {
        throw new Error('observer bug');
      },
    });
    await expect(ssh.run(['true'])).rejects.toThrow(`cannot connect to u@127.0.0.1:${port} (ECONNREFUSED)`);
    await ssh.close();
  });

  it.each([
    [['sh', '-c', 'script', 'set-tags', 'a'], 'set-tags'],
    [['bash', '-c', 'script', 'ensure-image'], 'ensure-image'],
    [['virsh', '-q', 'domstate', 'x'], 'virsh'],
    [['sh', '-c', 'script'], 'sh'],
    [[], ''],
  ])('commandName(%j) is %j', (argv, name) => {
    expect(commandName(argv)).toBe(name);
  });
});
