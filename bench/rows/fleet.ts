/**
 * Rows 10–12: cost as the fleet grows. Several hosts (regions f1…f5, one host each, all the loopback host:
 * one sshd, one libvirtd) with defined, not running, domains: each host lists every domain of the
 * libvirtd, so `HOSTS × defined` VMs are in the inventory. At 200, 1 000 and 5 000 VMs: the inventory
 * refresh of all hosts (`GET /v1/vms?refresh=true`, each host one `refresh` job in parallel), one host's
 * listing (one SSH exec), and `GET /v1/vms` as clients page it: 10 clients at once, each walking the
 * cursor in pages of 100 from the first page to the last, again and again. Then a create's latency with
 * 500 domains on its host against the host with none of the row's (row 1's create, 64 MiB image cached).
 * The domains are defined in one SSH exec (one `virsh` reading `define` commands on its stdin) and
 * undefined the same way at the end. Charts: bench/charts/fleet-*.svg.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDomainXml } from '@provisioner/libvirt';
import { makeHypervisor, startImageServer, uniqueName } from '../../test/support/host.ts';
import { hostConfig, type Stack, startStack } from '../../test/support/stack.ts';
import { cacheListing, createVm, type Figure, fmt, makeBigImage, median, quantile, type Row, removeNewCacheEntries, span, timed } from '../lib.ts';
import { barChart, lineChart } from '../svg.ts';

const HOSTS = 5;
const CLIENTS = 10;
const PAGE = 100;

type Hv = ReturnType<typeof makeHypervisor>;

/** Defines domains `${prefix}-${from}` … `${prefix}-${to - 1}` (shut off, no disk made) in one SSH exec. */
export async function defineMany(hv: Hv, disksDir: string, prefix: string, from: number, to: number): Promise<void> {
  if (to <= from) return;
  const xml = buildDomainXml({
    name: 'zzfleetnamezz',
    instanceId: 'fleet-zzfleetnamezz',
    vcpus: 1,
    memoryMiB: 64,
    diskPath: `${disksDir}/zzfleetnamezz.qcow2`,
    seedPath: null,
    network: { type: 'none' },
    domainType: 'qemu',
    tags: { owner: 'fleet' },
  });
  const script = [
    'set -e',
    'd=$(mktemp -d)',
    'cat > "$d/t.xml"',
    'i=$2',
    'while [ "$i" -lt "$3" ]; do sed "s/zzfleetnamezz/$1-$i/g" "$d/t.xml" > "$d/$i.xml"; echo "define $d/$i.xml"; i=$((i+1)); done > "$d/cmds"',
    'virsh -q -c "$4" < "$d/cmds" > /dev/null',
    'rm -rf "$d"',
  ].join('\n');
  await hv.ssh.run(['sh', '-c', script, 'sh', prefix, String(from), String(to), hv.uri], { stdin: xml, timeoutMs: 1_800_000 });
}

/** Undefines domains `${prefix}-0` … `${prefix}-${to - 1}` in one SSH exec (missing ones are skipped). */
export async function undefineMany(hv: Hv, prefix: string, to: number): Promise<void> {
  const script = ['i=0', 'while [ "$i" -lt "$2" ]; do echo "undefine $1-$i"; i=$((i+1)); done | virsh -q -c "$3" > /dev/null 2>&1', 'true'].join('\n');
  await hv.ssh.run(['sh', '-c', script, 'sh', prefix, String(to), hv.uri], { timeoutMs: 1_800_000 });
}

/** One GET of `path` over a keep-alive `agent`: status and body. */
function get(agent: Agent, base: string, path: string, token: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A page's `next_cursor`, found from the end (it follows the VMs; the hosts after it hold no such text here). */
function nextCursor(text: string): string | null {
  const at = text.lastIndexOf('"next_cursor":');
  const m = /^"next_cursor":(?:null|"([^"]*)")/.exec(text.slice(at, at + 500));
  if (at < 0 || !m) throw new Error(`GET /v1/vms: no next_cursor in ${text.slice(0, 200)}`);
  return m[1] ?? null;
}

/**
 * `CLIENTS` clients at once, each walking every page of GET /v1/vms by cursor, for `seconds`: per-request
 * latencies. `client`: `http` is node:http with keep-alive connections, taking the cursor from the page's end
 * (the client's own work small beside the API's, as a load generator's); `fetch` is the global fetch and a
 * JSON.parse of every page, as a script would do, whose own parsing shares these two cores with the API.
 */
