/**
 * The repository explains itself (docs/architecture.md, conventions): no file cites a document outside it,
 * and every relative link in its markdown leads to a file, and a heading, that exists. README.md is a short
 * guide; the reference in docs/ is checked against what it describes: docs/cli.md against the CLI's own
 * help, docs/configuration.md against the configuration's JSON Schema.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JOB_ERROR_CODES } from '@provisioner/contracts';
import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../apps/api/src/routes/index.ts';
import { main } from '../../apps/cli/src/main.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Tracked files and new ones not ignored (so a file about to be committed is checked too). */
const files = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
  .stdout.split('\n')
  .filter((f) => f && existsSync(join(root, f)) && statSync(join(root, f)).isFile());
const text = (f: string) => readFileSync(join(root, f), 'utf8');
const isText = (f: string) => !/\.(qcow2|img|png|jpe?g|gif|ico|gz|zip|tar|woff2?)$/.test(f) && !text(f).includes('\0');

/** The reference the README sends its readers to. */
const REFERENCE = [
  'docs/api.md',
  'docs/cli.md',
  'docs/configuration.md',
  'docs/operations.md',
  'docs/webhooks.md',
  'docs/security.md',
  'docs/architecture.md',
  'docs/metrics.md',
  'docs/testing.md',
  'docs/legacy-api.md',
];

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
    for (const d of ['docs/architecture.md', 'docs/legacy-api.md', ...REFERENCE]) expect(files).toContain(d);
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
    expect(anchors(text('docs/operations.md')).has('many-api-and-worker-processes-redis-sentinel-and-cluster')).toBe(true);
    expect(anchors(text('docs/operations.md')).has('no-such-heading')).toBe(false);
  });
});

/** The part of `markdown` under the heading `title` (any level), up to the next heading of that level or above. */
function section(markdown: string, title: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^#{1,6} /.test(l) && l.replace(/^#+ /, '') === title);
  if (start < 0) return '';
  const level = /^#+/.exec(lines[start] ?? '')?.[0].length ?? 1;
  const end = lines.findIndex((l, i) => i > start && new RegExp(`^#{1,${level}} `).test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

describe('README.md is a guide a newcomer can start from', () => {
  const readme = text('README.md');

  it('is at most 250 lines', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
  });

  it('shows the page, and sends its readers to every reference document', () => {
    const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '');
    expect(images).toContain('docs/img/ui-vm.png');
    for (const d of REFERENCE) expect(readme, d).toContain(`](${d})`);
  });

  it('keeps the two-command quick start true: the script and the npm script it names exist', () => {
    const quick = section(readme, 'Quick start (fresh Debian/Ubuntu machine, as root)');
    const block = /```sh\n([\s\S]*?)```/.exec(quick)?.[1] ?? '';
    const commands = block
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean);
    expect(commands).toEqual(['bash scripts/run-local.sh', 'npm test']);
    expect(files).toContain('scripts/run-local.sh');
    const pkg = JSON.parse(text('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.test).toBeTruthy();
  });

  it('first VM three ways, with names the local set-up has (scripts/local-config.mjs)', async () => {
    const first = section(readme, 'Your first VM');
    for (const way of ['With the CLI', 'On the page', 'With curl']) expect(section(readme, way), way).not.toBe('');
    const sent = JSON.parse(/-d '(\{"vm_name".*?\})'/.exec(first)?.[1] ?? '{}') as Record<string, string>;
    const local = text('scripts/local-config.mjs');
    expect(local).toContain(`region_name: ${sent.region_name}`);
    expect(local).toContain(`instance_type: ${sent.instance_type}`);
    expect(local).toMatch(new RegExp(`^ {2}${sent.image}: `, 'm'));
    // Every CLI command the guide runs is one the CLI has.
    const used = [...first.matchAll(/provisioner ([a-z]+)/g)].map((m) => m[1] ?? '');
    expect(used.length).toBeGreaterThan(2);
    const { commands } = await cliHelp();
    for (const c of used) expect(commands, c).toContain(c);
  });

  it('explains the concepts, a paragraph each', () => {
    const concepts = section(readme, 'Concepts');
    for (const c of ['Jobs and their events.', 'Webhooks.', 'Regions and hosts.']) expect(concepts).toContain(`**${c}**`);
  });
});

/** Runs the CLI in-process and returns its exit code and stdout. */
async function cli(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const sink = {
    write: (s: string) => {
      out += s;
      return true;
    },
  };
  const code = await main(argv, { env: {}, stdout: sink, stderr: { write: () => true } });
  return { code, out };
}

/**
 * The commands and sub-commands `provisioner --help` lists: the first word of each line of its Commands
 * list, and the `a|b|c` word after it in each alternative (`jobs get|cancel JOB_ID | jobs list …`).
 */
function helpCommands(help: string): { commands: string[]; subs: Record<string, string[]> } {
  const list = /\nCommands:\n([\s\S]*?)\n\n/.exec(help)?.[1] ?? '';
  const commands: string[] = [];
  const subs: Record<string, string[]> = {};
  for (const line of list.split('\n')) {
    const synopsis = line.trim().split(/\s{2,}/)[0] ?? '';
    const cmd = synopsis.split(' ')[0] ?? '';
    if (!cmd) continue;
    commands.push(cmd);
    for (const alt of synopsis.split(' | ')) {
      const [first, second = ''] = alt.trim().split(' ');
      if (first === cmd && /^[a-z-]+(\|[a-z-]+)*$/.test(second)) subs[cmd] = [...(subs[cmd] ?? []), ...second.split('|')];
    }
  }
  return { commands, subs };
}

/** The commands documented in docs/cli.md: `### \`cmd\`` headings, each with its `Sub-commands:` line. */
function documentedCommands(markdown: string): { commands: string[]; subs: Record<string, string[]> } {
  const commands: string[] = [];
  const subs: Record<string, string[]> = {};
  for (const m of markdown.matchAll(/^### `([a-z-]+)`$/gm)) {
    const cmd = m[1] ?? '';
    commands.push(cmd);
    const line = /^Sub-commands: (.*)$/m.exec(section(markdown, `\`${cmd}\``))?.[1];
    if (line) subs[cmd] = [...line.matchAll(/`([a-z-]+)`/g)].map((s) => s[1] ?? '');
  }
  return { commands, subs };
}

async function cliHelp() {
  const { code, out } = await cli(['--help']);
  expect(code).toBe(0);
  return helpCommands(out);
}

const sorted = (r: Record<string, string[]>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, [...v].sort()]));

