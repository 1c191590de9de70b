/**
 * The image's HEALTHCHECK: healthy when every process of this container's ROLE answers its /health
 * (the API on PORT, default 8080; the worker on WORKER_PORT, default 8081).
 */
const role = process.env.ROLE || 'all';
const urls = [];
if (role !== 'worker') urls.push(`http://127.0.0.1:${process.env.PORT || 8080}/health`);
if (role !== 'api') urls.push(`http://127.0.0.1:${process.env.WORKER_PORT || 8081}/health`);

const answers = await Promise.all(
  urls.map(async (url) => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
      return { url, ok: res.ok, status: res.status };
    } catch (e) {
      return { url, ok: false, status: e instanceof Error ? e.message : String(e) };
    }
  }),
);
for (const a of answers) if (!a.ok) process.stderr.write(`unhealthy: ${a.url}: ${a.status}\n`);
process.exit(answers.every((a) => a.ok) ? 0 : 1);
