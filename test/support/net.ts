/** Small network helpers shared by the test support modules. */
import { connect } from 'node:net';

/** Resolves once something accepts TCP connections on 127.0.0.1:port; `alive` false stops the wait early. */
export async function waitPort(port: number, ms = 10_000, alive: () => boolean = () => true): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end || !alive()) throw new Error(`port ${port} did not open within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Parses a Server-Sent Events body into its events (`event:`, `id:` and the JSON of `data:`). */
export function parseSse<T = Record<string, unknown>>(text: string): Array<{ event: string; id: string; data: T }> {
  return text
    .split('\n\n')
    .filter((b) => b.includes('data:'))
    .map((b) => ({
      event: /^event: (.*)$/m.exec(b)?.[1] ?? 'message',
      id: /^id: (.*)$/m.exec(b)?.[1] ?? '',
      data: JSON.parse(
        b
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('\n'),
      ) as T,
    }));
}