describe('docs/cli.md documents the CLI as its help describes it', () => {
  const doc = text('docs/cli.md');

  it('every command and sub-command the CLI has is documented, and every one documented exists', async () => {
    const help = await cliHelp();
    const documented = documentedCommands(doc);
    expect(help.commands.length).toBeGreaterThanOrEqual(20);
    expect([...documented.commands].sort()).toEqual([...help.commands].sort());
    expect(sorted(documented.subs)).toEqual(sorted(help.subs));
    // Each documented command answers its own --help (an unknown one would be a usage error).
    for (const c of documented.commands) {
      const { code, out } = await cli([c, '--help']);
      expect(code, c).toBe(0);
      expect(out, c).toContain(`provisioner ${c}`);
    }
  });

  it("every option a command's --help lists is documented under that command", async () => {
    const missing: string[] = [];
    for (const c of documentedCommands(doc).commands) {
      const own = (await cli([c, '--help'])).out.split('\nCommon options:')[0] ?? '';
      const part = section(doc, `\`${c}\``);
      for (const m of own.matchAll(/^ {2}(--[a-z-]+)/gm)) if (!part.includes(`\`${m[1]}`)) missing.push(`${c} ${m[1]}`);
    }
    expect(missing).toEqual([]);
  });

  it('finds what it looks for: a command or sub-command the help lists and the docs lack is caught', () => {
    const help = helpCommands(
      'Usage: x\n\nCommands:\n  get NAME --region R        show one VM\n  jobs get|cancel JOB_ID | jobs list [--state S]   show jobs\n  retag NAME (--tag k=v | --clear)   tags\n\nOptions:',
    );
    expect(help).toEqual({ commands: ['get', 'jobs', 'retag'], subs: { jobs: ['get', 'cancel', 'list'] } });
    const documented = documentedCommands('## Commands\n\n### `get`\n\ntext\n\n### `jobs`\n\nSub-commands: `get`, `list`.\n');
    expect(documented).toEqual({ commands: ['get', 'jobs'], subs: { jobs: ['get', 'list'] } });
    expect(sorted(documented.subs)).not.toEqual(sorted(help.subs));
  });
});

interface JsonSchema {
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  default?: unknown;
}

