// Prints each webhook delivery it receives and answers 204 (development only): webhook-receiver.mjs PORT
// Started by scripts/run-local.sh on 127.0.0.1:8091, so a webhook can be tried without a public endpoint.
import { createServer } from 'node:http';

const [port = '8091'] = process.argv.slice(2);
createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    let line = body.slice(0, 200);
    try {
      const { type, data } = JSON.parse(body);
      line = `${type} ${data.kind} ${data.target.region}/${data.target.vm_name ?? '-'} job ${data.id} ${data.state}`;
    } catch {
      // Not a delivery: show what came.
    }
    process.stderr.write(`webhook: ${req.method} ${req.url} ${line} (webhook-id ${req.headers['webhook-id'] ?? '-'})\n`);
    res.writeHead(204).end();
  });
}).listen(Number(port), '127.0.0.1');
