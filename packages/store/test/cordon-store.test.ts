/** CordonStore against the machine's Redis. */
import { describe, expect, it } from 'vitest';
import { CordonStore } from '../src/cordon-store.ts';
import { keys } from '../src/keys.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('cordon');

describe('CordonStore', () => {
  it('records who cordoned a host, when and why, with no expiry, and forgets it on uncordon', async () => {
    const s = new CordonStore(env.redis, env.prefix);
    const at = new Date('2030-01-02T03:04:05.000Z');
    expect(await s.cordon('r1', 'h1', 'ops-alice', 'disk swap', at)).toEqual({ cordoned_by: 'ops-alice', cordoned_at: at.toISOString(), reason: 'disk swap' });
    const key = keys.hostCordon(env.prefix, 'r1', 'h1');
    expect(await env.redis.ttl(key)).toBe(-1);
    // Another store (another API process, or this one restarted) reads the same record.
    const other = new CordonStore(env.connect(), env.prefix);
    expect(await other.get('r1', 'h1')).toEqual({ cordoned_by: 'ops-alice', cordoned_at: at.toISOString(), reason: 'disk swap' });
    expect(
      await other.many([
        { region: 'r1', host: 'h1' },
        { region: 'r1', host: 'h2' },
      ]),
    ).toEqual([{ cordoned_by: 'ops-alice', cordoned_at: at.toISOString(), reason: 'disk swap' }, null]);
    expect(await s.uncordon('r1', 'h1')).toBe(true);
    expect(await s.uncordon('r1', 'h1')).toBe(false);
    expect(await env.redis.exists(key)).toBe(0);
    expect(await s.get('r1', 'h1')).toBeNull();
    expect(await s.many([])).toEqual([]);
  });

  it('a cordon again records the last who, when and reason', async () => {
    const s = new CordonStore(env.redis, env.prefix);
    await s.cordon('r1', 'h3', 'a', 'first', new Date(1000));
    expect(await s.cordon('r1', 'h3', 'b', null, new Date(2000))).toEqual({ cordoned_by: 'b', cordoned_at: new Date(2000).toISOString(), reason: null });
    expect(await s.get('r1', 'h3')).toMatchObject({ cordoned_by: 'b', reason: null });
  });

  it('an unreadable record still cordons the host', async () => {
    const s = new CordonStore(env.redis, env.prefix);
    await env.redis.set(keys.hostCordon(env.prefix, 'r1', 'h4'), '{not json');
    expect(await s.get('r1', 'h4')).toMatchObject({ cordoned_by: 'unknown', reason: 'unreadable cordon record' });
  });
});