/** Every key of a JSON Schema, nested too, as `a.b`, `list[].c` and `map.*.d`, with its default. */
function schemaKeys(schema: JsonSchema, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const walk = (s: JsonSchema, p: string) => {
    for (const alt of [...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])]) walk(alt, p);
    for (const [k, v] of Object.entries(s.properties ?? {})) {
      out.set(p + k, v.default);
      walk(v, `${p + k}.`);
    }
    if (s.items && typeof s.items === 'object') walk(s.items, p ? `${p.slice(0, -1)}[].` : '[].');
    if (s.additionalProperties && typeof s.additionalProperties === 'object') walk(s.additionalProperties, p ? `${p.slice(0, -1)}.*.` : '*.');
  };
  walk(schema, prefix);
  return out;
}

/** The rows of the table under `## Every key`: key → documented default ('' when none). */
function documentedKeys(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of section(markdown, 'Every key').split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    const key = /^`([^`]+)`$/.exec(cells[1] ?? '')?.[1];
    if (key) out.set(key, /^`([^`]*)`$/.exec(cells[2] ?? '')?.[1] ?? '');
  }
  return out;
}

describe('docs/configuration.md documents every key of the configuration', () => {
  const schema = JSON.parse(text('docs/config.schema.json')) as JsonSchema;
  const keys = schemaKeys(schema);
  const documented = documentedKeys(text('docs/configuration.md'));

  it('every key of docs/config.schema.json is documented, and every key documented is in it', () => {
    expect(keys.size).toBeGreaterThan(100);
    expect([...documented.keys()].sort()).toEqual([...keys.keys()].sort());
  });

  it('states the defaults the schema has', () => {
    const wrong: string[] = [];
    for (const [k, d] of keys) {
      const shown = documented.get(k) ?? '';
      const want = d === undefined ? '' : typeof d === 'object' ? JSON.stringify(d) : String(d);
      // Objects whose every key has its own default are shown without one (`{}` says nothing there).
      if (shown !== want && !(shown === '' && want === '{}')) wrong.push(`${k}: documented ${shown || 'none'}, schema ${want || 'none'}`);
    }
    expect(wrong).toEqual([]);
  });

  it('lists every environment variable the configuration reads', () => {
    const source = text('packages/contracts/src/config/env.ts');
    const read = new Set([...source.matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g), ...source.matchAll(/\['([A-Z][A-Z0-9_]+)', '/g)].map((m) => m[1] ?? ''));
    expect(read.size).toBeGreaterThan(15);
    const listed = section(text('docs/configuration.md'), 'Environment variables');
    expect([...read].filter((v) => !listed.includes(`\`${v}\``))).toEqual([]);
  });

  it('finds what it looks for: nested, list and map keys, and a key the schema lacks', () => {
    const s: JsonSchema = {
      properties: {
        a: { default: 1 },
        l: { items: { properties: { b: {} } } },
        m: { additionalProperties: { properties: { c: { anyOf: [{ properties: { d: {} } }] } } } },
      },
    };
    expect([...schemaKeys(s).keys()]).toEqual(['a', 'l', 'l[].b', 'm', 'm.*.c', 'm.*.c.d']);
    const doc = documentedKeys('## Every key\n\n| key | default | what |\n| - | - | - |\n| `a` | `1` | x |\n| `zz` | | y |\n');
    expect([...doc]).toEqual([
      ['a', '1'],
      ['zz', ''],
    ]);
  });
});

describe('docs/api.md lists every route the API serves', () => {
  const served = ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`);
  /** `METHOD /path` code spans in the first column of a markdown table. */
  const tableRoutes = (markdown: string) =>
    markdown
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .flatMap((l) => [...(l.split('|')[1] ?? '').matchAll(/`((?:GET|POST|PUT|DELETE|PATCH) \/[^`\s]*)`/g)].map((m) => m[1] ?? ''));

  it('every route is written out in docs/api.md, docs/webhooks.md or docs/legacy-api.md, and every one written there exists', () => {
    expect(served.length).toBeGreaterThan(30);
    const documented = ['docs/api.md', 'docs/webhooks.md', 'docs/legacy-api.md'].flatMap((f) => tableRoutes(text(f)));
    expect(served.filter((r) => !documented.includes(r))).toEqual([]);
    expect(tableRoutes(text('docs/api.md')).filter((r) => !served.includes(r))).toEqual([]);
  });

  it("names every code a job's error can carry", () => {
    const api = text('docs/api.md');
    expect(JOB_ERROR_CODES.filter((c) => !api.includes(`\`${c}\``))).toEqual([]);
  });

  it('finds what it looks for: routes in the first column only, query and body left aside', () => {
    expect(tableRoutes('| `GET /v1/vms` `?x` | read | see `GET /v1/jobs` |\n| `GET /health` · `GET /ready` | open | x |')).toEqual([
      'GET /v1/vms',
      'GET /health',
      'GET /ready',
    ]);
  });
});
