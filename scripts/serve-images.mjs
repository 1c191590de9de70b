// A tiny static file server for VM images on 127.0.0.1 (development only): serve-images.mjs DIR PORT
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename, join } from 'node:path';

const [dir = '.', port = '8090'] = process.argv.slice(2);
createServer((req, res) => {
  const file = join(dir, basename(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
  try {
    res.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  } catch {
    res.writeHead(404).end();
  }
}).listen(Number(port), '127.0.0.1');
