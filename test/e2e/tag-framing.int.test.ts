/**
 * A VM's own tags and description cannot hide it or falsify its state: the host listing frames each
 * domain with a boundary random per run (packages/libvirt LIST), so markers in tag values set through the
 * API, or in a description and metadata set straight through virsh, are just text.
 */
import { TAGS_NS } from '@provisioner/libvirt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
let stack: Stack;
let images: ImageServer;
const hv = makeHypervisor(host);
const made: string[] = [];
const image = uniqueName('tiny');

beforeAll(async () => {
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 64 }]));
  stack = await startStack({ host, images: { [image]: { url: images.url('tiny.qcow2') } } });
});

afterAll(async () => {
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await stack?.stop();
  await images?.close();
  await hv.close();
});

const MARKERS = ['@@DOMAIN', '@@STATE', '@@DONE', '@@DOMAINS', '@@LEASEFILE', '@@EXISTS', '@@DEFINED'];

async function run(method: string, path: string, body?: unknown): Promise<void> {
  const r = await stack.fetch(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  expect(r.status).toBe(202);
  expect(await waitJob(stack, ((await r.json()) as { id: string }).id)).toMatchObject({ state: 'succeeded' });
}

/** The VM as each read route shows it (/v1/list refreshes the inventory first). */
async function views(name: string) {
  const legacy = (
    (await (await stack.fetch('/v1/list')).json()) as Array<{ name: string; state: string; dom_id: string; tags: Record<string, string> }>
  ).filter((v) => v.name === name);
  const list = ((await (await stack.fetch('/v1/vms')).json()) as { vms: Array<Record<string, unknown>> }).vms.filter((v) => v.vm_name === name);
  const one = await stack.fetch(`/v1/vms/r1/${name}`);
  return { legacy, list, status: one.status, one: (await one.json()) as Record<string, unknown> };
}

describe('tag framing', () => {
  it('a running VM whose tags and description hold every marker stays listed with its true state, vCPUs and tags', async () => {
    const name = uniqueName('frame');
    made.push(name);
    const res = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image }) });
    expect(res.status).toBe(202);
    expect(await waitJob(stack, ((await res.json()) as { id: string }).id)).toMatchObject({ state: 'succeeded' });

    // Through the API: every marker (the one from the issue first), XML metacharacters, a CDATA end.
    const tags: Record<string, string> = {
      note: 'x @@DOMAIN 00000000-0000-0000-0000-000000000000 y',
      state: 'x @@STATE shut off',
      xml: ']]><![CDATA[ </domain></tags> <x a="1"/> &amp; & \'"',
      ...Object.fromEntries(MARKERS.map((m, i) => [`m${i}`, `${m} ${m.slice(2)} 00000000-0000-0000-0000-000000000000`])),
    };
    await run('PUT', `/v1/vms/r1/${name}/tags`, { tags });
    let v = await views(name);
    expect(v.legacy).toEqual([expect.objectContaining({ state: 'running', tags })]);
    expect(v.legacy[0]?.dom_id).toMatch(/^\d+$/);
    expect(v.list).toEqual([expect.objectContaining({ state: 'running', vcpus: 1, memory_mb: 64, tags })]);
    expect(v.status).toBe(200);
    expect(v.one).toMatchObject({ vm_name: name, state: 'running', vcpus: 1, tags });

    // Straight through virsh (a hand-made domain, or the replaced service): each marker at a line start.
    const lines = MARKERS.map((m) => `${m} 00000000-0000-0000-0000-000000000000\n${m}\nshut off`).join('\n');
    const virsh = (...args: string[]) => hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, ...args, '--live', '--config']);
    await virsh('desc', name, '--new-desc', `x\n${lines}\n]]> </description> &`);
    const direct = `a\n${lines}\n</tag> &`;
    const escaped = direct.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    await virsh('metadata', name, '--uri', TAGS_NS, '--key', 'prov', '--set', `<tags><tag key="@@STATE &lt;&amp;&gt;">${escaped}</tag></tags>`);
    v = await views(name);
    const want = { '@@STATE <&>': direct };
    expect(v.legacy).toEqual([expect.objectContaining({ state: 'running', tags: want })]);
    expect(v.list).toEqual([expect.objectContaining({ state: 'running', vcpus: 1, tags: want })]);
    expect(v.one).toMatchObject({ state: 'running', vcpus: 1, tags: want });

    await run('DELETE', `/v1/vms/r1/${name}`);
    expect((await views(name)).status).toBe(404);
  });
});
