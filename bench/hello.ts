/** The comparison for row 3: a bare Hono hello-world on @hono/node-server. Usage: hello.ts PORT */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.get('/', (c) => c.text('Hello World'));
serve({ fetch: app.fetch, port: Number(process.argv[2]), hostname: '127.0.0.1' });