export async function walkPages(
  stack: Stack,
  seconds: number,
  client: 'http' | 'fetch' = 'http',
): Promise<{ latencies: number[]; walks: number; pages: number }> {
  const end = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  let walks = 0;
  let pages = 0;
  const page = async (path: string): Promise<{ status: number; text: string; next: () => string | null }> => {
    if (client === 'http') {
      const r = await get(agent, stack.url, path, stack.tokens.read);
      return { ...r, next: () => nextCursor(r.text) };
    }
    const r = await stack.fetch(path, { token: stack.tokens.read });
    const text = await r.text();
    return { status: r.status, text, next: () => (JSON.parse(text) as { next_cursor: string | null }).next_cursor };
  };
  try {
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (performance.now() < end) {
          let cursor: string | null = null;
          do {
            const t0 = performance.now();
            const r = await page(`/v1/vms?limit=${PAGE}${cursor ? `&cursor=${cursor}` : ''}`);
            latencies.push(performance.now() - t0);
            if (r.status !== 200) throw new Error(`GET /v1/vms: ${r.status} ${r.text.slice(0, 200)}`);
            cursor = r.next();
            pages++;
          } while (cursor && performance.now() < end);
          if (!cursor) walks++;
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return { latencies, walks, pages };
}

export const row: Row = {
  row: 10,
  title: 'cost as the fleet grows: inventory refresh, GET /v1/vms paged, a create beside 500 domains',
  async run(ctx) {
    const sizes = ctx.quick ? [200, 1000] : [200, 1000, 5000];
    const seconds = ctx.quick ? 3 : 8;
    const refreshes = ctx.quick ? 2 : 3;
    const creates = ctx.quick ? 3 : 8;
    const loaded = 500;
    const hv = makeHypervisor(ctx.host);
    const prefix = uniqueName('fl');
    const figures: Figure[] = [];
    const targets: Array<{ target: string; measured: string; met: boolean }> = [];
    const notes: string[] = [];
    let defined = 0;
    const defineTo = async (n: number) => {
      const [ms] = await timed(() => defineMany(hv, ctx.host.disks_dir, prefix, defined, n));
      ctx.log(`fleet: defined ${n - defined} domains in ${fmt(ms)} (one exec)`);
      defined = Math.max(defined, n);
    };
    const baseline = (await hv.listDomains()).length;
    const fleet: Array<{ vms: number; refresh: number[]; listing: number[]; p50: number; p99: number; pages: number; p99Refreshing: number }> = [];
    const createTimes = new Map<string, number[]>();
    // Per create case, each step's durations: where a difference between the cases comes from.
    const stepTimes = new Map<string, Map<string, number[]>>();
    const dir = mkdtempSync(join(tmpdir(), 'bench-fleet-'));
    makeBigImage(dir, 'img.qcow2', 64);
    const images = await startImageServer(dir);
    const cacheBefore = cacheListing(ctx.host.images_dir);
    const image = `bench-${prefix}`;
    const one = await startStack({ host: ctx.host, images: { [image]: { url: images.url('img.qcow2') } } });
    let oneStopped = false;
    try {
      // A create beside none of the row's domains (row 1's create, region r1, host h1), later beside 500.
      const made: string[] = [];
      const measure = async (label: string) => {
        const times: number[] = [];
        for (let i = 0; i < creates; i++) {
          const name = `${prefix}-c${label}-${i}`;
          made.push(name);
          const e = await createVm(one, { vm_name: name, image, instance_type: 'tiny' });
          if (e.state !== 'succeeded') throw new Error(`create failed: ${e.error?.message}`);
          times.push(span(e.created_at, e.finished_at));
          const byStep = stepTimes.get(label) ?? new Map<string, number[]>();
          stepTimes.set(label, byStep);
          byStep.set('queued → started', [...(byStep.get('queued → started') ?? []), span(e.created_at, e.started_at)]);
          for (const st of e.steps) byStep.set(st.name, [...(byStep.get(st.name) ?? []), span(st.started_at, st.finished_at)]);
        }
        for (const n of made.splice(0)) await hv.undefine(n).catch(() => undefined);
        createTimes.set(label, times);
      };
      ctx.log('fleet: warming the image cache');
      await measure('warm');
      ctx.log(`fleet: ${creates} creates, ${baseline} domains on the host`);
      await measure('empty');

      // Each size: the domains on the libvirtd (others' included) brought to size / HOSTS.
      const steps: Array<number | 'loaded'> = [...sizes.filter((n) => n / HOSTS < loaded), 'loaded', ...sizes.filter((n) => n / HOSTS >= loaded)];
      for (const step of steps) {
        if (step === 'loaded') {
          await defineTo(loaded);
          const r = await one.fetch('/v1/vms?refresh=true&limit=1');
          if (r.status !== 200) throw new Error(`refresh: ${r.status}`);
          ctx.log(`fleet: ${creates} creates beside ${loaded} more domains`);
          await measure('loaded');
          await one.stop();
          oneStopped = true;
          continue;
        }
        const size = step;
        await defineTo(Math.max(defined, Math.ceil(size / HOSTS) - baseline));
        const regions = Array.from({ length: HOSTS }, (_, i) => ({
          region_name: `f${i + 1}`,
          available_instance_types: [{ instance_type: 'tiny', vcpus: 1, memory_mb: 64, storage_mb: 256 }],
          hosts: [hostConfig('h1', ctx.host)],
        }));
        // No scheduled refresh while the row measures: the row refreshes when it means to, and paging is
        // measured both alone and during a refresh of every host (whose virsh, libvirtd and sshd share
        // these two cores with the API here; on a real fleet they are other machines).
        const worker = { port: 0, bind_address: '127.0.0.1', attempts: 3, backoff_ms: 300, stop_timeout_ms: 2000, inventory_refresh_ms: 3_600_000 };
        const stack = await startStack({ host: ctx.host, images: {}, extra: { regions, refresh_wait_ms: 600_000, worker } });
        try {
          const refresh: number[] = [];
          let total = 0;
          for (let k = 0; k < refreshes; k++) {
            const [ms, r] = await timed(() => stack.fetch('/v1/vms?refresh=true&limit=1', { token: stack.tokens.read }));
            const body = (await r.json()) as { total: number; hosts: Array<{ error: string | null }> };
            if (r.status !== 200) throw new Error(`refresh: ${r.status}`);
            const errors = body.hosts.map((h) => h.error).filter(Boolean);
            if (errors.length) throw new Error(`refresh: ${errors.join('; ')}`);
            refresh.push(ms);
            total = body.total;
          }
          const listing: number[] = [];
          for (let k = 0; k < refreshes; k++) listing.push((await timed(() => hv.listDomains()))[0]);
          ctx.log(`fleet: ${total} VMs in the inventory; walking pages`);
          const w = await walkPages(stack, seconds);
          const wf = await walkPages(stack, seconds, 'fetch');
          ctx.log('fleet: walking pages while every host is refreshed');
          const refreshing = stack.fetch('/v1/vms?refresh=true&limit=1', { token: stack.tokens.read }).then((r) => r.text());
          const [dw] = await Promise.all([walkPages(stack, seconds), refreshing]);
          fleet.push({
            vms: total,
            refresh,
            listing,
            p50: quantile(w.latencies, 0.5),
            p99: quantile(w.latencies, 0.99),
            pages: w.pages,
            p99Refreshing: quantile(dw.latencies, 0.99),
          });
          figures.push(
            { what: `${total} VMs (${HOSTS} hosts × ${total / HOSTS}): inventory refresh of all hosts (GET ?refresh=true)`, samples: refresh, unit: 'ms' },
            { what: `${total} VMs: one host's listing (${total / HOSTS} domains, one SSH exec)`, samples: listing, unit: 'ms' },
            { what: `${total} VMs: GET /v1/vms, ${CLIENTS} clients walking pages of ${PAGE}: p50`, value: quantile(w.latencies, 0.5), unit: 'ms' },
            { what: `${total} VMs: GET /v1/vms p99 (${w.pages} pages, ${w.walks} whole walks)`, value: quantile(w.latencies, 0.99), unit: 'ms' },
            {
              what: `${total} VMs: GET /v1/vms p50 with fetch and a JSON.parse of every page in the client (${wf.pages} pages)`,
              value: quantile(wf.latencies, 0.5),
              unit: 'ms',
            },
            { what: `${total} VMs: the same client's p99`, value: quantile(wf.latencies, 0.99), unit: 'ms' },
            { what: `${total} VMs: GET /v1/vms p99 while every host is refreshed (${dw.pages} pages)`, value: quantile(dw.latencies, 0.99), unit: 'ms' },
          );
        } finally {
          await stack.stop();
        }
      }
    } finally {
      if (!oneStopped) await one.stop();
      ctx.log('fleet: undefining');
      await undefineMany(hv, prefix, defined).catch((e) => ctx.log(`undefine: ${(e as Error).message}`));
      await images.close();
      removeNewCacheEntries(ctx.host.images_dir, cacheBefore);
      await hv.close();
    }

    const empty = createTimes.get('empty') ?? [];
    const full = createTimes.get('loaded') ?? [];
    figures.push(
      { what: `create → running, ${baseline} other domains on the host`, samples: empty, unit: 'ms' },
      { what: `create → running, ${baseline + loaded} domains on the host`, samples: full, unit: 'ms' },
    );
    const last = fleet.at(-1);
    if (last)
      targets.push({
        target: `GET /v1/vms p99 ≤ 20 ms at ${last.vms} VMs (pages of ${PAGE}, ${CLIENTS} clients)`,
        measured: fmt(last.p99),
        met: last.p99 <= 20,
      });
    const over = median(full) / median(empty) - 1;
    targets.push({
      target: `create latency with ${loaded} domains on its host ≤ 10% over the empty host`,
      measured: `${over >= 0 ? '+' : ''}${(over * 100).toFixed(0)}% (p50 ${fmt(median(full))} vs ${fmt(median(empty))})`,
      met: over <= 0.1,
    });
    const emptySteps = stepTimes.get('empty');
    const loadedSteps = stepTimes.get('loaded');
    if (emptySteps && loadedSteps)
      notes.push(
        `Step medians of the creates, empty host → beside ${loaded} domains: ${[...emptySteps.keys()]
          .map((k) => `${k} ${fmt(median(emptySteps.get(k) ?? []))} → ${fmt(median(loadedSteps.get(k) ?? []))}`)
          .join('; ')}.`,
      );
    notes.push(
      `The hosts are ${HOSTS} regions of one host each, all the loopback host: each lists every domain of the one libvirtd, so ${HOSTS} × the domains defined are in the inventory, and the ${HOSTS} refreshes run at once against one sshd and one libvirtd.`,
    );

    // Charts beside BENCHMARKS.md.
    mkdirSync('bench/charts', { recursive: true });
    writeFileSync(
      'bench/charts/fleet-refresh.svg',
      lineChart({
        title: 'Inventory refresh as the fleet grows',
        xLabel: `VMs in the inventory (${HOSTS} hosts)`,
        yLabel: 'ms (median)',
        logX: true,
        series: [
          { name: 'refresh, all hosts', points: fleet.map((f) => [f.vms, median(f.refresh)]) },
          { name: 'one host listing', points: fleet.map((f) => [f.vms, median(f.listing)]) },
        ],
      }),
    );
    writeFileSync(
      'bench/charts/fleet-list.svg',
      lineChart({
        title: `GET /v1/vms, ${CLIENTS} clients paging by ${PAGE}`,
        xLabel: `VMs in the inventory (${HOSTS} hosts)`,
        yLabel: 'latency, ms',
        logX: true,
        target: { y: 20, label: 'target p99 20 ms' },
        series: [
          { name: 'p50', points: fleet.map((f) => [f.vms, f.p50]) },
          { name: 'p99', points: fleet.map((f) => [f.vms, f.p99]) },
          { name: 'p99 during a refresh', points: fleet.map((f) => [f.vms, f.p99Refreshing]) },
        ],
      }),
    );
    writeFileSync(
      'bench/charts/fleet-create.svg',
      barChart({
        title: 'Create → running (p50), 64 MiB image cached',
        yLabel: 'ms',
        bars: [
          { label: `${baseline} domains on the host`, value: median(empty) },
          { label: `${baseline + loaded} domains`, value: median(full) },
        ],
        target: { y: median(empty) * 1.1, label: '+10%' },
      }),
    );
    return { row: 10, title: this.title, figures, targets, notes };
  },
};
