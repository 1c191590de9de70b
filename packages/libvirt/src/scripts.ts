/**
 * The host scripts: one `.sh` file each in `./sh/`, named after the command (its `$0`), read once when
 * this module loads (as the store reads its Lua scripts) and run as `sh -c SCRIPT NAME ARG…` (`bash` for a
 * `#!/bin/bash` file). A `. ./lib.sh` or `. ./guests.sh` line pulls in shared functions: it is replaced here
 * by that file's text, since the host has no copy of it. Values reach a script only as positional
 * arguments, never in its text; each file's header names its arguments. `shellcheck` checks the files
 * (packages/libvirt/test/scripts.test.ts).
 *
 * The bundles (`npm run build`) carry the files in `dist/sh/` beside `main.js`: the same `./sh/` path.
 */
import { readFileSync } from 'node:fs';

const DIR = new URL('./sh/', import.meta.url);

/** Every script, by file name (`NAME.sh`); the files of shared functions are not scripts. */
export const SCRIPT_NAMES = [
  'probe',
  'host-info',
  'list-domains',
  'vm-lock',
  'disk-info',
  'ensure-image',
  'image-cache',
  'create-vm',
  'create-disk',
  'create-seed',
  'define',
  'start',
  'shutdown',
  'power-off',
  'undefine',
  'resize',
  'snapshots',
  'snapshot-create',
  'snapshot-revert',
  'snapshot-delete',
  'set-tags',
  'guest-status',
  'guest-ready',
  'console-tail',
  'rebuild-swap',
  'rebuild-snapshots',
  'rebuild-clean',
  'remove-old-files',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

/** The files of shared functions a script may pull in. */
export const SHELL_LIBS = ['lib.sh', 'guests.sh'] as const;

interface Script {
  shell: 'sh' | 'bash';
  text: string;
}

const read = (file: string) => readFileSync(new URL(file, DIR), 'utf8');
const INCLUDE = /^[ \t]*\. \.\/([a-z-]+\.sh)[ \t]*$/gm;

/** The text of `file` with its `. ./LIB` lines replaced by the libraries' text. */
export function loadScript(file: string): Script {
  const raw = read(file);
  const text = raw.replace(INCLUDE, (_, lib: string) => {
    if (!(SHELL_LIBS as readonly string[]).includes(lib)) throw new Error(`libvirt: ${file} includes ${lib}, which is not a shell library`);
    return read(lib).trimEnd();
  });
  const shebang = /^#!\/bin\/(sh|bash)\n/.exec(raw);
  if (!shebang) throw new Error(`libvirt: ${file} must start with #!/bin/sh or #!/bin/bash`);
  return { shell: shebang[1] as Script['shell'], text };
}

const SCRIPTS = new Map<ScriptName, Script>(SCRIPT_NAMES.map((n) => [n, loadScript(`${n}.sh`)]));

/** `[shell, '-c', SCRIPT, name, ...args]`: script `name` run with `args` as its positional arguments. */
export function scriptArgv(name: ScriptName, ...args: string[]): string[] {
  const s = SCRIPTS.get(name);
  if (!s) throw new Error(`libvirt: no script ${name}`);
  return [s.shell, '-c', s.text, name, ...args];
}
