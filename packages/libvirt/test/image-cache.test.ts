import { describe, expect, it } from 'vitest';
import { imageCacheArgv } from '../src/commands.ts';
import { InvalidArgumentError, ParseError, parseImageCache } from '../src/index.ts';

const hex = (c: string) => c.repeat(64);

describe('image-cache command', () => {
  it('passes names and options as separate arguments, validated', () => {
    const argv = imageCacheArgv('/srv/images', '/srv/disks', ['v0.76.0', 'debian-12'], { keep: 2, verify: true, prune: false, graceMinutes: 60 });
    expect(argv.slice(0, 2)).toEqual(['bash', '-c']);
    expect(argv.slice(3)).toEqual(['image-cache', '/srv/images', '/srv/disks', '2', '1', '0', '60', 'qemu:///system', 'v0.76.0', 'debian-12']);
    expect(() => imageCacheArgv('/srv/images', '/srv/disks', [], { keep: 1, verify: false, prune: true, graceMinutes: 0 }, 'qemu:///system; reboot')).toThrow(
      InvalidArgumentError,
    );
    expect(() => imageCacheArgv('/srv/images', '/srv/disks', ['$(reboot)'], { keep: 1, verify: true, prune: true, graceMinutes: 0 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => imageCacheArgv('relative', '/srv/disks', [], { keep: 1, verify: true, prune: true, graceMinutes: 0 })).toThrow(InvalidArgumentError);
    expect(() => imageCacheArgv('/srv/images', '/srv/disks', [], { keep: -1, verify: true, prune: true, graceMinutes: 0 })).toThrow(InvalidArgumentError);
  });

  it('parses images and pruned versions, and refuses anything else', () => {
    const out = `image v0.76.0 ${hex('a')} 1048576 ok\nimage debian-12 - 0 -\nimage bad ${hex('b')} 5 corrupt\npruned v0.76.0 ${hex('c')}\n`;
    expect(parseImageCache(out)).toEqual({
      images: [
        { name: 'v0.76.0', sha256: hex('a'), sizeBytes: 1048576, verified: 'ok' },
        { name: 'debian-12', sha256: null, sizeBytes: 0, verified: null },
        { name: 'bad', sha256: hex('b'), sizeBytes: 5, verified: 'corrupt' },
      ],
      pruned: [{ name: 'v0.76.0', sha256: hex('c') }],
      pruneSkipped: [],
    });
    expect(parseImageCache('prune-skipped unreadable disk /srv/disks/a b.qcow2\nimage v0.76.0 - 0 -\n').pruneSkipped).toEqual([
      'unreadable disk /srv/disks/a b.qcow2',
    ]);
    expect(() => parseImageCache('flock: failed\n')).toThrow(ParseError);
  });
});
