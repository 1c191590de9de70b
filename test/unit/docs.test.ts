/**
 * The repository explains itself (docs/architecture.md, conventions): no file cites a document outside it,
 * and every relative link in its markdown leads to a file, and a heading, that exists.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Tracked files and new ones not ignored (so a file about to be committed is checked too). */
const files = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
  .stdout.split('\n')
  .filter((f) => f && existsSync(join(root, f)) && statSync(join(root, f)).isFile());
const text = (f: string) => readFileSync(join(root, f), 'utf8');
const isText = (f: string) => !/\.(qcow2|img|png|jpe?g|gif|ico|gz|zip|tar|woff2?)$/.test(f) && !text(f).includes('\0');

// Documents that lived beside the repository, not in it (spelt in pieces so this file does not cite them).
const OUTSIDE = [['..', 'shared'].join('/'), ['/work', 'shared'].join('/'), ['ARCHITECTURE', 'md'].join('.'), ['LEGACY_API', 'md'].join('.')];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = (m[1] ?? '')
      .replace(/`/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

describe('the repository cites only itself', () => {
  it('no file names a document outside the repository', () => {
    expect(files.length).toBeGreaterThan(50);
    const found = files
      .filter((f) => f !== 'test/unit/docs.test.ts' && isText(f))
      .flatMap((f) =>
        text(f)
          .split('\n')
          .flatMap((line, i) => (OUTSIDE.some((o) => line.includes(o)) ? [`${f}:${i + 1}: ${line.trim().slice(0, 120)}`] : [])),
      );
    expect(found).toEqual([]);
  });

  it('the documents it cites instead exist', () => {
    for (const d of ['docs/architecture.md', 'docs/legacy-api.md']) expect(files).toContain(d);
  });

  it('every relative link in its markdown resolves, to a heading that exists when it names one', () => {
    const markdown = files.filter((f) => f.endsWith('.md'));
    expect(markdown).toEqual(expect.arrayContaining(['README.md', 'docs/architecture.md', 'docs/legacy-api.md']));
    const broken: string[] = [];
    for (const f of markdown) {
      const body = text(f).replace(/^```[\s\S]*?^```/gm, '');
      for (const m of body.matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1] ?? '';
        if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // http:, https:, mailto:
        const [path = '', anchor] = link.split('#');
        const target = path ? join(dirname(f), decodeURIComponent(path)) : f;
        if (!existsSync(join(root, target))) {
          broken.push(`${f}: ${link} (no ${target})`);
          continue;
        }
        if (anchor && target.endsWith('.md') && !anchors(text(target)).has(anchor)) broken.push(`${f}: ${link} (no heading #${anchor} in ${target})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('finds what it looks for: a broken link and a missing heading are caught', () => {
    expect(anchors('# Quick start (fresh Debian/Ubuntu machine, as root)\n## `provisioner` CLI\n## Notes\n## Notes')).toEqual(
      new Set(['quick-start-fresh-debianubuntu-machine-as-root', 'provisioner-cli', 'notes', 'notes-1']),
    );
    expect(anchors(text('README.md')).has('many-api-and-worker-processes-redis-sentinel-and-cluster')).toBe(true);
  });
});
